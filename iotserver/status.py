"""``GET /system/status``: each dependency of the running system, green or red; with the
reason for staff only, probed at most once every few seconds.

Unlike ``/readyz`` (a probe for a load balancer) this is for people: the dashboard's
Service Status page polls it. It needs a valid access token.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Callable

import paho.mqtt.client as mqtt
from django.conf import settings
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import extend_schema, inline_serializer
from paho.mqtt.enums import CallbackAPIVersion
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from ingest.consumer import broker_address
from iotserver import health

BROKER_TIMEOUT = 2.0


def _ok(detail: str, **extra) -> dict:
    return {"ok": True, "detail": detail, **extra}


def _failed(detail: str, **extra) -> dict:
    return {"ok": False, "detail": detail, **extra}


def _probe(check: Callable[[], None], detail: str) -> dict:
    try:
        check()
    except Exception as exc:  # reported, not raised: this page exists to show failures
        return _failed(f"{exc.__class__.__name__}: {exc}"[:200])
    return _ok(detail)


# Refusals that prove the broker is up and authenticating, for a probe without a login.
_AUTH_REFUSALS = {"Not authorized", "Bad user name or password"}


def check_broker(url: str | None = None) -> dict:
    """A real MQTT CONNECT to ``MQTT_URL``, answered by CONNACK within two seconds.

    The web process needs no broker account for this: without credentials in ``MQTT_URL``
    a broker that refuses the anonymous CONNECT has answered, and is authenticating as it
    must; one that accepts it is up but open to anyone, which the detail says.
    """
    host, port, username, password, tls = broker_address(url or settings.MQTT_URL)
    answered = threading.Event()
    outcome: dict = {}

    def on_connect(client, userdata, flags, reason_code, properties):
        outcome["code"] = reason_code
        answered.set()

    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"iotserver-status-{uuid.uuid4().hex[:8]}",
        protocol=mqtt.MQTTv311,
    )
    if username:
        client.username_pw_set(username, password or "")
    if tls:
        client.tls_set(ca_certs=settings.MQTT_CA_FILE)
    client.on_connect = on_connect
    try:
        client.connect(host, port, keepalive=10)
        client.loop_start()
        if not answered.wait(BROKER_TIMEOUT):
            return _failed(f"no CONNACK from {host}:{port} within {BROKER_TIMEOUT:.0f}s")
        code = outcome["code"]
        if code.is_failure and not username and str(code) in _AUTH_REFUSALS:
            return _ok(f"{host}:{port} answers and refuses anonymous clients", anonymous=False)
        if code.is_failure:
            return _failed(f"{host}:{port} refused the connection: {code}")
        if not username:
            return _ok(f"{host}:{port} accepts anonymous clients", anonymous=True)
        return _ok(f"{host}:{port} accepts connections")
    except OSError as exc:
        return _failed(f"{host}:{port} unreachable: {exc.strerror or exc}")
    finally:
        client.loop_stop()
        client.disconnect()


def check_ingester() -> dict:
    from ingest.selectors import ingester_status

    return ingester_status()


def check_celery() -> dict:
    if not settings.REDIS_URL:
        return _ok("no REDIS_URL: tasks run eagerly in the calling process")
    from iotserver.celery import app

    try:
        replies = app.control.ping(timeout=1.0)
    except Exception as exc:  # broker unreachable
        return _failed(f"{exc.__class__.__name__}: {exc}"[:200])
    if not replies:
        return _failed("no worker answered a ping within 1s")
    return _ok(f"{len(replies)} worker(s) answered", workers=sorted(k for r in replies for k in r))


# An account change older than this and not yet applied turns its check red.
ACCOUNT_EVENT_LAG_LIMIT_SECONDS = 60.0
_QUEUE_SCAN = 1000


def _age(created_at) -> float:
    return max(0.0, (timezone.now() - created_at).total_seconds())


def _queued_account_event_oldest():
    """The ``created_at`` of the oldest account event waiting in the Celery queue on Redis
    (sent, not yet taken by a worker), among the oldest ``_QUEUE_SCAN`` messages."""
    from celery import current_app

    from accounts.outbox import CONSUMER_TASK

    with current_app.connection_for_read() as connection:
        client = connection.default_channel.client
        raw = client.lrange(current_app.conf.task_default_queue, -_QUEUE_SCAN, -1)
    oldest = None
    for item in raw:  # LPUSHed: the oldest is last
        message = json.loads(item)
        if message.get("headers", {}).get("task") != CONSUMER_TASK:
            continue
        _, kwargs, _ = json.loads(base64.b64decode(message["body"]))
        created = parse_datetime(kwargs.get("created_at") or "")
        if created is not None and (oldest is None or created < oldest):
            oldest = created
    return oldest


def check_account_events() -> dict:
    """The lag of account events (deactivations, deletions) on their way to the devices:
    the age of the oldest one not applied yet (unpublished in the outbox, or queued)."""
    from accounts.selectors import account_event_oldest_unpublished
    from telemetry.account_events import account_events_parked_count

    waiting = []
    if settings.SERVES_AUTH:
        event = account_event_oldest_unpublished()
        if event is not None:
            waiting.append(event.created_at)
    if settings.REDIS_URL:
        queued = _queued_account_event_oldest()
        if queued is not None:
            waiting.append(queued)
    lag = _age(min(waiting)) if waiting else 0.0
    extra = {"lag_seconds": round(lag, 3)}
    if settings.SERVES_TELEMETRY:
        extra["parked"] = account_events_parked_count()
    detail = f"oldest unapplied account event {lag:.1f}s old" if waiting else "none waiting"
    if lag > ACCOUNT_EVENT_LAG_LIMIT_SECONDS:
        return _failed(detail, **extra)
    return _ok(detail, **extra)


def system_status() -> dict:
    checks = {name: _probe(check, "answers") for name, check in health.dependency_checks().items()}
    checks.update(broker=check_broker(), ingester=check_ingester(), celery=check_celery())
    try:
        checks["account_events"] = check_account_events()
    except Exception as exc:  # reported, not raised, as the other probes
        checks["account_events"] = _failed(f"{exc.__class__.__name__}: {exc}"[:200])
    return {"ok": all(c["ok"] for c in checks.values()), "checks": checks}


_cached: tuple[float, dict | None] = (0.0, None)
_cached_lock = threading.Lock()


def system_status_cached() -> dict:
    """``system_status()``, probed at most once per ``SYSTEM_STATUS_CACHE_SECONDS`` in this
    process: each probe opens a broker connection and pings Celery, so a page left open by
    many people (or a script) must not multiply them. Kept in process memory, not in the
    cache, since the cache is one of the things probed."""
    global _cached
    ttl = settings.SYSTEM_STATUS_CACHE_SECONDS
    with _cached_lock:
        at, body = _cached
        if body is None or time.monotonic() - at >= ttl:
            body = system_status()
            _cached = (time.monotonic(), body)
        return body


def system_status_cache_clear() -> None:
    global _cached
    with _cached_lock:
        _cached = (0.0, None)


def status_for_viewer(body: dict, *, is_staff: bool) -> dict:
    """Staff see every detail; everyone else up or down only: the details name hosts, ports,
    users and error texts, which are the operators' business."""
    if is_staff:
        return body
    return {
        "ok": body["ok"],
        "checks": {name: {"ok": check["ok"]} for name, check in body["checks"].items()},
    }


class SystemStatusApi(APIView):
    @extend_schema(
        operation_id="system_status",
        responses={
            200: inline_serializer(
                "SystemStatus",
                {
                    "ok": serializers.BooleanField(),
                    "checks": serializers.DictField(child=serializers.DictField()),
                },
            )
        },
    )
    def get(self, request):
        is_staff = bool(getattr(request.user, "is_staff", False))
        return Response(status_for_viewer(system_status_cached(), is_staff=is_staff))
