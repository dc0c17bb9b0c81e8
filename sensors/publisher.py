"""Publish readings of one or more (simulated) devices at QoS 1.

What a device publishes is its firmware's (``sensors.firmware``, ``PublisherOptions.firmware``):
by default ``native``, every message ``<device>/<metric>`` with ``{"value": v, "ts": <epoch
seconds, µs>, "seq": n}``: ``ts`` strictly increases per device so the ingester stores each
reading once however often it is redelivered, and ``seq`` numbers every message of a device
from 1. The other firmwares each connect as their own client (one connection per device, as
the broker's accounts are): with their last will set, their birth messages published on
every connect, and the will published on a clean stop.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from sensors.firmware import Encoder, FirmwareOptions, Message, encoder
from sensors.readers import READERS, Reader

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PublisherOptions:
    broker_url: str = "mqtt://127.0.0.1:1883"
    kind: str = "raspberrypi"  # the reader (see sensors.readers.READERS)
    name: str | None = None  # device name (prefix when devices > 1); defaults to kind
    devices: int = 1
    rate: float = 1.0  # readings per second per device; 0 = as fast as the broker acks
    count: int = 0  # readings per device; 0 = until stopped
    window: int = 100  # QoS 1 messages in flight before waiting for acks
    client_id: str | None = None
    ca_file: str | None = None  # CA bundle for mqtts:// (None: the system's CAs)
    firmware: str = "native"  # what the device publishes (see sensors.firmware.KINDS)
    firmware_options: FirmwareOptions = FirmwareOptions()

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
    def __init__(self, *, name: str, reader: Reader, encoder: Encoder) -> None:
        self.name = name
        self.reader = reader
        self.encoder = encoder

    def messages(self) -> list[Message]:
        return self.encoder.readings(self.reader.read())


class _Connection:
    """One MQTT client and the devices publishing through it."""

    def __init__(self, publisher: DevicePublisher, devices: list[_Device], client_id: str):
        options = publisher.options
        self.publisher = publisher
        self.devices = devices
        self.client_id = client_id
        self.connected = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311
        )
        if publisher.username:
            self.client.username_pw_set(publisher.username, publisher.password)
        if publisher.tls:
            self.client.tls_set(ca_certs=options.ca_file)
        self.client.max_inflight_messages_set(options.window)
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)
        self.client.on_connect = self._on_connect
        # Only a connection of one device has a will (MQTT has one a connection).
        self.will = devices[0].encoder.will() if len(devices) == 1 else None
        if self.will is not None:
            self.client.will_set(self.will.topic, self.will.payload, qos=1, retain=self.will.retain)

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            logger.error("broker refused the connection: %s", reason_code)
            return
        logger.info("connected to %s:%s as %s", *self.publisher._address, self.client_id)
        for device in self.devices:  # what the firmware publishes on every connect
            self.publisher.send(client, device.encoder.on_connect())
        self.connected.set()


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
        self.devices = []
        for name in options.device_names():
            reader = factory(name)
            device_encoder = encoder(
                options.firmware,
                name=name,
                metrics=reader.metrics,
                options=options.firmware_options,
            )
            self.devices.append(_Device(name=name, reader=reader, encoder=device_encoder))
        self.published = 0
        self.unacknowledged = 0  # after run(): messages the broker never acknowledged
        self._inflight: deque[mqtt.MQTTMessageInfo] = deque()
        self._count_lock = threading.Lock()
        host, port, self.username, self.password, self.tls = broker_address(options.broker_url)
        self._address = (host, port)
        if options.firmware == "native":  # all devices on one connection, as always
            client_id = options.client_id or f"sensors-{self.devices[0].name}-{len(self.devices)}"
            self.connections = [_Connection(self, self.devices, client_id)]
        else:  # a device of its own firmware: its own connection, will and births
            self.connections = [
                _Connection(self, [device], self._client_id(i, device))
                for i, device in enumerate(self.devices, start=1)
            ]
        self._routes = {id(d): c for c in self.connections for d in c.devices}
        self.client = self.connections[0].client

    def _client_id(self, index: int, device: _Device) -> str:
        if self.options.client_id:
            return (
                self.options.client_id
                if len(self.devices) == 1
                else f"{self.options.client_id}-{index}"
            )
        return f"sensors-{device.name}"

    def send(self, client: mqtt.Client, messages: Sequence[Message]) -> None:
        for message in messages:
            info = client.publish(message.topic, message.payload, qos=1, retain=message.retain)
            self._inflight.append(info)
            with self._count_lock:
                self.published += 1

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

    def publish(self, device: _Device, messages: Sequence[Message]) -> None:
        self.send(self._routes[id(device)].client, messages)
        self._wait_window(self.options.window * 2)

    def run(self) -> int:
        """Publish until count or stop; wait for the broker to acknowledge; return how many."""
        host, port = self._address
        for connection in self.connections:
            connection.client.connect_async(host, port, keepalive=30)
            connection.client.loop_start()
        try:
            deadline = time.monotonic() + 30
            for connection in self.connections:
                connection.connected.wait(timeout=max(0.0, deadline - time.monotonic()))
            interval = 1.0 / self.options.rate if self.options.rate > 0 else 0.0
            start = time.monotonic()
            cycle = 0
            while not self.stop_event.is_set():
                if self.options.count and cycle >= self.options.count:
                    break
                for device in self.devices:
                    self.publish(device, device.messages())
                cycle += 1
                if interval:
                    delay = start + cycle * interval - time.monotonic()
                    if delay > 0:
                        self.stop_event.wait(delay)
            for device in self.devices:  # what a batching firmware still holds
                self.publish(device, device.encoder.flush())
            for connection in self.connections:  # a clean stop announces itself, as firmware does
                if connection.will is not None:
                    self.send(connection.client, [connection.will])
            if not self._wait_window(0, timeout=30):
                self.unacknowledged = len(self._inflight)
                logger.warning("%d messages not acknowledged by the broker", self.unacknowledged)
        finally:
            for connection in self.connections:
                connection.client.disconnect()
                connection.client.loop_stop()
        logger.info("published %d messages for %d devices", self.published, len(self.devices))
        return self.published
