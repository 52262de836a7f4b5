from django.apps import AppConfig


class PrintshopsConfig(AppConfig):
    name = "printshops"
    default_auto_field = "django.db.models.BigAutoField"
