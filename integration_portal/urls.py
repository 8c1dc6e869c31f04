from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from notifications.api.site import visitor_link

# admin.site is integration_portal.admin_site.PortalAdminSite (its titles, its first page).

# Under /api/ every answer is JSON, Django's own error answers too (integration_portal.errors).
handler400 = "integration_portal.errors.bad_request"
handler403 = "integration_portal.errors.permission_denied"
handler404 = "integration_portal.errors.page_not_found"
handler500 = "integration_portal.errors.server_error"

urlpatterns = [
    path("api/uis/", include("notifications.api.urls")),
    path("api/site/visitors/", visitor_link, name="site-visitors"),
    # Without the slash too: CommonMiddleware would answer a redirect (no JSON) that a POST cannot follow.
    path("api/site/visitors", visitor_link),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("admin/", admin.site.urls),
]
