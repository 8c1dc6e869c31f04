from django.apps import AppConfig
from django.contrib.admin.apps import AdminConfig


class PortalConfig(AppConfig):
    """The project package as an app, for its system checks."""

    name = "integration_portal"

    def ready(self) -> None:
        from integration_portal import checks  # noqa: F401 - registers the checks


class PortalAdminConfig(AdminConfig):
    """django.contrib.admin, with the portal's site: its first page is «Требует внимания»."""

    default_site = "integration_portal.admin_site.PortalAdminSite"
