"""Simulated devices publishing readings at QoS 1.

``python -m sensors raspberrypi|edison [--broker URL] [--ca-file CA] [--rate R] [--devices N]
[--count C]``: the device's credentials come from the URL (``mqtt[s]://name:password@host``),
``--ca-file`` is the CA that signed the broker's certificate for ``mqtts://``. Exits 1 when the
broker did not acknowledge every reading (refused login, TLS failure, broker gone).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading

from sensors.publisher import DevicePublisher, PublisherOptions
from sensors.readers import READERS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sensors", description=__doc__)
    parser.add_argument("kind", choices=sorted(READERS))
    parser.add_argument(
        "--broker",
        default=os.environ.get("MQTT_URL", "mqtt://127.0.0.1:1883"),
        help="mqtt[s]://user:pass@host:port (default: $MQTT_URL or mqtt://127.0.0.1:1883)",
    )
    parser.add_argument(
        "--ca-file",
        default=os.environ.get("MQTT_CA_FILE") or None,
        help="CA certificate(s) that signed the broker's, for mqtts:// "
        "(default: $MQTT_CA_FILE, else the system's CAs)",
    )
    parser.add_argument("--name", help="device name (prefix of -1..-N with --devices N)")
    parser.add_argument("--rate", type=float, default=1.0, help="readings/s per device; 0 = max")
    parser.add_argument("--devices", type=int, default=1, help="simulated devices of this kind")
    parser.add_argument("--count", type=int, default=0, help="readings per device; 0 = forever")
    parser.add_argument("--window", type=int, default=100, help="QoS 1 messages in flight")
    parser.add_argument("--client-id")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    if args.devices < 1 or args.rate < 0 or args.count < 0 or args.window < 1:
        parser.error("--devices and --window must be positive, --rate and --count not negative")
    if args.ca_file and not os.path.isfile(args.ca_file):
        parser.error(f"--ca-file {args.ca_file}: no such file")
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(message)s")
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    options = PublisherOptions(
        broker_url=args.broker,
        kind=args.kind,
        name=args.name,
        devices=args.devices,
        rate=args.rate,
        count=args.count,
        window=args.window,
        client_id=args.client_id,
        ca_file=args.ca_file,
    )
    publisher = DevicePublisher(options=options, stop_event=stop)
    publisher.run()
    return 1 if publisher.unacknowledged else 0


if __name__ == "__main__":
    sys.exit(main())
