from django.apps import AppConfig


class PortalConfig(AppConfig):
    """The project package as an app, for its system checks."""

    name = "integration_portal"

    def ready(self) -> None:
        from integration_portal import checks  # noqa: F401 - registers the checks
