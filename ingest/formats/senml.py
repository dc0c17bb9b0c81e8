"""SenML JSON (RFC 8428): a pack is an array of records; base fields (``bn``, ``bt``, ``bu``,
``bv``) apply to the records after them; a record's name is ``bn`` + ``n``, its time
``bt`` + ``t`` (seconds; below 2^28 relative to now, RFC 8428 section 4.5.3), its value
``v`` (+ ``bv``), ``vs`` (text) or ``vb`` (boolean); ``vd`` (data) and ``s`` (sums) are skipped.
A name's ``/`` separates series levels like a ``.`` does. https://www.rfc-editor.org/rfc/rfc8428
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from ingest.formats.values import Decoded, PayloadError, epoch_time, text_check

LABELS = frozenset(
    ("bn", "bt", "bu", "bv", "bs", "bver", "n", "u", "v", "vs", "vb", "vd", "s", "t", "ut")
)
_MARKS = frozenset(("bn", "n", "v", "vs", "vb", "vd", "s", "bt", "bu", "bv"))
_RELATIVE_LIMIT = 2**28
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def is_pack(data: list) -> bool:
    """True when every item of the array is a SenML record and one at least names or
    carries a value (so ``[{"value": 1}]``, the original format, is not one)."""
    marked = False
    for item in data:
        if not isinstance(item, dict) or not item.keys() <= LABELS:
            return False
        marked = marked or not _MARKS.isdisjoint(item)
    return marked


def _number(record: dict, key: str, default: float = 0.0) -> float:
    raw = record.get(key, default)
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        raise PayloadError(f"SenML {key!r} must be a finite number")
    return raw


def _time(seconds: float, received_at: datetime) -> datetime:
    try:
        if abs(seconds) < _RELATIVE_LIMIT:
            return received_at + timedelta(seconds=seconds)
        return epoch_time(seconds) if seconds < 1e11 else _EPOCH + timedelta(seconds=seconds)
    except OverflowError:
        raise PayloadError("SenML time is out of range") from None


def _units_per_name(pack: list) -> set[str]:
    """Names a pack uses with more than one unit (RFC 8428 section 5.1.3: one name, the
    unit telling humidity, longitude and latitude apart): those get the unit as a level."""
    base_name, base_unit = "", None
    seen: dict[str, set] = {}
    for record in pack:
        if isinstance(record.get("bn"), str):
            base_name = record["bn"]
        if "bu" in record:
            base_unit = record["bu"]
        name = record.get("n", "")
        if isinstance(name, str):
            seen.setdefault(base_name + name, set()).add(record.get("u", base_unit))
    return {name for name, units in seen.items() if len(units - {None}) > 1}


def decode(out: Decoded, *, series: str, pack: list, received_at: datetime) -> None:
    split_by_unit = _units_per_name(pack)
    base_name = ""
    base_time = 0.0
    base_unit: str | None = None
    base_value = 0.0
    for record in pack:
        if "bn" in record:
            if not isinstance(record["bn"], str):
                raise PayloadError("SenML 'bn' must be a string")
            base_name = record["bn"]
        if "bt" in record:
            base_time = _number(record, "bt")
        if "bu" in record:
            base_unit = record["bu"] if isinstance(record["bu"], str) else None
        if "bv" in record:
            base_value = _number(record, "bv")
        name = record.get("n", "")
        if not isinstance(name, str):
            raise PayloadError("SenML 'n' must be a string")
        name = base_name + name
        has_value = not {"v", "vs", "vb"}.isdisjoint(record)
        if not has_value:
            if name or "vd" in record or "s" in record:
                out.skipped += 1  # data values, sums and records holding only base fields
            continue
        if not name:
            raise PayloadError("SenML record has no name (n or bn)")
        text_check(name, what="SenML name")
        levels = name.replace("/", ".")
        ts = _time(base_time + _number(record, "t"), received_at)
        unit = record.get("u", base_unit)
        target = f"{series}.{levels}"
        if name in split_by_unit and isinstance(unit, str) and unit:
            target = f"{target}.{unit.replace('.', '_').replace('/', '_')}"
        if "v" in record:
            out.add(target, _number(record, "v") + base_value, ts, unit)
        elif "vs" in record:
            if not isinstance(record["vs"], str):
                raise PayloadError("SenML 'vs' must be a string")
            text_check(record["vs"], what="SenML text value")
            out.add_text(target, record["vs"], ts, unit)
        else:
            if not isinstance(record["vb"], bool):
                raise PayloadError("SenML 'vb' must be a boolean")
            out.add(target, record["vb"], ts, unit)
