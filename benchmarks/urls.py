"""iotserver's URLs plus ``/bench/constant``: the baseline of the telemetry HTTP benchmark.

The constant view uses the very authentication, permission and renderer classes of the
telemetry API views, so the difference between the two is the work of ``/iot/<topic>/latest``
itself (topic check, ownership, latest value), not the framework around it.
"""

from django.urls import path
from rest_framework.response import Response

from iotserver.urls import handler400, handler403, handler404, handler500
from iotserver.urls import urlpatterns as iotserver_urlpatterns
from telemetry.apis import TelemetryApi

CONSTANT_BODY = {
    "topic": "bench.constant",
    "data": [{"date": "2026-01-01T00:00:00+00:00", "value": 21.5}],
}


class ConstantApi(TelemetryApi):
    """Answers the same JSON every time, after the same JWT authentication and permission."""

    def get(self, request):
        return Response(CONSTANT_BODY)


urlpatterns = [
    path("bench/constant", ConstantApi.as_view(), name="bench-constant"),
    *iotserver_urlpatterns,
]

__all__ = ["handler400", "handler403", "handler404", "handler500", "urlpatterns"]
