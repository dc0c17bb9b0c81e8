"""JSON payloads by shape (DESIGN.md, "Devices and MQTT"):

- a JSON number, string or boolean is one value (the bare-value rules of ``values``);
- ``{"value": x, "ts": ...[, "seq": n]}`` is one reading (the original format);
- ThingsBoard's ``{"ts": ms, "values": {...}}``;
- any other object is flattened: keys joined by ``.`` (a ``.`` or ``/`` inside a key becomes
  ``_``), array items by index; a top-level ``ts``, ``Time``, ``tst`` or ``timestamp`` is the
  time of all its values and ``seq`` is ignored; a nested ``{value, ts}`` keeps its own time;
- an array is readings: its items (objects or values) in order, each without a time of its
  own at the receive time plus its index in microseconds, or a SenML pack (``senml``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta, tzinfo

from ingest.formats import senml
from ingest.formats.values import Decoded, PayloadError, text_check, time_read

_READING_KEYS = frozenset(("value", "ts", "seq"))
_TIME_KEYS = ("ts", "Time", "tst", "timestamp")
_THINGSBOARD_KEYS = frozenset(("ts", "values"))
_MAX_DEPTH = 32
_ONE_MICROSECOND = timedelta(microseconds=1)
_NO_UNITS: Mapping[str, str] = {}


def key_level(key: object) -> str:
    """A JSON key as a series level."""
    if not isinstance(key, str) or key == "":
        raise PayloadError("object keys must be non-empty strings")
    text_check(key, what="key")
    if "." in key or "/" in key:
        key = key.replace(".", "_").replace("/", "_")
    return key


def decode(
    out: Decoded,
    *,
    series: str,
    data: object,
    ts: datetime,
    tz: tzinfo,
    received_at: datetime,
    units: Mapping[str, str] = _NO_UNITS,
) -> None:
    """Append what ``data`` (a decoded JSON document) holds on ``series`` to ``out``."""
    if isinstance(data, list):
        if not data:
            out.skipped += 1
            return
        if senml.is_pack(data):
            senml.decode(out, series=series, pack=data, received_at=received_at)
            return
        for index, item in enumerate(data):
            item_ts = ts + _ONE_MICROSECOND * index if index else ts
            if isinstance(item, list):
                raise PayloadError("an array of readings may not hold arrays")
            if isinstance(item, dict):
                _object(out, series, item, item_ts, tz, units)
            else:
                out.add(series, item, item_ts)
        return
    if isinstance(data, dict):
        _object(out, series, data, ts, tz, units)
        return
    out.add(series, data, ts)


def _object(
    out: Decoded,
    series: str,
    obj: dict,
    ts: datetime,
    tz: tzinfo,
    units: Mapping[str, str],
) -> None:
    keys = obj.keys()
    if keys <= _READING_KEYS:
        if "value" not in obj:
            raise PayloadError("reading object has no value")
        own = time_read(obj["ts"], tz=tz) if "ts" in obj else ts
        out.add(series, obj["value"], own, units.get(series.rsplit(".", 1)[-1]))
        return
    if keys == _THINGSBOARD_KEYS and isinstance(obj["values"], dict):
        _flatten(out, series, obj["values"], time_read(obj["ts"], tz=tz), tz, units, 0)
        return
    rest = obj
    for key in _TIME_KEYS:
        if key in obj:
            ts = time_read(obj[key], tz=tz)
            rest = {k: v for k, v in obj.items() if k != key}
            break
    if "seq" in rest:
        rest = {k: v for k, v in rest.items() if k != "seq"}
    before = len(out.readings) + out.skipped
    _flatten(out, series, rest, ts, tz, units, 0)
    if len(out.readings) + out.skipped == before:
        raise PayloadError("object holds no readings")


def _flatten(
    out: Decoded,
    series: str,
    obj: dict,
    ts: datetime,
    tz: tzinfo,
    units: Mapping[str, str],
    depth: int,
    inherited: str | None = None,
) -> None:
    """Flatten ``obj`` onto ``series``; a unit named for a key applies to every value under
    it (Tasmota's ``SpeedUnit`` to ``{"Speed": {"Act": ..., "Avg": ...}}``)."""
    if depth >= _MAX_DEPTH:
        raise PayloadError(f"JSON nested deeper than {_MAX_DEPTH} levels")
    for key, raw in obj.items():
        sub = f"{series}.{key_level(key)}"
        unit = units.get(key, inherited)
        if isinstance(raw, dict):
            if raw and raw.keys() <= _READING_KEYS and "value" in raw:
                own = time_read(raw["ts"], tz=tz) if "ts" in raw else ts
                out.add(sub, raw["value"], own, unit)
            else:
                _flatten(out, sub, raw, ts, tz, units, depth + 1, unit)
        elif isinstance(raw, list):
            _flatten(out, sub, _array_keys(raw), ts, tz, units, depth + 1, unit)
        else:
            out.add(sub, raw, ts, unit)


def _array_keys(items: list) -> dict[str, object]:
    return {str(index): item for index, item in enumerate(items)}
