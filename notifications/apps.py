from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = _("UIS events and deliveries")

    def ready(self) -> None:
        from notifications import checks  # noqa: F401 - registers the checks
