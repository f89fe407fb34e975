"""URL routes: pages, the REST API under /api/, the admin."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

# Django's refusals of a request (too many fields or files, a bad Host, ...) answer JSON on every path;
# every other error answer on /api/ is made JSON by realtime.middleware.JSONErrorMiddleware.
handler400 = "realtime.rest.bad_request"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("api/", include("accounts.api_urls")),
    path("api/", include("messaging.api_urls")),
    path("api/", include("presence.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("", include("messaging.urls")),
]
