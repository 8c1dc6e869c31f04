from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("api/uis/", include("notifications.api.urls")),
    path("admin/", admin.site.urls),
]
