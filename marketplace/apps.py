from django.apps import AppConfig


class MarketplaceConfig(AppConfig):
    name = "marketplace"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        import marketplace.handlers  # noqa: F401 - registers the chain event handlers
        from ledger.signers import signer_lookup
        from marketplace import records  # noqa: F401 - registers the anchored record kinds
        from marketplace.services.wallets import customer_wallet_signer

        signer_lookup(customer_wallet_signer)
