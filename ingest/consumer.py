"""The MQTT ingester: a paho network thread that only enqueues, and a writer loop that
commits batches through ``telemetry.services`` and acknowledges them afterwards.

Delivery guarantee: a message is acknowledged (PUBACK) only after the transaction holding its
readings or its dead letter has committed, so whatever the broker forgets was stored. A crash
between commit and acknowledgement makes the broker redeliver; readings with their own ``ts``
are then counted as duplicates, not stored twice.
"""

from __future__ import annotations

import logging
import queue
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NamedTuple
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from django.db import connections
from paho.mqtt.client import PUBACK
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from ingest.metrics import IngestStats
from ingest.parsing import IgnoredTopic, MessageReader, PayloadError
from ingest.readahead import ReadAheadClient
from telemetry.records import (
    TOPIC_MAX_LENGTH,
    AppendResult,
    DeadLetterIn,
    DeviceEventIn,
    DeviceProfile,
    ReadingIn,
)

logger = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_PUBACK = struct.Struct("!BBH")  # fixed header, remaining length 2, packet id (MQTT 3.1.1 and 5)
# CONNACK reasons that no reconnect will fix: stop and let the supervisor report it.
_FATAL_CONNACK = {"Bad user name or password", "Not authorized", "Client identifier not valid"}


class FatalIngestError(RuntimeError):
    """Misconfiguration the ingester cannot recover from (refused credentials, denied topic)."""


class ShutdownIncomplete(RuntimeError):
    """Stopped before the last batch could be committed: it stays unacknowledged (not lost)."""


@dataclass(frozen=True, slots=True)
class Parsed:
    """One message as the writer stores it: its readings or its dead letter, its raw
    payload (the dead letter's, should the storage refuse the readings), the availability
    events it carried, and whether the broker replayed it as a retained message (``rx``:
    its receive time; its readings without a time of their own are stamped from it)."""

    readings: tuple[ReadingIn, ...]
    dead: tuple[DeadLetterIn, ...]
    payload: bytes
    events: tuple[DeviceEventIn, ...] = ()
    retained: bool = False
    rx: datetime | None = None


@dataclass(frozen=True, slots=True)
class IngestOptions:
    broker_url: str
    client_id: str
    topic_filter: str = "#"
    shared_group: str | None = None
    batch_size: int = 1000
    max_wait: float = 0.2
    max_payload_bytes: int = 65536
    dead_letter_max_bytes: int = 4096
    session_expiry: int = 7 * 24 * 3600
    receive_maximum: int = 10000
    keepalive: int = 30
    # Batches committed concurrently on writer threads (own database connections); 0 commits
    # in the calling thread (tests inside a transaction).
    writers: int = 1
    retry_max_delay: float = 30.0
    # Broker reconnect backoff. Kept short on purpose: Mosquitto 2.0 does not restore shared
    # subscriptions ($share/...) from its persistence file, so after a broker restart a
    # group member receives nothing until it has resubscribed, and what devices publish in
    # between has no subscriber and is dropped (deploy/mosquitto/README.md). A 30 s backoff
    # made that window up to tens of seconds; a failed connect attempt costs next to nothing.
    reconnect_min_delay: float = 0.2
    reconnect_max_delay: float = 1.0
    # "5" (default) or "3.1.1" for brokers without MQTT 5, such as the embedded one of
    # `make run`: a 3.1.1 persistent session has no expiry and no receive maximum.
    protocol: str = "5"
    # CA bundle for an mqtts:// broker whose certificate the system's CAs do not sign.
    ca_file: str | None = None
    shutdown_timeout: float = 7.0  # SIGTERM to exit within 10 s (DESIGN.md)

    @property
    def subscription(self) -> str:
        if self.shared_group:
            return f"$share/{self.shared_group}/{self.topic_filter}"
        return self.topic_filter


class Inbound(NamedTuple):
    """One received message, as the network thread hands it over."""

    mid: int
    qos: int
    topic: bytes
    payload: bytes
    received_us: int
    generation: int
    retain: bool = False


def broker_address(url: str) -> tuple[str, int, str | None, str | None, bool]:
    """``mqtt[s]://user:pass@host:port`` -> (host, port, username, password, tls)."""
    parts = urlsplit(url)
    tls = parts.scheme == "mqtts"
    port = parts.port or (8883 if tls else 1883)
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    return parts.hostname or "127.0.0.1", port, username, password, tls


def _close_stale_connections() -> None:
    """``close_old_connections()``, except for a connection inside a caller's transaction
    (a test's): closing that one would lose the transaction, not refresh a connection."""
    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:
            connection.close_if_unusable_or_obsolete()


def _default_append() -> tuple[Callable[..., AppendResult], type[Exception], type[Exception]]:
    from telemetry.services import StorageError, StorageRefused, reading_bulk_append

    return reading_bulk_append, StorageError, StorageRefused


def _default_registry() -> tuple[
    Callable[[Collection[str]], Mapping[str, DeviceProfile]], Callable[[Collection[str]], set[str]]
]:
    from telemetry.selectors import device_profiles, topics_known

    return (lambda names: device_profiles(names=names)), (lambda names: topics_known(names=names))


class _NeverRaised(Exception):
    """Stands for "no refusal type": an injected append that never refuses data."""


def _default_heartbeat() -> Callable[..., None]:
    from ingest.services import ingester_heartbeat_record

    return ingester_heartbeat_record


HEARTBEAT_SECONDS = 5.0


class Inbox:
    """The network thread's hand-off to the writer loop: a ``SimpleQueue`` (the cheapest put
    there is) and an event that is set only while the writer loop waits on an empty queue.

    The waiting is not ``SimpleQueue.get(timeout=...)``: on CPython 3.11 a signal that
    interrupts that call close to its deadline makes it block until the next put, so a
    SIGTERM arriving while the broker is quiet could leave the ingester waiting for ever."""

    def __init__(self) -> None:
        self._items: queue.SimpleQueue[Inbound] = queue.SimpleQueue()
        self._wake = threading.Event()
        self._waiting = False

    def put(self, item: Inbound) -> None:
        self._items.put(item)
        if self._waiting:
            self._wake.set()

    def get_nowait(self) -> Inbound:
        return self._items.get_nowait()

    def empty(self) -> bool:
        return self._items.empty()

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for a put; False when none came."""
        self._wake.clear()
        self._waiting = True
        try:
            # A put between the caller's last get and ``_waiting`` did not set the event.
            return not self._items.empty() or self._wake.wait(timeout)
        finally:
            self._waiting = False


class MqttIngester:
    """Consume ``options.subscription`` at QoS 1 into telemetry storage, batch by batch.

    ``run()`` loops until ``stop_event`` is set; tests call ``start()`` and ``step()``.
    The paho network thread never touches the database: it appends to ``inbox``.
    """

    def __init__(
        self,
        *,
        options: IngestOptions,
        stop_event: threading.Event | None = None,
        append: Callable[..., AppendResult] | None = None,
        storage_error: type[Exception] | None = None,
        storage_refused: type[Exception] | None = None,
        heartbeat: Callable[..., None] | None = None,
        profiles: Callable[[Collection[str]], Mapping[str, DeviceProfile]] | None = None,
        topics_known: Callable[[Collection[str]], set[str]] | None = None,
    ) -> None:
        self.options = options
        self.stop_event = stop_event or threading.Event()
        if append is None:
            append, default_error, default_refused = _default_append()
            storage_error = storage_error or default_error
            storage_refused = storage_refused or default_refused
            heartbeat = heartbeat or _default_heartbeat()
            default_profiles, default_known = _default_registry()
            profiles = profiles or default_profiles
            topics_known = topics_known or default_known
        # Which series already hold readings: a replayed retained state is stored only for
        # a series that has none (an injected append means a test: every series is new).
        self._topics_known = topics_known or (lambda names: set())
        self._reader = MessageReader(max_payload_bytes=options.max_payload_bytes, profiles=profiles)
        # Reports this ingester to the status page (an injected append means a test: none).
        self._heartbeat_record = heartbeat
        self.started_at = datetime.now(UTC)
        self.last_batch_at: datetime | None = None
        self._append = append
        self._storage_error = storage_error or Exception
        # A subclass of storage_error: the data itself was refused (see _write_isolating).
        self._storage_refused = storage_refused or _NeverRaised
        self.inbox = Inbox()
        # Received by the network thread / committed or dropped by the writer loop.
        self._delivered = 0
        self._settled = 0
        self.stats = IngestStats(queue_depth=lambda: self._delivered - self._settled)
        self.fatal: str | None = None
        self.connected = threading.Event()
        self._disconnected = threading.Event()
        self._generation = 0
        self._ack_lock = threading.Lock()
        self._last_rx_us = 0
        self._in_flight: deque[tuple[Future[AppendResult], list[Inbound]]] = deque()
        self._pool = (
            ThreadPoolExecutor(max_workers=options.writers, thread_name_prefix="ingest-writer")
            if options.writers > 0
            else None
        )
        self.last_batch_size = 0
        self._client = self._make_client()

    # --- network thread -----------------------------------------------------------------
    def _make_client(self) -> mqtt.Client:
        host, port, username, password, tls = broker_address(self.options.broker_url)
        if self.options.protocol == "3.1.1":
            client = ReadAheadClient(
                CallbackAPIVersion.VERSION2,
                client_id=self.options.client_id,
                protocol=mqtt.MQTTv311,
                clean_session=False,
                manual_ack=True,
            )
        else:
            client = ReadAheadClient(
                CallbackAPIVersion.VERSION2,
                client_id=self.options.client_id,
                protocol=mqtt.MQTTv5,
                manual_ack=True,
            )
        if username:
            client.username_pw_set(username, password)
        if tls:
            client.tls_set(ca_certs=self.options.ca_file)
        client.reconnect_delay_set(
            min_delay=self.options.reconnect_min_delay, max_delay=self.options.reconnect_max_delay
        )
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        self._host, self._port = host, port
        return client

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            logger.error("broker refused the connection: %s", reason_code)
            if str(reason_code) in _FATAL_CONNACK:
                self.fatal = (
                    f"broker {self._host}:{self._port} refused the connection: {reason_code}; "
                    "check the user and password in MQTT_URL (or --broker)"
                )
                self.stop_event.set()
            return
        logger.info(
            "connected to %s:%s as %s (session present: %s), subscribing to %s",
            self._host,
            self._port,
            self.options.client_id,
            flags.session_present,
            self.options.subscription,
        )
        if self.options.protocol == "3.1.1":
            client.subscribe(self.options.subscription, qos=1)
            return
        # Retain Handling 1: the broker replays retained messages only to a new subscription,
        # not each time a persistent session resubscribes (MQTT 5, 3.8.3.1).
        client.subscribe(
            self.options.subscription, options=SubscribeOptions(qos=1, retainHandling=1)
        )

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        failed = [rc for rc in reason_codes if rc.is_failure]
        if failed:
            self.fatal = f"subscription to {self.options.subscription} refused: {failed[0]}"
            logger.error("%s", self.fatal)
            self.stop_event.set()
            return
        logger.info("subscribed to %s", self.options.subscription)
        self._disconnected.clear()
        self.connected.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        # Message ids are per connection: once it is gone, acks of what it delivered must not
        # be sent on the next one. The broker redelivers those messages instead.
        with self._ack_lock:
            self._generation += 1
        self.connected.clear()
        self._disconnected.set()
        if not self.stop_event.is_set():
            logger.warning("disconnected from the broker (%s); reconnecting", reason_code)

    def _on_message(self, client, userdata, message: mqtt.MQTTMessage) -> None:
        # Raw topic bytes (``message.topic`` would decode here and raise on bad UTF-8): the
        # network thread does as little as possible; the writer decodes and validates.
        self._delivered += 1
        self.inbox.put(
            Inbound(
                message.mid,
                message.qos,
                message._topic,
                message.payload,
                time.time_ns() // 1000,
                self._generation,
                message.retain,
            )
        )

    # --- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        """Connect (retrying in the background while the broker is away) and subscribe."""
        if self.options.protocol == "3.1.1":
            self._client.connect_async(self._host, self._port, keepalive=self.options.keepalive)
            self._client.loop_start()
            return
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = self.options.session_expiry
        properties.ReceiveMaximum = self.options.receive_maximum
        self._client.connect_async(
            self._host,
            self._port,
            keepalive=self.options.keepalive,
            clean_start=False,
            properties=properties,
        )
        self._client.loop_start()

    def close(self) -> None:
        """Disconnect (after the queued acknowledgements are written) and stop the thread."""
        if self.connected.is_set():
            self._client.disconnect()
            self._disconnected.wait(timeout=1.5)
        self._client.loop_stop()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        self.stats.close()

    def run(self, *, log_interval: float = 60.0) -> None:
        """Loop until the stop event; then flush, acknowledge and disconnect."""
        self.start()
        next_log = time.monotonic() + log_interval
        next_heartbeat = time.monotonic()
        try:
            while not self.stop_event.is_set():
                self.step()
                now = time.monotonic()
                if now >= next_log:
                    logger.info("ingest: %s", self.stats.summary())
                    next_log = now + log_interval
                if now >= next_heartbeat:
                    self.heartbeat()
                    next_heartbeat = now + HEARTBEAT_SECONDS
            if self.fatal:
                raise FatalIngestError(self.fatal)
            self.drain()
        finally:
            self.stop_event.set()  # writer threads still retrying give up at their deadline
            self.close()
            self.heartbeat(stopped=True)
            logger.info("ingest stopped: %s", self.stats.summary())

    def heartbeat(self, *, stopped: bool = False) -> None:
        """Record counters, lag and the last commit time for the service status page."""
        if self._heartbeat_record is None:
            return
        _close_stale_connections()
        self._heartbeat_record(
            client_id=self.options.client_id,
            started_at=self.started_at,
            counters=dict(self.stats.totals),
            lag_seconds=self.stats.lag_seconds if self.last_batch_at else None,
            last_batch_at=self.last_batch_at,
            stopped=stopped,
        )

    # --- writer loop ------------------------------------------------------------------------
    def step(self, *, timeout: float | None = None) -> bool:
        """Collect one batch (up to batch_size, or max_wait after its first message), commit
        it and acknowledge it. Returns True when more messages are already waiting.

        With ``writers`` > 0 the commit runs on a writer thread while the next batch is
        collected and parsed; batches are still acknowledged strictly in arrival order."""
        batch = self._collect(first_timeout=self.options.max_wait if timeout is None else timeout)
        self.last_batch_size = len(batch)
        if batch:
            self._submit(batch, deadline=None)
        self._finish_done(keep=self.options.writers - 1 if batch else 0)
        return not self.inbox.empty()

    def drain(self) -> None:
        """Commit and acknowledge everything received so far (used on stop)."""
        deadline = time.monotonic() + self.options.shutdown_timeout
        while True:
            batch = self._collect(first_timeout=0)
            if not batch:
                break
            self._submit(batch, deadline=deadline)
            self._finish_done(keep=max(self.options.writers - 1, 0))
        self._finish_done(keep=0)

    def _collect(self, *, first_timeout: float) -> list[Inbound]:
        """Up to batch_size messages: wait first_timeout for the first one, then max_wait for
        the rest; a stop ends the waiting (never the draining) at once."""
        batch: list[Inbound] = []
        if not self._take(batch, wait=first_timeout):
            return batch
        deadline = time.monotonic() + self.options.max_wait
        size = self.options.batch_size
        while len(batch) < size:
            if not self._take(batch, wait=deadline - time.monotonic()):
                break
        return batch

    def _take(self, batch: list[Inbound], *, wait: float) -> bool:
        """Append one message, waiting up to ``wait`` seconds; False when none came."""
        end = time.monotonic() + wait
        while True:
            try:
                batch.append(self.inbox.get_nowait())
                return True
            except queue.Empty:
                pass
            remaining = end - time.monotonic()
            if remaining <= 0 or self.stop_event.is_set():
                return False
            self.inbox.wait(min(remaining, 0.1))

    def _parse(self, batch: list[Inbound]) -> list[Parsed]:
        """What each message of the batch becomes: readings and events, or a dead letter."""
        out: list[Parsed] = []
        keep = self.options.dead_letter_max_bytes
        reader = self._reader
        topics: list[str | None] = []
        for item in batch:
            try:
                topics.append(item.topic.decode("utf-8"))
            except UnicodeDecodeError:
                topics.append(None)
        reader.prefetch([t for t in topics if t is not None])
        last = self._last_rx_us
        skipped = ignored = 0
        for item, topic in zip(batch, topics, strict=True):
            # Strictly increasing receive times, so readings without ts never collide.
            rx_us = item.received_us if item.received_us > last else last + 1
            received_at = _EPOCH + timedelta(microseconds=rx_us)
            if topic is None:
                shown = item.topic.decode("utf-8", "replace")[:TOPIC_MAX_LENGTH]
                letter = DeadLetterIn(shown, item.payload[:keep], "topic is not UTF-8", received_at)
                out.append(Parsed((), (letter,), item.payload))
                last = rx_us
                continue
            count = 1
            try:
                decoded = reader.read(
                    mqtt_topic=topic, payload=item.payload, received_at=received_at
                )
            except PayloadError as exc:
                letter = DeadLetterIn(
                    topic[:TOPIC_MAX_LENGTH], item.payload[:keep], str(exc), received_at
                )
                out.append(Parsed((), (letter,), item.payload))
            except IgnoredTopic:
                ignored += 1
            else:
                skipped += decoded.skipped
                count = max(len(decoded.readings), 1)
                if decoded.readings or decoded.events:
                    out.append(
                        Parsed(
                            tuple(decoded.readings),
                            (),
                            item.payload,
                            tuple(decoded.events),
                            item.retain,
                            received_at,
                        )
                    )
            last = rx_us + count - 1
        self._last_rx_us = last
        if ignored:
            self.stats.add("ignored", ignored)
        if skipped:
            self.stats.add("skipped", skipped)
        return out

    def _retained_filter(self, parsed: Sequence[Parsed]) -> list[ReadingIn]:
        """The batch's readings, less those of replayed retained messages that are the last
        known state of a series already holding readings (no time of their own: stamped at
        or after their receive time). A retained reading with its own time is kept: storing
        it again is a duplicate the idempotent write absorbs."""
        replayed = {
            r.topic
            for p in parsed
            if p.retained and p.rx is not None
            for r in p.readings
            if r.ts >= p.rx
        }
        if not replayed:
            return [r for p in parsed for r in p.readings]
        try:
            known = self._topics_known(replayed)
        except self._storage_error:
            raise
        except Exception as exc:  # the registry read failed: retry the batch like a write
            raise self._storage_error(f"series lookup failed: {exc}") from exc
        readings: list[ReadingIn] = []
        dropped = 0
        for p in parsed:
            if p.retained and p.rx is not None:
                for r in p.readings:
                    if r.ts >= p.rx and r.topic in known:
                        dropped += 1
                    else:
                        readings.append(r)
            else:
                readings.extend(p.readings)
        if dropped:
            self.stats.add("retained_skipped", dropped)
        return readings

    def _write(self, parsed: Sequence[Parsed], *, deadline: float | None) -> AppendResult:
        """Commit the batch; retry while the storage fails, isolate what it refuses."""
        readings = [r for p in parsed for r in p.readings]
        dead = [d for p in parsed for d in p.dead]
        events = [e for p in parsed for e in p.events]
        extra = {"events": events} if events else {}
        delay = 0.5
        while True:
            _close_stale_connections()
            try:
                readings = self._retained_filter(parsed)
                return self._append(readings=readings, dead_letters=dead, **extra)
            except self._storage_refused as exc:
                logger.warning(
                    "storage refused a batch of %d messages (%s); isolating the offending ones",
                    len(parsed),
                    exc,
                )
                return self._write_isolating(parsed, deadline=deadline)
            except self._storage_error as exc:
                self.stats.add("storage_errors")
                logger.warning(
                    "batch of %d readings not stored (%s: %s); retrying in %.1fs",
                    len(readings),
                    exc.__class__.__name__,
                    str(exc).splitlines()[0][:200] if str(exc) else "",
                    delay,
                )
            if self.stop_event.is_set():
                if deadline is None:
                    deadline = time.monotonic() + self.options.shutdown_timeout
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ShutdownIncomplete("storage unavailable at shutdown")
                time.sleep(min(delay, remaining))
            else:
                self.stop_event.wait(delay)
            delay = min(delay * 2, self.options.retry_max_delay)

    def _write_isolating(self, parsed: Sequence[Parsed], *, deadline: float | None) -> AppendResult:
        """Split a refused batch in halves until each refused message stands alone; that
        message becomes a dead letter carrying the storage's reason, the others are stored.
        About 2·log2(n) extra commits per offending message of n."""
        if len(parsed) > 1:
            middle = len(parsed) // 2
            halves = (parsed[:middle], parsed[middle:])
            results = [self._write(half, deadline=deadline) for half in halves]
            return AppendResult(
                stored=sum(r.stored for r in results),
                duplicates=sum(r.duplicates for r in results),
                dead_lettered=sum(r.dead_lettered for r in results),
            )
        (alone,) = parsed
        if not alone.readings and alone.dead:
            return self._dead_letter_last_resort(alone)
        if not alone.readings:  # availability events alone: nothing of the data to refuse
            logger.warning("storage refused the availability events of a message; dropped")
            return AppendResult(stored=0, duplicates=0, dead_lettered=0)
        first = alone.readings[0]
        exc_reason = "storage refused the message"
        try:
            self._append(readings=list(alone.readings), dead_letters=[])
        except self._storage_refused as exc:
            exc_reason = str(exc)[:255]
        else:  # accepted alone: it failed only together with another one
            return AppendResult(stored=len(alone.readings), duplicates=0, dead_lettered=0)
        letter = DeadLetterIn(
            first.topic[:TOPIC_MAX_LENGTH],
            alone.payload[: self.options.dead_letter_max_bytes],
            exc_reason,
            first.ts,
        )
        logger.warning("dead-lettered a message on %s: %s", letter.topic, exc_reason)
        return self._write([Parsed((), (letter,), alone.payload)], deadline=deadline)

    def _dead_letter_last_resort(self, alone: Parsed) -> AppendResult:
        """A dead letter the storage refused (its topic, most likely): store it with an
        ASCII-escaped topic and reason; if even that is refused, say so loudly and go on."""
        safe = [
            DeadLetterIn(
                d.topic.encode("ascii", "backslashreplace")
                .decode()
                .replace("\x00", "")[:TOPIC_MAX_LENGTH],
                d.payload,
                d.reason.encode("ascii", "backslashreplace").decode()[:255],
                d.received_at,
            )
            for d in alone.dead
        ]
        try:
            return self._append(readings=[], dead_letters=safe)
        except self._storage_error:
            self.stats.add("storage_errors")
            logger.error(
                "storage refused even the dead letter of a message on %r; acknowledged "
                "without storing it",
                safe[0].topic if safe else "?",
                exc_info=True,
            )
            return AppendResult(stored=0, duplicates=0, dead_lettered=0)

    def _submit(self, batch: list[Inbound], *, deadline: float | None) -> None:
        generation = self._generation
        current = [item for item in batch if item.generation == generation]
        if len(current) != len(batch):
            # Delivered on a connection that is gone: the broker redelivers them.
            logger.info("dropping %d messages of a lost connection", len(batch) - len(current))
            self._settled += len(batch) - len(current)
            if not current:
                return
        self.stats.add("received", len(current))
        parsed = self._parse(current)
        if self._pool is None:
            done: Future[AppendResult] = Future()
            done.set_result(self._write(parsed, deadline=deadline))
            self._in_flight.append((done, current))
        else:
            future = self._pool.submit(self._write, parsed, deadline=deadline)
            self._in_flight.append((future, current))

    def _finish_done(self, *, keep: int) -> None:
        """Acknowledge committed batches in order, waiting until at most ``keep`` remain."""
        while self._in_flight:
            future, batch = self._in_flight[0]
            if len(self._in_flight) <= keep and not future.done():
                return
            result = future.result()  # re-raises ShutdownIncomplete or a fatal error
            self._in_flight.popleft()
            self.stats.add("stored", result.stored)
            self.stats.add("duplicates", result.duplicates)
            self.stats.add("dead_lettered", result.dead_lettered)
            self.stats.add("batches")
            self.last_batch_at = datetime.now(UTC)
            self.stats.set_lag(time.time() - batch[0].received_us / 1e6)
            self._ack(batch)
            self._settled += len(batch)

    def _ack(self, batch: list[Inbound]) -> None:
        """PUBACK every QoS 1 message of the batch, in arrival order, on its own connection.

        The acks of a batch go out as one write: the same 4-byte PUBACK packets ``ack()``
        queues one at a time (each waking the network thread and costing a send), which at
        tens of thousands of messages a second is as much work as receiving them.
        """
        client = self._client
        with self._ack_lock:
            generation = self._generation
            mids = [i.mid for i in batch if i.qos == 1 and i.generation == generation]
            if not mids:
                return
            queue_packet = getattr(client, "_packet_queue", None)
            if queue_packet is None or len(mids) == 1:  # another paho: its public API
                for mid in mids:
                    client.ack(mid, 1)
                return
            pack = _PUBACK.pack
            queue_packet(PUBACK, b"".join([pack(PUBACK, 2, mid) for mid in mids]), 0, 0)
