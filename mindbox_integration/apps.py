from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MindboxIntegrationConfig(AppConfig):
    name = "mindbox_integration"
    verbose_name = _("Mindbox integration")

    def ready(self) -> None:
        from mindbox_integration import (
            checks,  # noqa: F401 - registers the checks
            versions,
        )

        versions.connect()
