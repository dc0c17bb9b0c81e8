"""``ingest.readahead``: the socket reader under paho, on a socket pair and a real Mosquitto."""

from __future__ import annotations

import select
import socket
import threading

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from ingest.readahead import CHUNK_BYTES, ReadAheadClient, ReadAheadSocket
from ingest.tests.conftest import publish, unique, wait_until


@pytest.fixture
def pair():
    left, right = socket.socketpair()
    right.setblocking(False)
    yield left, right
    left.close()
    right.close()


class CountingSocket:
    """A socket that counts its ``recv`` calls (to see how many reads reach the kernel)."""

    def __init__(self, sock) -> None:
        self.sock = sock
        self.recv_calls = 0

    def recv(self, bufsize: int) -> bytes:
        self.recv_calls += 1
        return self.sock.recv(bufsize)

    def __getattr__(self, name):
        return getattr(self.sock, name)


def test_small_reads_come_from_one_socket_read(pair):
    left, right = pair
    counting = CountingSocket(right)
    reader = ReadAheadSocket(counting)
    left.sendall(b"\x30\x05hello" * 3)

    assert reader.recv(1) == b"\x30"
    assert reader.buffered == reader.pending() == 20
    assert reader.recv(1) == b"\x05"
    assert reader.recv(5) == b"hello"
    assert reader.recv(100) == b"\x30\x05hello\x30\x05hello"  # the rest, not more
    assert counting.recv_calls == 1
    assert reader.pending() == 0


def test_empty_socket_raises_and_closed_socket_answers_empty(pair):
    left, right = pair
    reader = ReadAheadSocket(right)
    with pytest.raises(BlockingIOError):
        reader.recv(1)
    left.sendall(b"ab")
    assert reader.recv(1) == b"a"
    left.close()
    assert reader.recv(1) == b"b"  # buffered bytes first
    assert reader.recv(1) == b""  # then the peer's close, as the socket reports it


def test_a_body_larger_than_the_buffer_arrives_whole_and_in_order(pair):
    left, right = pair
    reader = ReadAheadSocket(right)
    body = bytes(range(256)) * (3 * CHUNK_BYTES // 256 + 7)  # three chunks and a bit
    sender = threading.Thread(target=left.sendall, args=(body,))
    sender.start()
    select.select([reader], [], [], 5)  # the reader is selectable like the socket
    got = bytearray(reader.recv(1))  # a small read first: the rest of its chunk is buffered
    while len(got) < len(body):
        try:
            got += reader.recv(len(body) - len(got))
        except BlockingIOError:
            select.select([reader], [], [], 5)
    sender.join()
    assert bytes(got) == body
    assert reader.buffered == 0


def test_everything_else_goes_to_the_socket(pair):
    left, right = pair
    reader = ReadAheadSocket(right)
    assert reader.fileno() == right.fileno()
    assert reader.send(b"x") == 1  # delegated
    assert left.recv(1) == b"x"


def _session_properties() -> Properties:
    properties = Properties(PacketTypes.CONNECT)
    properties.SessionExpiryInterval = 300
    return properties


def test_client_drains_a_queued_burst_in_order_with_few_reads(broker):
    """1,000 QoS 1 messages queued for an offline persistent session arrive complete and in
    order, read from the socket in far fewer reads than messages."""
    host, port = "127.0.0.1", broker.port
    client_id, topic = unique("ra"), f"{unique('dev')}/seq"

    first = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    first.connect(host, port, clean_start=False, properties=_session_properties())
    first.loop_start()
    subscribed = threading.Event()
    first.on_subscribe = lambda *args: subscribed.set()
    first.subscribe(topic, qos=1)
    assert subscribed.wait(10)
    first.disconnect()
    first.loop_stop()

    count = 1000
    publish(broker.url, [(topic, str(i)) for i in range(count)], window=200)

    received: list[int] = []
    sockets: list[CountingSocket] = []

    class Counting(ReadAheadClient):
        def _create_socket(self):
            sock = super()._create_socket()
            counting = CountingSocket(sock._sock)
            sock._sock = counting
            sockets.append(counting)
            return sock

    client = Counting(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client.on_message = lambda c, u, message: received.append(int(message.payload))
    client.connect(host, port, clean_start=False, properties=_session_properties())
    client.loop_start()
    try:
        assert wait_until(lambda: len(received) >= count, timeout=30)
    finally:
        client.disconnect()
        client.loop_stop()
    assert received == list(range(count))
    assert sockets[0].recv_calls < count // 10
