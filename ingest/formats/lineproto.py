"""InfluxDB line protocol (Telegraf's MQTT output, ``data_format = "influx"``):
``<measurement>[,<tag>=<value>...] <field>=<value>[,...] [<time>]``, one point per line.

Each field becomes a series ``<topic series>[.<measurement>][.<tag>=<value>...].<field>``:
the measurement level is left out when the topic already ends with it (Telegraf's topic
template ends with the plugin name), tags are kept as levels in key order except ``host``
(Telegraf's default tag naming the machine, which is the device). Integers, floats and
booleans are numbers (booleans 1/0), strings text; the time is nanoseconds by default,
read by magnitude like every epoch time. Parsed by ``line-protocol-parser``.
https://docs.influxdata.com/influxdb/v2/reference/syntax/line-protocol/
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from line_protocol_parser import LineFormatError, parse_line

from ingest.formats.jsonshape import key_level
from ingest.formats.values import Decoded, PayloadError, epoch_time

# measurement[,tags] field=...: what tells a line-protocol payload from a bare text.
_LOOKS_LIKE = re.compile(r"[^\s,=\"#][^\s,]*(?:,\S+)?[ \t]+[^\s=,]+=\S")
_ONE_MICROSECOND = timedelta(microseconds=1)
_DROPPED_TAGS = frozenset(("host",))


def looks_like(text: str) -> bool:
    """True when the first line that is not a comment has the shape of a point."""
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            return _LOOKS_LIKE.match(line) is not None
    return False


def decode(out: Decoded, *, series: str, text: str, received_at: datetime) -> None:
    last_level = series.rsplit(".", 1)[-1]
    index = 0
    for number, raw_line in enumerate(text.splitlines(), start=1):
        line = raw_line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            point = parse_line(line)
        except (LineFormatError, ValueError, OverflowError) as exc:
            raise PayloadError(f"line protocol, line {number}: {exc}") from None
        measurement = key_level(point["measurement"])
        levels = [series] if measurement == last_level else [series, measurement]
        tags = point["tags"]
        levels += [
            f"{key_level(key)}={key_level(tags[key])}"
            for key in sorted(tags)
            if key not in _DROPPED_TAGS
        ]
        prefix = ".".join(levels)
        raw_time = point["time"]
        ts = (
            epoch_time(raw_time) if raw_time is not None else received_at + index * _ONE_MICROSECOND
        )
        index += 1
        for field, value in point["fields"].items():
            target = f"{prefix}.{key_level(field)}"
            if isinstance(value, str):
                out.add_text(target, value, ts)
            else:
                out.add(target, value, ts)
