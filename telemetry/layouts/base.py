"""What a layout answers about a topic; standard library only."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

DATA = "data"
AVAILABILITY = "availability"
IGNORE = "ignore"


@dataclass(frozen=True, slots=True)
class Route:
    """A topic as the ingester reads it.

    ``series`` is the series prefix of its readings (the device name, then the topic's
    remaining levels); ``source`` names a sub-device (availability of a Zigbee end device);
    ``codec`` picks a layout decoder (``""``: the payload is recognised by shape);
    ``detail`` is the codec's own information (the Sparkplug message type).
    """

    device: str
    role: str
    series: str = ""
    source: str = ""
    codec: str = ""
    detail: str = ""


@dataclass(slots=True)
class Shaped:
    """A firmware's JSON object reduced to what the generic flattening reads: ``data``
    (what becomes series), its own ``time`` (or ``None``), the ``units`` of leaf keys
    (by the key's own name), and ``ignore`` when the message holds no readings at all."""

    data: object
    time: object = None
    units: Mapping[str, str] = field(default_factory=dict)
    ignore: bool = False
    online: bool | None = None


def level(text: str) -> str:
    """A topic level or key as a series level: a ``.`` inside it becomes ``_``."""
    return text.replace(".", "_") if "." in text else text


def series_of(name: str, levels: Sequence[str]) -> str:
    """``name`` followed by ``levels``, joined by ``.``."""
    if not levels:
        return name
    return ".".join([name, *(level(part) for part in levels)])
