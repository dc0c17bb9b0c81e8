"""URLs per role: ``IOTSERVER_ROLE`` selects which apps this process serves."""

from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django_prometheus.exports import ExportToDjangoView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from iotserver import health, status

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", ExportToDjangoView, name="metrics"),
    path("api/schema", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
]

if settings.SERVES_AUTH:
    urlpatterns += [
        path("admin/", admin.site.urls),
        path("", include("accounts.urls")),
    ]

if settings.SERVES_TELEMETRY:
    urlpatterns += [path("", include("telemetry.urls"))]

if settings.IOTSERVER_ROLE == "all":
    urlpatterns += [
        path("system/status", status.SystemStatusApi.as_view(), name="system-status"),
        path("", include("dashboard.urls")),
    ]

handler400 = "iotserver.errors.bad_request"
handler403 = "iotserver.errors.permission_denied"
handler404 = "iotserver.errors.not_found"
handler500 = "iotserver.errors.server_error"
