"""Writes of the ingest app (its own bookkeeping; readings go through telemetry.services)."""

from __future__ import annotations

import logging
import os
import socket
from datetime import datetime

from django.db import DatabaseError
from django.utils import timezone

from ingest.models import IngesterHeartbeat

logger = logging.getLogger(__name__)


def ingester_heartbeat_record(
    *,
    client_id: str,
    started_at: datetime,
    counters: dict[str, int],
    lag_seconds: float | None,
    last_batch_at: datetime | None,
    stopped: bool = False,
) -> None:
    """Upsert this ingester's heartbeat. A database error is logged, never raised: the
    heartbeat must not stop or slow down ingestion (the batch path retries on its own)."""
    now = timezone.now()
    try:
        IngesterHeartbeat.objects.update_or_create(
            client_id=client_id,
            defaults={
                "hostname": socket.gethostname()[:255],
                "pid": os.getpid(),
                "started_at": started_at,
                "updated_at": now,
                "stopped_at": now if stopped else None,
                "last_batch_at": last_batch_at,
                "lag_seconds": lag_seconds,
                "counters": counters,
            },
        )
    except DatabaseError as exc:
        logger.warning("ingester heartbeat not recorded: %s", exc.__class__.__name__)
