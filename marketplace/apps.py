from django.apps import AppConfig


class MarketplaceConfig(AppConfig):
    name = "marketplace"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Ciphertext of uploads in progress lands here, next to the storage it is moved into.
        # Made at start for Django's check (files.E001), and again by each upload if it went.
        from config.uploads import upload_temp_dir

        upload_temp_dir()
        import marketplace.handlers  # noqa: F401 - registers the chain event handlers
        from ledger.signers import signer_lookup
        from marketplace import records  # noqa: F401 - registers the anchored record kinds
        from marketplace.services.wallets import customer_wallet_signer

        signer_lookup(customer_wallet_signer)
