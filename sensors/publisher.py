"""Publish readings of one or more (simulated) devices at QoS 1.

Every message is ``<device>/<metric>`` with ``{"value": v, "ts": <epoch seconds, µs>,
"seq": n}``: ``ts`` strictly increases per device so the ingester stores each reading once
however often it is redelivered, and ``seq`` numbers every message of a device from 1.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from sensors.readers import READERS, Reader

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PublisherOptions:
    broker_url: str = "mqtt://127.0.0.1:1883"
    kind: str = "raspberrypi"
    name: str | None = None  # device name (prefix when devices > 1); defaults to kind
    devices: int = 1
    rate: float = 1.0  # readings per second per device; 0 = as fast as the broker acks
    count: int = 0  # readings per device; 0 = until stopped
    window: int = 100  # QoS 1 messages in flight before waiting for acks
    client_id: str | None = None
    ca_file: str | None = None  # CA bundle for mqtts:// (None: the system's CAs)

    def device_names(self) -> list[str]:
        base = self.name or self.kind
        if self.devices == 1:
            return [base]
        return [f"{base}-{i}" for i in range(1, self.devices + 1)]


def broker_address(url: str) -> tuple[str, int, str | None, str | None, bool]:
    """``mqtt[s]://user:pass@host:port`` -> (host, port, username, password, tls)."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts"):
        raise ValueError(f"broker URL must start with mqtt:// or mqtts://, got {url!r}")
    tls = parts.scheme == "mqtts"
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    return (
        parts.hostname or "127.0.0.1",
        parts.port or (8883 if tls else 1883),
        username,
        password,
        tls,
    )


class _Device:
    def __init__(self, *, name: str, reader: Reader) -> None:
        self.name = name
        self.reader = reader
        self.seq = 0
        self.last_us = 0
        self.topics = {metric: f"{name}/{metric}" for metric in reader.metrics}

    def messages(self) -> list[tuple[str, bytes]]:
        out = []
        for metric, value in self.reader.read().items():
            now_us = time.time_ns() // 1000
            self.last_us = now_us if now_us > self.last_us else self.last_us + 1
            self.seq += 1
            body = {"value": value, "ts": self.last_us / 1e6, "seq": self.seq}
            out.append((self.topics[metric], json.dumps(body).encode()))
        return out


class DevicePublisher:
    """Publishes ``options.count`` readings per device (or until ``stop_event``)."""

    def __init__(
        self,
        *,
        options: PublisherOptions,
        stop_event: threading.Event | None = None,
        reader_factory: Callable[[str], Reader] | None = None,
    ) -> None:
        self.options = options
        self.stop_event = stop_event or threading.Event()
        factory = reader_factory or (lambda name: READERS[options.kind]())
        self.devices = [_Device(name=n, reader=factory(n)) for n in options.device_names()]
        self.published = 0
        self.unacknowledged = 0  # after run(): messages the broker never acknowledged
        self._inflight: deque[mqtt.MQTTMessageInfo] = deque()
        host, port, username, password, tls = broker_address(options.broker_url)
        client_id = options.client_id or f"sensors-{self.devices[0].name}-{len(self.devices)}"
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311
        )
        if username:
            self.client.username_pw_set(username, password)
        if tls:
            self.client.tls_set(ca_certs=options.ca_file)
        self.client.max_inflight_messages_set(options.window)
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)
        self.client.on_connect = self._on_connect
        self._connected = threading.Event()
        self._address = (host, port)

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            logger.error("broker refused the connection: %s", reason_code)
            return
        logger.info("connected to %s:%s", *self._address)
        self._connected.set()

    def _wait_window(self, limit: int, *, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        while len(self._inflight) > limit:
            info = self._inflight[0]
            if info.is_published():
                self._inflight.popleft()
                continue
            if deadline is not None and time.monotonic() > deadline:
                return False
            if self.stop_event.is_set() and deadline is None:
                deadline = time.monotonic() + 10
            time.sleep(0.0005)
        return True

    def publish(self, batch: Sequence[tuple[str, bytes]]) -> None:
        for topic, payload in batch:
            self._inflight.append(self.client.publish(topic, payload, qos=1))
            self.published += 1
        self._wait_window(self.options.window * 2)

    def run(self) -> int:
        """Publish until count or stop; wait for the broker to acknowledge; return how many."""
        host, port = self._address
        self.client.connect_async(host, port, keepalive=30)
        self.client.loop_start()
        try:
            self._connected.wait(timeout=30)
            interval = 1.0 / self.options.rate if self.options.rate > 0 else 0.0
            start = time.monotonic()
            cycle = 0
            while not self.stop_event.is_set():
                if self.options.count and cycle >= self.options.count:
                    break
                for device in self.devices:
                    self.publish(device.messages())
                cycle += 1
                if interval:
                    delay = start + cycle * interval - time.monotonic()
                    if delay > 0:
                        self.stop_event.wait(delay)
            if not self._wait_window(0, timeout=30):
                self.unacknowledged = len(self._inflight)
                logger.warning("%d messages not acknowledged by the broker", self.unacknowledged)
        finally:
            self.client.disconnect()
            self.client.loop_stop()
        logger.info("published %d messages for %d devices", self.published, len(self.devices))
        return self.published
