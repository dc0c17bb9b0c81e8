"""URLs per role: ``IOTSERVER_ROLE`` selects which apps this process serves."""

from django.conf import settings
from django.contrib import admin
from django.http import JsonResponse
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


def login_elsewhere(request, *args, **kwargs):
    """The telemetry role's /api-auth/ pages: the gateway sends that path to the auth role."""
    return JsonResponse(
        {"detail": "Log in through the gateway: the auth service serves /api-auth/login/."},
        status=404,
    )


if settings.SERVES_AUTH:
    from accounts.urls import browsable_api_login
    from accounts.views import admin_login

    urlpatterns += [
        path("admin/login/", admin_login, name="admin-login"),
        path("admin/", admin.site.urls),
        path("api-auth/", include(browsable_api_login)),
        path("", include("accounts.urls")),
    ]
else:
    # Only so that the browsable pages show DRF's "Log in" / "Log out" links (they need
    # these names); through the gateway those links reach the auth role.
    urlpatterns += [
        path(
            "api-auth/",
            include(
                (
                    [
                        path("login/", login_elsewhere, name="login"),
                        path("logout/", login_elsewhere, name="logout"),
                    ],
                    "rest_framework",
                )
            ),
        )
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
