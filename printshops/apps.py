from django.apps import AppConfig


class PrintshopsConfig(AppConfig):
    name = "printshops"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from printshops import (  # noqa: F401 - each registers what it defines
            handlers,  # chain event handlers
            receivers,  # marketplace.signals receivers
            records,  # anchored record kinds
        )
