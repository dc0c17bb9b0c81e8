"""The ingester reports itself for the status page; stale or stopped reports read as down."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from ingest.models import IngesterHeartbeat
from ingest.selectors import ingester_status
from ingest.services import ingester_heartbeat_record
from ingest.tests.conftest import publish, unique
from ingest.tests.test_ingester import TS, drive, make_ingester

pytestmark = pytest.mark.django_db


def record(client_id: str, **overrides) -> None:
    values = {
        "client_id": client_id,
        "started_at": datetime.now(UTC),
        "counters": {"received": 3, "stored": 3},
        "lag_seconds": 0.2,
        "last_batch_at": datetime.now(UTC),
        **overrides,
    }
    ingester_heartbeat_record(**values)


def test_no_ingester_ever_is_down():
    status = ingester_status()
    assert status["ok"] is False
    assert status["detail"] == "no ingester has ever reported"


def test_live_ingesters_add_up():
    record("a", counters={"received": 3, "stored": 2})
    record("b", counters={"received": 5, "stored": 5}, lag_seconds=1.5)
    status = ingester_status()
    assert status["ok"] is True and status["instances"] == 2
    assert status["counters"] == {"received": 8, "stored": 7}
    assert status["lag_seconds"] == 1.5


def test_stale_or_stopped_ingester_is_down():
    record("old")
    IngesterHeartbeat.objects.filter(pk="old").update(
        updated_at=datetime.now(UTC) - timedelta(minutes=5)
    )
    status = ingester_status()
    assert status["ok"] is False and "old silent since" in status["detail"]
    record("old", stopped=True)
    status = ingester_status()
    assert status["ok"] is False and "old stopped since" in status["detail"]


@pytest.mark.mqtt
def test_running_ingester_reports_its_counters(broker):
    dev = unique("dev")
    client_id = unique("ing")
    ingester = make_ingester(broker, client_id, topic_filter=f"{dev}/#")
    try:
        publish(
            broker.url, [(f"{dev}/t", json.dumps({"value": i, "ts": TS + i})) for i in range(5)]
        )
        drive(ingester, until_received=5)
        ingester.heartbeat()
    finally:
        ingester.close()
    row = IngesterHeartbeat.objects.get(pk=client_id)
    assert row.counters["stored"] == 5 and row.last_batch_at is not None
    assert ingester_status()["ok"] is True
    ingester.heartbeat(stopped=True)
    assert ingester_status()["ok"] is False
