from pathlib import Path

from django.apps import AppConfig
from django.conf import settings


class MarketplaceConfig(AppConfig):
    name = "marketplace"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Ciphertext of uploads in progress lands here, next to the storage it is moved into.
        Path(settings.FILE_UPLOAD_TEMP_DIR).mkdir(parents=True, exist_ok=True)
        import marketplace.handlers  # noqa: F401 - registers the chain event handlers
        from ledger.signers import signer_lookup
        from marketplace import records  # noqa: F401 - registers the anchored record kinds
        from marketplace.services.wallets import customer_wallet_signer

        signer_lookup(customer_wallet_signer)
