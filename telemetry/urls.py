"""Telemetry role URLs (DESIGN.md): paths without a trailing slash."""

from django.urls import path, register_converter

from telemetry import apis


class SeriesConverter:
    """A series name in a path segment, as the server decoded it (``%20`` -> space).

    Any segment matches, so that a malformed name answers the API's 400 naming the rule
    (``selectors.topic_is_valid``) rather than a bare 404; a ``%2F`` decoded to '/' splits
    the segment and never reaches a series. The OpenAPI schema states the real pattern
    (``telemetry.records.SERIES_PATTERN_ECMA``).
    """

    regex = "[^/]+"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value  # reverse() percent-encodes it


register_converter(SeriesConverter, "series")

urlpatterns = [
    path("iot", apis.TopicListApi.as_view(), name="iot-topics"),
    path("iot/<series:topic>", apis.TopicApi.as_view(), name="iot-topic"),
    path("iot/<series:topic>/latest", apis.TopicLatestApi.as_view(), name="iot-latest"),
    path("iot/<series:topic>/readings", apis.ReadingListApi.as_view(), name="iot-readings"),
    path(
        "iot/<series:topic>/<str:start>/<str:end>",
        apis.TopicRangeApi.as_view(),
        name="iot-range",
    ),
    path("devices", apis.DeviceListCreateApi.as_view(), name="devices"),
    path("devices/<str:name>", apis.DeviceDetailApi.as_view(), name="device"),
    path("devices/<str:name>/password", apis.DevicePasswordApi.as_view(), name="device-password"),
]
