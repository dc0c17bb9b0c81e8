"""Simulated devices publishing readings at QoS 1.

``python -m sensors raspberrypi|edison [--kind KIND] [--broker URL] [--ca-file CA] [--rate R]
[--devices N] [--count C]``: the reader makes the values, ``--kind`` the firmware whose topics
and payloads carry them (``native``, the default, or tasmota, esphome, shelly, zigbee2mqtt,
owntracks, sparkplug, senml; see ``sensors.firmware``). The device's credentials come from
the URL (``mqtt[s]://name:password@host``), ``--ca-file`` is the CA that signed the broker's
certificate for ``mqtts://``. Exits 1 when the broker did not acknowledge every message
(refused login, TLS failure, broker gone).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sensors.firmware import KINDS, FirmwareOptions
from sensors.publisher import DevicePublisher, PublisherOptions
from sensors.readers import READERS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sensors", description=__doc__)
    parser.add_argument("kind", choices=sorted(READERS), help="the reader making the values")
    parser.add_argument(
        "--kind",
        dest="firmware",
        choices=list(KINDS),
        default="native",
        help="the firmware whose topics and payloads the device publishes (default: native)",
    )
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
    defaults = FirmwareOptions()
    parser.add_argument("--tz", default=defaults.tz, help="tasmota: zone of its local Time")
    parser.add_argument(
        "--friendly-name", default=defaults.friendly_name, help="zigbee2mqtt: the end device"
    )
    parser.add_argument("--phone", default=defaults.phone, help="owntracks: the device id")
    parser.add_argument("--group", default=defaults.group, help="sparkplug: the group id")
    parser.add_argument(
        "--batch", type=int, default=defaults.batch, help="senml: readings per SenML pack"
    )
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    if args.devices < 1 or args.rate < 0 or args.count < 0 or args.window < 1:
        parser.error("--devices and --window must be positive, --rate and --count not negative")
    if args.ca_file and not os.path.isfile(args.ca_file):
        parser.error(f"--ca-file {args.ca_file}: no such file")
    if args.batch < 1:
        parser.error("--batch must be positive")
    try:
        ZoneInfo(args.tz)
    except (ZoneInfoNotFoundError, ValueError):
        parser.error(f"--tz {args.tz}: not a time zone")
    for option, levels in (("friendly_name", True), ("phone", False), ("group", False)):
        value = getattr(args, option)
        parts = value.split("/") if levels else [value]
        if not all(parts) or set(value) & set("+#" if levels else "/+#"):
            what = "topic levels" if levels else "a topic level"
            parser.error(f"--{option.replace('_', '-')} {value!r}: not {what}")
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
        firmware=args.firmware,
        firmware_options=FirmwareOptions(
            tz=args.tz,
            friendly_name=args.friendly_name,
            phone=args.phone,
            group=args.group,
            batch=args.batch,
        ),
    )
    publisher = DevicePublisher(options=options, stop_event=stop)
    publisher.run()
    return 1 if publisher.unacknowledged else 0


if __name__ == "__main__":
    sys.exit(main())
