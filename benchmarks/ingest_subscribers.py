"""The two reference consumers of the ingest benchmark, each run as its own process:

``ceiling``: a paho subscriber that acknowledges and discards (what paho alone can drain);
``naive``: the original design, one INSERT (one transaction) per message from the callback.

    python -m benchmarks.ingest_subscribers ceiling|naive --broker URL --client-id ID
        --expect N [--database-url postgres://...] [--receive-maximum R]

Both resume the persistent session the benchmark pre-loaded and print one JSON line:
``{"connected": <epoch s>, "done": <epoch s>, "received": n}``.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from datetime import UTC, datetime
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from ingest.readahead import ReadAheadClient


def _client(args, on_message) -> tuple[mqtt.Client, dict, threading.Event]:
    state = {"connected": None, "done": None, "received": 0, "connects": 0}
    finished = threading.Event()
    client_class = ReadAheadClient if args.mode == "ceiling-readahead" else mqtt.Client
    client = client_class(
        CallbackAPIVersion.VERSION2, client_id=args.client_id, protocol=mqtt.MQTTv5
    )

    def on_connect(client, userdata, flags, reason_code, properties):
        state["connects"] += 1
        if state["connected"] is None:  # timed from the first connection
            state["connected"] = time.time()

    seen: set[bytes] = set()  # a redelivery after a reconnect must not count twice

    def handle(client, userdata, message):
        on_message(message)
        state["received"] += 1
        seen.add(message.payload)
        if len(seen) >= args.expect and not finished.is_set():
            state["done"] = time.time()
            finished.set()

    client.on_connect = on_connect
    client.on_message = handle
    return client, state, finished


def _connect(client: mqtt.Client, args) -> None:
    parts = urlsplit(args.broker)
    properties = Properties(PacketTypes.CONNECT)
    properties.SessionExpiryInterval = 3600
    properties.ReceiveMaximum = args.receive_maximum
    client.connect(parts.hostname, parts.port or 1883, clean_start=False, properties=properties)


def run(args) -> dict:
    if args.mode == "naive":
        import psycopg2

        conn = psycopg2.connect(args.database_url)
        conn.autocommit = True  # one transaction per message, as the original design did
        cursor = conn.cursor()

        def on_message(message):
            body = json.loads(message.payload)
            cursor.execute(
                "INSERT INTO telemetry_reading (topic, ts, value, text) VALUES (%s, %s, %s, NULL) "
                "ON CONFLICT DO NOTHING",
                (
                    message.topic.replace("/", "."),
                    datetime.fromtimestamp(body["ts"], tz=UTC),
                    float(body["value"]),
                ),
            )
    else:

        def on_message(message):
            pass

    client, state, finished = _client(args, on_message)
    _connect(client, args)
    client.loop_start()
    finished.wait(timeout=args.timeout)
    client.disconnect()
    client.loop_stop()
    return state


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=("ceiling", "ceiling-readahead", "naive"))
    parser.add_argument("--broker", required=True)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--expect", type=int, required=True)
    parser.add_argument("--database-url")
    parser.add_argument("--receive-maximum", type=int, default=10000)
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args(argv)
    state = run(args)
    sys.stdout.write(json.dumps(state) + "\n")
    return 0 if state["done"] else 1


if __name__ == "__main__":
    sys.exit(main())
