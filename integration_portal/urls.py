from django.contrib import admin
from django.urls import include, path
from django.utils.translation import gettext_lazy as _

admin.site.site_header = _("UIS → Mindbox portal")
admin.site.site_title = _("UIS → Mindbox portal")
admin.site.index_title = _("Integrations")

urlpatterns = [
    path("api/uis/", include("notifications.api.urls")),
    path("admin/", admin.site.urls),
]
