"""Telemetry HTTP API (DESIGN.md, telemetry role): topics, readings and devices.

Identity comes from the JWT claims alone (``user_id``, ``is_staff``). A topic or device the
caller may not read answers 404 exactly like one that does not exist.
"""

from __future__ import annotations

import csv
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import StreamingHttpResponse
from django.utils.http import content_disposition_header
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
)
from rest_framework import exceptions, status
from rest_framework.renderers import BaseRenderer, BrowsableAPIRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from telemetry import selectors, services
from telemetry.layouts import device_topics
from telemetry.models import DEVICE_NAME_PATTERN
from telemetry.records import SERIES_PATTERN_ECMA, TOPIC_MAX_LENGTH
from telemetry.serializers import (
    INSTANT_SYNTAX,
    AggregatePageSerializer,
    DeviceCreatedSerializer,
    DeviceCreateSerializer,
    DeviceSerializer,
    DeviceUpdateSerializer,
    MqttCredentialsSerializer,
    ReadingsPageSerializer,
    ReadingsQuerySerializer,
    TopicListSerializer,
    TopicReadingsSerializer,
    encode_cursor,
    legacy_range,
    pattern,
)
from telemetry.storage import Point, StorageError

logger = logging.getLogger(__name__)

DEFAULT_PAGE_SIZE = 100
CSV_PAGE = 5000
NOT_FOUND = "Topic not found."
MALFORMED = (
    "Malformed topic: use the device name, then levels joined by '.', each of printable "
    f"characters but '/' and '.', at most {TOPIC_MAX_LENGTH} in all (e.g. raspberrypi.temp, "
    "'bridge1.living room.temperature'); URL-encode it in the path."
)
TOPIC_PARAMETER = OpenApiParameter(
    "topic",
    str,
    OpenApiParameter.PATH,
    pattern=SERIES_PATTERN_ECMA,
    description="A series name: the device name, then levels joined by '.' (any printable "
    "characters but '/'), URL-encoded, e.g. `raspberrypi.temp` or "
    "`bridge1.living%20room.temperature`.",
)
DEVICE_PARAMETER = OpenApiParameter(
    "name",
    str,
    OpenApiParameter.PATH,
    pattern=f"^{DEVICE_NAME_PATTERN}$",
    description="The device name (any other name answers 404).",
)


def _instant_parameter(name: str, description: str) -> OpenApiParameter:
    return OpenApiParameter(
        name, str, OpenApiParameter.PATH, pattern=pattern(INSTANT_SYNTAX), description=description
    )


RANGE_PARAMETERS = [
    _instant_parameter("start", "YYYY-MM-DD (from midnight UTC) or an ISO 8601 datetime."),
    _instant_parameter("end", "YYYY-MM-DD (the whole day included) or an ISO 8601 datetime."),
]
STORAGE_UNAVAILABLE = OpenApiResponse(description="Telemetry storage unavailable")
TOPIC_ERRORS = {
    400: OpenApiResponse(description="Malformed topic or query parameter"),
    401: OpenApiResponse(description="No valid access token"),
    404: OpenApiResponse(description="No such topic, or not the caller's"),
    503: STORAGE_UNAVAILABLE,
}


class ServiceUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "Telemetry storage is unavailable; retry later."
    default_code = "storage_unavailable"


class RowLimitExceeded(Exception):
    """Answered 400 naming the limit, so a client knows how far to narrow the range."""

    def __init__(self, *, what: str, limit: int, setting: str) -> None:
        super().__init__(what)
        self.limit = limit
        self.detail = (
            f"The range holds more than {limit} readings, the limit for {what} ({setting}); "
            "narrow start/end."
        )


class BucketLimitExceeded(RowLimitExceeded):
    """Answered 400 naming the bucket limit and the smallest bucket that fits the range."""

    def __init__(self, *, limit: int, wanted: int, smallest: str | None) -> None:
        Exception.__init__(self, "buckets")
        self.limit = limit
        self.smallest = smallest
        fix = f"use bucket={smallest} or larger" if smallest else "narrow start/end"
        self.detail = (
            f"The range makes {wanted} buckets, more than the limit of {limit} "
            f"(TELEMETRY_AGG_MAX_BUCKETS); {fix}."
        )


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat()


def _point(point: Point) -> dict:
    return {"date": _iso(point.ts), "value": point.shown}


def _user(request) -> tuple[int, bool]:
    user = request.user
    try:
        return int(user.id), bool(user.is_staff)
    except (TypeError, ValueError):
        raise exceptions.AuthenticationFailed("Token has no valid user_id claim.") from None


class TelemetryApi(APIView):
    def handle_exception(self, exc):
        if isinstance(exc, BucketLimitExceeded):
            return Response(
                {"detail": exc.detail, "limit": exc.limit, "smallest_bucket": exc.smallest},
                status=status.HTTP_400_BAD_REQUEST,
            )
        if isinstance(exc, RowLimitExceeded):
            return Response(
                {"detail": exc.detail, "limit": exc.limit}, status=status.HTTP_400_BAD_REQUEST
            )
        if isinstance(exc, StorageError):
            logger.warning("telemetry storage unavailable: %s", exc)
            exc = ServiceUnavailable()
        if isinstance(exc, DjangoValidationError):  # a service's own check of its input
            exc = exceptions.ValidationError(
                exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
            )
        return super().handle_exception(exc)

    def readable_topic(self, request, topic: str) -> selectors.TopicHead:
        """The topic's latest reading and unit, or 404 when it is missing or not the
        caller's (400 when the name is malformed)."""
        if not selectors.topic_is_valid(topic=topic):
            raise exceptions.ValidationError({"detail": MALFORMED})
        user_id, is_staff = _user(request)
        head = selectors.topic_head_for_user(topic=topic, user_id=user_id, is_staff=is_staff)
        if head is None:
            raise exceptions.NotFound(NOT_FOUND)
        return head


class TopicListApi(TelemetryApi):
    @extend_schema(
        operation_id="iot_topics_list",
        summary="Topics the caller may read, with their newest reading",
        responses={200: TopicListSerializer, 503: STORAGE_UNAVAILABLE},
    )
    def get(self, request):
        user_id, is_staff = _user(request)
        topics = selectors.topic_list_for_user(user_id=user_id, is_staff=is_staff)
        data = [
            {
                "topic": t.name,
                "last_date": _iso(t.last_ts),
                "last_value": t.last_value if t.last_value is not None else t.last_text,
                "unit": t.unit,
            }
            for t in topics
        ]
        return Response({"data": data})


class TopicLatestApi(TelemetryApi):
    @extend_schema(
        operation_id="iot_topic_latest",
        summary="The newest reading of a topic",
        parameters=[TOPIC_PARAMETER],
        responses={200: TopicReadingsSerializer, **TOPIC_ERRORS},
    )
    def get(self, request, topic: str):
        head = self.readable_topic(request, topic)
        return Response({"topic": topic, "unit": head.unit, "data": [_point(head.point)]})


class TopicApi(TopicLatestApi):
    """``/iot/<topic>``: the original path for the newest reading."""

    @extend_schema(
        operation_id="iot_topic_retrieve",
        summary="The newest reading of a topic (same as /latest)",
        parameters=[TOPIC_PARAMETER],
        responses={200: TopicReadingsSerializer, **TOPIC_ERRORS},
    )
    def get(self, request, topic: str):
        return super().get(request, topic)


class TopicRangeApi(TelemetryApi):
    @extend_schema(
        operation_id="iot_topic_range",
        summary="Readings between two dates, newest first",
        description="`start` and `end` are YYYY-MM-DD (the end day is included) or ISO 8601 "
        "datetimes (both ends included). At most TELEMETRY_RANGE_MAX_ROWS readings; for more "
        "use `/iot/<topic>/readings`.",
        parameters=[TOPIC_PARAMETER, *RANGE_PARAMETERS],
        responses={200: TopicReadingsSerializer, **TOPIC_ERRORS},
    )
    def get(self, request, topic: str, start: str, end: str):
        start_at, end_before = legacy_range(start, end)
        head = self.readable_topic(request, topic)
        limit = settings.TELEMETRY_RANGE_MAX_ROWS
        points = selectors.reading_range(
            topic=topic, start=start_at, end=end_before, descending=True, limit=limit + 1
        )
        if len(points) > limit:
            raise RowLimitExceeded(
                what="this endpoint (use /readings to page)",
                limit=limit,
                setting="TELEMETRY_RANGE_MAX_ROWS",
            )
        return Response({"topic": topic, "unit": head.unit, "data": [_point(p) for p in points]})


class CSVRenderer(BaseRenderer):
    """Lets ``?format=csv`` and ``Accept: text/csv`` select CSV; the view streams the body."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return JSONRenderer().render(data)


class _Echo:
    def write(self, value: str) -> str:
        return value


class ReadingListApi(TelemetryApi):
    renderer_classes = [JSONRenderer, BrowsableAPIRenderer, CSVRenderer]

    @extend_schema(
        operation_id="iot_topic_readings",
        summary="Readings of a topic: pages, aggregates per bucket, or CSV",
        parameters=[TOPIC_PARAMETER, ReadingsQuerySerializer],
        responses={
            **TOPIC_ERRORS,
            (200, "application/json"): PolymorphicProxySerializer(
                component_name="ReadingsOrBuckets",
                serializers=[ReadingsPageSerializer, AggregatePageSerializer],
                resource_type_field_name=None,
                many=False,
            ),
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR, description="date,value (or date + one column per aggregate)"
            ),
            (200, "text/html"): OpenApiResponse(
                OpenApiTypes.STR, description="The browsable API's page (format=api)"
            ),
        },
    )
    def get(self, request, topic: str):
        params = ReadingsQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        query = params.validated_data
        unit = self.readable_topic(request, topic).unit
        as_csv = getattr(request.accepted_renderer, "format", None) == "csv"
        if "bucket" in query:
            return self._aggregate(request, topic, query, as_csv, unit)
        if as_csv:
            return self._csv(topic, query)
        return self._page(request, topic, query, unit)

    def finalize_response(self, request, response, *args, **kwargs):
        # Errors are JSON even when CSV was asked for.
        renderer = getattr(request, "accepted_renderer", None)
        if isinstance(renderer, CSVRenderer) and response.status_code >= 400:
            request.accepted_renderer = JSONRenderer()
            request.accepted_media_type = JSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)

    @staticmethod
    def _bounds(query: dict, cursor: datetime | None) -> tuple[datetime | None, datetime | None]:
        start, end = query.get("start"), query.get("end")
        if cursor is not None:
            if query["order"] == "desc":
                end = cursor if end is None else min(end, cursor)
            else:
                after = cursor + timedelta(microseconds=1)
                start = after if start is None else max(start, after)
        return start, end

    def _page(self, request, topic: str, query: dict, unit: str | None) -> Response:
        limit = query.get("limit", DEFAULT_PAGE_SIZE)
        start, end = self._bounds(query, query.get("cursor"))
        points = []
        if start is None or end is None or start < end:
            points = selectors.reading_range(
                topic=topic,
                start=start,
                end=end,
                descending=query["order"] == "desc",
                limit=limit + 1,
            )
        next_url = None
        if len(points) > limit:
            points = points[:limit]
            next_url = self._next_url(request, points[-1].ts)
        data = [_point(p) for p in points]
        return Response({"topic": topic, "unit": unit, "data": data, "next": next_url})

    @staticmethod
    def _next_url(request, last: datetime) -> str:
        params = {k: v for k, v in request.query_params.items() if k != "cursor"}
        params["cursor"] = encode_cursor(last)
        return request.build_absolute_uri(f"{request.path}?{urlencode(params)}")

    def _check_rows(self, topic: str, query: dict, *, limit: int, what: str, setting: str):
        count = selectors.reading_count(
            topic=topic, start=query.get("start"), end=query.get("end"), cap=limit + 1
        )
        if count > limit:
            raise RowLimitExceeded(what=what, limit=limit, setting=setting)

    def _aggregate(self, request, topic: str, query: dict, as_csv: bool, unit: str | None):
        start, end = query.get("start"), query.get("end")
        wanted, smallest = selectors.reading_bucket_count(
            topic=topic, start=start, end=end, bucket_seconds=query["bucket"]
        )
        if wanted > settings.TELEMETRY_AGG_MAX_BUCKETS:
            raise BucketLimitExceeded(
                limit=settings.TELEMETRY_AGG_MAX_BUCKETS, wanted=wanted, smallest=smallest
            )
        plan = selectors.reading_aggregate_plan(
            topic=topic, start=start, end=end, bucket_seconds=query["bucket"]
        )
        # The row limit bounds the raw readings scanned; buckets from rollups cost no scan.
        limit = settings.TELEMETRY_AGG_MAX_ROWS
        raw_ranges = [(start, end)] if plan is None else plan.raw_ranges
        scanned = 0
        for lo, hi in raw_ranges:
            scanned += selectors.reading_count(topic=topic, start=lo, end=hi, cap=limit + 1)
        if scanned > limit:
            raise RowLimitExceeded(
                what="aggregation", limit=limit, setting="TELEMETRY_AGG_MAX_ROWS"
            )
        aggregates = query["agg"]
        buckets = selectors.reading_aggregate(
            topic=topic,
            start=start,
            end=end,
            bucket_seconds=query["bucket"],
            aggregates=aggregates,
            plan=plan,
        )
        if query["order"] == "desc":
            buckets.reverse()
        if as_csv:
            rows = ([_iso(b.start), *(b.values[a] for a in aggregates)] for b in buckets)
            return _csv_response(topic, ["date", *aggregates], rows)
        data = [{"date": _iso(b.start), **b.values} for b in buckets]
        bucket = request.query_params["bucket"].strip()
        return Response(
            {
                "topic": topic,
                "unit": unit,
                "bucket": bucket,
                "agg": aggregates,
                "data": data,
                "next": None,
            }
        )

    def _csv(self, topic: str, query: dict) -> StreamingHttpResponse:
        self._check_rows(
            topic,
            query,
            limit=settings.TELEMETRY_CSV_MAX_ROWS,
            what="CSV",
            setting="TELEMETRY_CSV_MAX_ROWS",
        )
        return _csv_response(topic, ["date", "value"], self._csv_rows(topic, query))

    def _csv_rows(self, topic: str, query: dict) -> Iterator[list]:
        """Every reading of the range, fetched in keyset pages while the response streams."""
        descending = query["order"] == "desc"
        cursor = query.get("cursor")
        while True:
            start, end = self._bounds(query, cursor)
            if start is not None and end is not None and start >= end:
                return
            points = selectors.reading_range(
                topic=topic, start=start, end=end, descending=descending, limit=CSV_PAGE
            )
            for point in points:
                yield [_iso(point.ts), _csv_cell(point.shown)]
            if len(points) < CSV_PAGE:
                return
            cursor = points[-1].ts


# A spreadsheet runs a cell starting with one of these as a formula (OWASP: CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value):
    """Device text as an inert cell: a leading quote keeps ``=HYPERLINK(...)`` from running
    when the file is opened in a spreadsheet; numbers (negative ones too) stay as they are."""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def _csv_response(topic: str, header: list[str], rows) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())

    def lines() -> Iterator[str]:
        yield writer.writerow(header)
        try:
            for row in rows:
                yield writer.writerow(row)
        except StorageError:
            logger.warning("telemetry storage failed while streaming CSV of %s", topic)
            raise

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    # RFC 6266: a series name may hold quotes, spaces or non-ASCII characters.
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=True, filename=f"{topic}.csv"
    )
    return response


# --- devices --------------------------------------------------------------------------
def _credentials(device, password: str) -> dict:
    publish, subscribe = device_topics(kind=device.kind, name=device.name)
    return {
        "broker": settings.MQTT_PUBLIC_URL,
        "username": device.name,
        "password": password,
        "publish": publish,
        "subscribe": subscribe,
    }


class DeviceListCreateApi(TelemetryApi):
    @extend_schema(
        summary="The caller's devices (staff: every device)",
        responses=DeviceSerializer(many=True),
    )
    def get(self, request):
        user_id, is_staff = _user(request)
        devices = (
            selectors.device_list()
            if is_staff
            else selectors.device_list_for_owner(owner_id=user_id)
        )
        return Response(DeviceSerializer(devices, many=True).data)

    @extend_schema(
        summary="Register a device; the answer holds its MQTT password, shown only once",
        request=DeviceCreateSerializer,
        responses={
            201: DeviceCreatedSerializer,
            400: OpenApiResponse(description="Malformed or reserved name, unknown kind or tz"),
            409: OpenApiResponse(description="Name taken, or once used by another account"),
        },
    )
    def post(self, request):
        user_id, _ = _user(request)
        payload = DeviceCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            device, password = services.device_create(owner_id=user_id, **payload.validated_data)
        except services.DeviceNameReserved as exc:
            detail = f"This device name is reserved: {exc.reason}. Choose another."
            return Response({"detail": detail, "name": [detail]}, status=400)
        except services.DeviceNameTaken as exc:
            return Response(
                {"detail": f"{exc.reason}; choose another."}, status=status.HTTP_409_CONFLICT
            )
        body = {**DeviceSerializer(device).data, **_credentials(device, password)}
        return Response(body, status=status.HTTP_201_CREATED)


class DeviceDetailApi(TelemetryApi):
    def device(self, request, name: str):
        if not re.fullmatch(DEVICE_NAME_PATTERN, name):
            # No device has such a name; and PostgreSQL refuses some (a NUL) outright.
            raise exceptions.NotFound("Device not found.")
        user_id, is_staff = _user(request)
        device = selectors.device_get_for_user(name=name, user_id=user_id, is_staff=is_staff)
        if device is None:
            raise exceptions.NotFound("Device not found.")
        return device

    @extend_schema(
        summary="One of the caller's devices",
        parameters=[DEVICE_PARAMETER],
        responses=DeviceSerializer,
    )
    def get(self, request, name: str):
        return Response(DeviceSerializer(self.device(request, name)).data)

    @extend_schema(
        summary="Enable or disable a device (a disabled device's broker login is refused), "
        "or change its time zone",
        request=DeviceUpdateSerializer,
        parameters=[DEVICE_PARAMETER],
        responses={200: DeviceSerializer, 400: OpenApiResponse(description="Bad input")},
    )
    def patch(self, request, name: str):
        payload = DeviceUpdateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        device = services.device_update(device=self.device(request, name), **payload.validated_data)
        return Response(DeviceSerializer(device).data)

    @extend_schema(
        summary="Delete a device: its MQTT login stops, its readings stay (staff only)",
        parameters=[DEVICE_PARAMETER],
        responses={204: None},
    )
    def delete(self, request, name: str):
        services.device_delete(device=self.device(request, name))
        return Response(status=status.HTTP_204_NO_CONTENT)


class DevicePasswordApi(TelemetryApi):
    device = DeviceDetailApi.device

    @extend_schema(
        summary="Give the device a new MQTT password (shown once); the old one stops working",
        request=None,
        parameters=[DEVICE_PARAMETER],
        responses={200: MqttCredentialsSerializer},
    )
    def post(self, request, name: str):
        device = self.device(request, name)
        return Response(_credentials(device, services.device_password_reset(device=device)))
