"""A paho client that reads the broker's socket in large chunks.

paho-mqtt 2.x reads every incoming packet with three ``recv`` calls (the command byte, the
remaining length one byte at a time, then the body) and handles one packet per ``select``.
At tens of thousands of small PUBLISH packets a second that is four system calls a message,
and each one releases the GIL, so the network thread queues behind the ingester's writer
thread again and again. ``ReadAheadClient`` wraps the socket in ``ReadAheadSocket``, which
answers those small reads from a 64 KiB buffer, and keeps handling packets while whole ones
are buffered: one ``recv`` then serves hundreds of messages.

paho's own loop supports this: before ``select`` it asks the socket for ``pending()`` bytes
(the hook it has for TLS sockets, which buffer too) and reads without waiting when there are
some, so a buffered packet is never left waiting for the next network event.
"""

from __future__ import annotations

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode

CHUNK_BYTES = 65536
# Packets handled in one loop_read while whole ones are buffered, before paho's loop gets its
# turn again (to write queued acknowledgements and keep the connection alive).
MAX_PACKETS_PER_READ = 2000


class ReadAheadSocket:
    """A connected socket (plain or TLS) whose ``recv`` reads ahead ``CHUNK_BYTES`` at a time.

    Everything except ``recv`` and ``pending`` goes to the wrapped socket, so paho can
    ``select`` on it, write to it and close it as it would the socket itself.
    """

    __slots__ = ("_sock", "_buffer", "_pos")

    def __init__(self, sock) -> None:
        self._sock = sock
        self._buffer = b""
        self._pos = 0

    @property
    def buffered(self) -> int:
        """Bytes read from the network and not yet returned by ``recv``."""
        return len(self._buffer) - self._pos

    def recv(self, bufsize: int) -> bytes:
        """Up to ``bufsize`` bytes: from the buffer when it holds any, else from one read of
        the socket (which raises ``BlockingIOError`` when nothing has arrived, and returns
        ``b""`` when the peer closed, exactly like the socket)."""
        pos = self._pos
        buffer = self._buffer
        if pos >= len(buffer):
            data = self._sock.recv(max(bufsize, CHUNK_BYTES))
            if len(data) <= bufsize:
                return data
            self._buffer, self._pos = data, bufsize
            return data[:bufsize]
        end = pos + bufsize
        if end >= len(buffer):
            self._buffer, self._pos = b"", 0
            return buffer[pos:] if pos else buffer
        self._pos = end
        return buffer[pos:end]

    def pending(self) -> int:
        """What paho's loop checks before ``select``: bytes readable without waiting."""
        inner = getattr(self._sock, "pending", None)
        return self.buffered + (inner() if inner is not None else 0)

    def fileno(self) -> int:
        return self._sock.fileno()

    def __getattr__(self, name: str):
        return getattr(self._sock, name)


class ReadAheadClient(mqtt.Client):
    """``paho.mqtt.client.Client`` reading through ``ReadAheadSocket`` (TCP and TLS; the
    websocket transport keeps paho's own socket)."""

    def _create_socket(self):
        sock = super()._create_socket()
        if self._transport == "websockets":
            return sock
        return ReadAheadSocket(sock)

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        rc = super().loop_read(max_packets)
        for _ in range(MAX_PACKETS_PER_READ):
            sock = self._sock
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS or not isinstance(sock, ReadAheadSocket):
                break
            if not sock.buffered:
                break
            rc = super().loop_read(max_packets)
        return rc
