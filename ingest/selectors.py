"""Reads of the ingest app: is an ingester running, and how is it doing."""

from __future__ import annotations

from datetime import timedelta

from django.db import DatabaseError
from django.utils import timezone

from ingest.models import IngesterHeartbeat

# The ingester reports every HEARTBEAT_SECONDS; three missed reports mean it is gone.
HEARTBEAT_SECONDS = 5
STALE_AFTER = timedelta(seconds=3 * HEARTBEAT_SECONDS)


def ingester_status() -> dict:
    """``{"ok", "detail", "last_batch_at", "lag_seconds", "counters", "instances"}``: ok when
    at least one ingester reported recently; counters add up every live ingester's."""
    try:
        rows = list(IngesterHeartbeat.objects.all()[:50])
    except DatabaseError as exc:
        return {
            "ok": False,
            "detail": f"cannot read heartbeats: {exc.__class__.__name__}",
            "last_batch_at": None,
            "lag_seconds": None,
            "counters": {},
            "instances": 0,
        }
    now = timezone.now()
    live = [r for r in rows if r.stopped_at is None and now - r.updated_at <= STALE_AFTER]
    counters: dict[str, int] = {}
    for row in live:
        for name, value in row.counters.items():
            counters[name] = counters.get(name, 0) + int(value)
    batches = [r.last_batch_at for r in live if r.last_batch_at]
    lags = [r.lag_seconds for r in live if r.lag_seconds is not None]
    if live:
        detail = f"{len(live)} ingester(s) running"
    elif rows:
        last = rows[0]
        state = "stopped" if last.stopped_at else "silent"
        detail = f"no live ingester; {last.client_id} {state} since {last.updated_at.isoformat()}"
    else:
        detail = "no ingester has ever reported"
    return {
        "ok": bool(live),
        "detail": detail,
        "last_batch_at": max(batches).isoformat() if batches else None,
        "lag_seconds": max(lags) if lags else None,
        "counters": counters,
        "instances": len(live),
    }
