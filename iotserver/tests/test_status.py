"""``/system/status``: what the dashboard's Service Status page shows."""

from __future__ import annotations

import socket
from datetime import UTC, datetime

import pytest

from ingest.services import ingester_heartbeat_record
from iotserver.status import system_status_cache_clear

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_probes():
    """Each test probes anew: the per-process cache would otherwise carry over."""
    system_status_cache_clear()
    yield
    system_status_cache_clear()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_needs_a_token(api_client):
    assert api_client.get("/system/status").status_code == 401


@pytest.mark.mqtt
def test_every_dependency_is_reported(client_for, settings):
    ingester_heartbeat_record(
        client_id="ingest-1",
        started_at=datetime.now(UTC),
        counters={"stored": 7},
        lag_seconds=0.1,
        last_batch_at=datetime.now(UTC),
    )
    body = client_for(user_id=1, is_staff=True).get("/system/status").json()
    checks = body["checks"]
    assert {"database", "cache", "broker", "ingester", "celery"} <= set(checks)
    assert checks["database"]["ok"] and checks["cache"]["ok"]
    assert checks["broker"]["ok"], checks["broker"]
    assert checks["ingester"]["ok"] and checks["ingester"]["counters"] == {"stored": 7}
    if settings.REDIS_URL:  # a real broker, and no worker in this test
        assert checks["celery"] == {"ok": False, "detail": "no worker answered a ping within 1s"}
        assert body["ok"] is False
    else:
        assert checks["celery"]["ok"] and "eagerly" in checks["celery"]["detail"]
        assert body["ok"] is True


def test_unreachable_broker_is_red_with_reason(client_for, settings):
    settings.MQTT_URL = f"mqtt://127.0.0.1:{closed_port()}"
    body = client_for(user_id=1, is_staff=True).get("/system/status").json()
    assert body["ok"] is False
    assert body["checks"]["broker"]["ok"] is False
    assert "unreachable" in body["checks"]["broker"]["detail"]


def test_broker_credentials_never_shown(client_for, settings):
    settings.MQTT_URL = f"mqtt://ingest:s3cret-pw@127.0.0.1:{closed_port()}"
    text = client_for(user_id=1, is_staff=True).get("/system/status").content.decode()
    assert "s3cret-pw" not in text


def test_missing_ingester_is_red(client_for):
    checks = client_for(user_id=1, is_staff=True).get("/system/status").json()["checks"]
    assert checks["ingester"]["ok"] is False


def test_other_users_see_up_or_down_only(client_for, settings):
    settings.MQTT_URL = f"mqtt://ingest:s3cret-pw@127.0.0.1:{closed_port()}"

    body = client_for(user_id=1).get("/system/status").json()

    assert body["ok"] is False
    assert body["checks"]["broker"] == {"ok": False}
    assert all(set(check) == {"ok"} for check in body["checks"].values())
    assert "127.0.0.1" not in str(body)


def test_probes_run_at_most_once_per_cache_period(client_for, settings, monkeypatch):
    from iotserver import status

    calls = []
    real = status.check_celery
    monkeypatch.setattr(status, "check_celery", lambda: calls.append(1) or real())
    settings.SYSTEM_STATUS_CACHE_SECONDS = 60
    client = client_for(user_id=1, is_staff=True)

    for _ in range(5):
        assert client.get("/system/status").status_code == 200
    settings.SYSTEM_STATUS_CACHE_SECONDS = 0
    client.get("/system/status")

    assert len(calls) == 2
