from django.apps import AppConfig


class PrintshopsConfig(AppConfig):
    name = "printshops"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from printshops import records  # noqa: F401 - registers the anchored record kinds
