"""Telemetry role URLs (DESIGN.md): paths without a trailing slash."""

from django.urls import path

from telemetry import apis

urlpatterns = [
    path("iot", apis.TopicListApi.as_view(), name="iot-topics"),
    path("iot/<str:topic>", apis.TopicApi.as_view(), name="iot-topic"),
    path("iot/<str:topic>/latest", apis.TopicLatestApi.as_view(), name="iot-latest"),
    path("iot/<str:topic>/readings", apis.ReadingListApi.as_view(), name="iot-readings"),
    path("iot/<str:topic>/<str:start>/<str:end>", apis.TopicRangeApi.as_view(), name="iot-range"),
    path("devices", apis.DeviceListCreateApi.as_view(), name="devices"),
    path("devices/<str:name>", apis.DeviceDetailApi.as_view(), name="device"),
    path("devices/<str:name>/password", apis.DevicePasswordApi.as_view(), name="device-password"),
]
