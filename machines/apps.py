from django.apps import AppConfig


class MachinesConfig(AppConfig):
    """Machines as participants (DESIGN.md section 8): a shop's printers, each with its own key,
    and the events they sign."""

    name = "machines"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from machines import records  # noqa: F401 - registers the anchored record kind
