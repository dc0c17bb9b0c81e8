"""Counters of one ingester: kept as plain numbers for the summary log and exported to
Prometheus from a registry of its own (so several ingesters can live in one test process)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

logger = logging.getLogger(__name__)

_COUNTERS = {
    "received": "MQTT messages received",
    "stored": "readings stored",
    "duplicates": "readings already stored (redeliveries of readings with their own ts)",
    "dead_lettered": "messages sent to the dead-letter table",
    "batches": "batches committed",
    "storage_errors": "failed batch writes (retried)",
    "ignored": "messages ignored ($SYS, commands, device metadata)",
    "skipped": "values skipped (null, empty, NaN)",
    "retained_skipped": "readings of replayed retained messages already known (not stored)",
    "availability": "availability messages (device online/offline)",
}


class IngestStats:
    """received, stored, duplicates, dead-lettered, batches and lag of one ingester."""

    def __init__(self, *, queue_depth: Callable[[], int]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.totals: dict[str, int] = dict.fromkeys(_COUNTERS, 0)
        self._counters = {
            name: Counter(f"iotserver_ingest_{name}", doc, registry=self.registry)
            for name, doc in _COUNTERS.items()
        }
        self.lag_seconds = 0.0
        self._lag = Gauge(
            "iotserver_ingest_lag_seconds",
            "age of the oldest message of the last committed batch, at commit",
            registry=self.registry,
        )
        depth = Gauge(
            "iotserver_ingest_queue_depth",
            "messages received and not yet committed and acknowledged",
            registry=self.registry,
        )
        depth.set_function(queue_depth)
        self._server = None

    def add(self, name: str, amount: int = 1) -> None:
        if amount:
            self.totals[name] += amount
            self._counters[name].inc(amount)

    def set_lag(self, seconds: float) -> None:
        self.lag_seconds = seconds
        self._lag.set(seconds)

    def serve(self, *, port: int, addr: str = "0.0.0.0") -> None:  # noqa: S104 (scraped by Prometheus)
        self._server, _thread = start_http_server(port, addr=addr, registry=self.registry)
        logger.info("ingest metrics on http://%s:%d/metrics", addr, port)

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def summary(self) -> str:
        t = self.totals
        return (
            f"received={t['received']} stored={t['stored']} duplicates={t['duplicates']} "
            f"dead_lettered={t['dead_lettered']} batches={t['batches']} "
            f"storage_errors={t['storage_errors']} ignored={t['ignored']} skipped={t['skipped']} "
            f"lag={self.lag_seconds:.3f}s"
        )
