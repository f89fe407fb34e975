"""URL routes: pages, the REST API under /api/, the admin."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("api/", include("accounts.api_urls")),
    path("api/", include("messaging.api_urls")),
    path("api/", include("presence.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("", include("messaging.urls")),
]
