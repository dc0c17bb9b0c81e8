"""``manage.py ingest_mqtt``: store MQTT readings through telemetry.services, losing nothing
that was acknowledged. SIGTERM/SIGINT flush, acknowledge, disconnect and exit 0; refused
credentials or storage that stays down at shutdown exit non-zero for the supervisor.

A stop that has not finished ``STOP_GRACE_SECONDS`` after the signal (a thread stuck in the
database driver or the network) ends the process with exit code 3 after writing every
thread's stack to stderr: what it had not acknowledged stays with the broker, and the
supervisor restarts a process that can tell why it was stuck."""

from __future__ import annotations

import contextlib
import faulthandler
import logging
import os
import signal
import sys
import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from ingest.consumer import FatalIngestError, IngestOptions, MqttIngester, ShutdownIncomplete

logger = logging.getLogger(__name__)

# Past the consumer's own shutdown deadline (7 s) and within DESIGN.md's 10 s for SIGTERM.
STOP_GRACE_SECONDS = 9.0
STUCK_EXIT_CODE = 3


def _stop_overran() -> None:
    logger.error(
        "still running %.0fs after the stop signal; exiting %d (unacknowledged messages stay "
        "with the broker). Thread stacks follow on stderr.",
        STOP_GRACE_SECONDS,
        STUCK_EXIT_CODE,
    )
    faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
    sys.stderr.flush()
    os._exit(STUCK_EXIT_CODE)


class StopSignals:
    """SIGTERM and SIGINT, taken by a thread of their own with ``signal.sigwait`` and blocked in
    every other thread (threads inherit the mask, so this starts before any other).

    A Python signal handler runs only when the main thread returns to the interpreter, which
    it does not while it waits in the database driver (a heartbeat or a commit on a locked
    database waits up to the busy timeout, on PostgreSQL for ever). This thread sets the stop
    event at once and, if the stop has not finished ``STOP_GRACE_SECONDS`` later, ends the
    process with every thread's stack. Later signals are ignored, as the stop is under way."""

    SIGNALS = frozenset({signal.SIGTERM, signal.SIGINT})

    def __init__(self, stop: threading.Event) -> None:
        self._stop = stop
        self._received = False
        self._finished = threading.Event()
        self._previous_mask = signal.pthread_sigmask(signal.SIG_BLOCK, self.SIGNALS)
        self._thread = threading.Thread(target=self._watch, name="stop-signals", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        signal.sigwait(self.SIGNALS)
        self._received = True
        if self._finished.is_set():
            return
        self._stop.set()
        if not self._finished.wait(STOP_GRACE_SECONDS):
            _stop_overran()

    def close(self) -> None:
        """The command is done: release the watching thread and restore the signal mask."""
        self._finished.set()
        if not self._received:
            # Still in sigwait: a signal sent to that thread alone ends the wait.
            with contextlib.suppress(ProcessLookupError):
                signal.pthread_kill(self._thread.ident, signal.SIGTERM)
        self._thread.join(timeout=5)
        signal.pthread_sigmask(signal.SIG_SETMASK, self._previous_mask)


class Command(BaseCommand):
    help = "Consume device readings from MQTT (QoS 1, persistent session) into telemetry storage."

    def add_arguments(self, parser):
        parser.add_argument(
            "--broker", default=settings.MQTT_URL, help="mqtt[s]://user:pass@host:port"
        )
        parser.add_argument("--client-id", default=settings.INGEST_CLIENT_ID)
        parser.add_argument("--topic", default=settings.INGEST_TOPIC_FILTER, help="topic filter")
        parser.add_argument(
            "--shared-group",
            default=settings.INGEST_SHARED_GROUP,
            help="subscribe as $share/NAME/<filter> so several ingesters split the stream "
            "(give each one its own --client-id)",
        )
        parser.add_argument("--batch-size", type=int, default=settings.INGEST_BATCH_SIZE)
        parser.add_argument(
            "--max-wait", type=float, default=settings.INGEST_MAX_WAIT_MS / 1000, help="seconds"
        )
        parser.add_argument(
            "--writers",
            type=int,
            default=settings.INGEST_WRITERS,
            help="batches committed concurrently (acknowledged in order); 0 = in the main loop",
        )
        parser.add_argument("--receive-maximum", type=int, default=settings.INGEST_RECEIVE_MAXIMUM)
        parser.add_argument("--metrics-port", type=int, default=settings.INGEST_METRICS_PORT)
        parser.add_argument("--metrics-addr", default="0.0.0.0")  # noqa: S104
        parser.add_argument(
            "--log-interval", type=float, default=settings.INGEST_LOG_INTERVAL_SECONDS
        )
        parser.add_argument(
            "--protocol",
            choices=("5", "3.1.1"),
            default=settings.INGEST_MQTT_PROTOCOL,
            help="MQTT protocol version (3.1.1 for brokers without MQTT 5)",
        )
        parser.add_argument(
            "--once",
            action="store_true",
            help="connect, commit what the broker delivers until it goes quiet, then stop",
        )

    def handle(self, *args, **opts):
        if not 1 <= opts["receive_maximum"] <= 65535:
            raise CommandError("--receive-maximum must be between 1 and 65535")
        if opts["batch_size"] < 1 or opts["max_wait"] <= 0 or opts["writers"] < 0:
            raise CommandError(
                "--batch-size must be at least 1, --max-wait positive, --writers >= 0"
            )
        options = IngestOptions(
            broker_url=opts["broker"],
            client_id=opts["client_id"],
            topic_filter=opts["topic"],
            shared_group=opts["shared_group"] or None,
            batch_size=opts["batch_size"],
            max_wait=opts["max_wait"],
            max_payload_bytes=settings.INGEST_MAX_PAYLOAD_BYTES,
            dead_letter_max_bytes=settings.INGEST_DEAD_LETTER_MAX_BYTES,
            session_expiry=settings.INGEST_SESSION_EXPIRY_SECONDS,
            receive_maximum=opts["receive_maximum"],
            writers=opts["writers"],
            protocol=opts["protocol"],
            ca_file=settings.MQTT_CA_FILE,
        )
        stop = threading.Event()
        signals = StopSignals(stop)  # before any other thread starts
        try:
            ingester = MqttIngester(options=options, stop_event=stop)
            if opts["metrics_port"]:
                ingester.stats.serve(port=opts["metrics_port"], addr=opts["metrics_addr"])
            if opts["once"]:
                self._once(ingester)
            else:
                ingester.run(log_interval=opts["log_interval"])
        except FatalIngestError as exc:
            raise CommandError(str(exc), returncode=2) from None
        except ShutdownIncomplete as exc:
            raise CommandError(f"{exc}; unacknowledged messages stay with the broker") from None
        finally:
            signals.close()

    def _once(self, ingester: MqttIngester) -> None:
        """Drain what the broker holds for this session, then stop (for cron and tests)."""
        ingester.start()
        try:
            if not ingester.connected.wait(timeout=10):
                raise FatalIngestError(ingester.fatal or "could not connect to the broker")
            while not ingester.stop_event.is_set():
                ingester.step(timeout=1.0)
                if ingester.last_batch_size == 0:
                    break
            if ingester.fatal:
                raise FatalIngestError(ingester.fatal)
            ingester.drain()
        finally:
            ingester.close()
            ingester.heartbeat(stopped=True)
            logger.info("ingest stopped: %s", ingester.stats.summary())
