"""Device layouts (DESIGN.md, "Devices and MQTT"): one module per device ``kind``.

A layout is data plus at most a small decoder, in one module:

- ``FIXED_FIRST_LEVELS``: first topic levels it fixes (``tele``, ``shellies``; no device may
  be named like one) and ``NAME_LEVEL``: where its prefixed topics put the device name;
- ``publish_topics(name)`` / ``subscribe_topics(name)``: the broker ACL of a device;
- ``route(name, levels)``: what a topic of that device is (data on a series, availability,
  or to ignore: commands, metadata);
- optionally ``shape(route, data)``: a firmware's JSON as the generic flattening reads it
  (its time field, units, keys that are not series).

The registry (kinds accepted by ``POST /devices``, reserved names, the topics shown to the
owner), the broker ACLs (``ingest.broker_accounts``) and the ingester's routing all read it
here, so adding a kind is one module and one line below. It lives in telemetry because
telemetry may not import ingest and both need it; it imports nothing but the standard library.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import ModuleType

from telemetry.layouts import (
    esphome,
    native,
    owntracks,
    shelly,
    sparkplug,
    tasmota,
    zigbee2mqtt,
)
from telemetry.layouts.base import AVAILABILITY, DATA, IGNORE, Route, Shaped

LAYOUTS: dict[str, ModuleType] = {
    "native": native,
    "tasmota": tasmota,
    "esphome": esphome,
    "shelly": shelly,
    "zigbee2mqtt": zigbee2mqtt,
    "owntracks": owntracks,
    "sparkplug": sparkplug,
}
DEFAULT_KIND = "native"
# Prefixes some firmware publishes under without being a layout of ours (Home Assistant
# discovery): no device may be named like them and their topics are metadata.
_PREFIX_LAYOUT: dict[str, ModuleType] = {
    level: layout for layout in LAYOUTS.values() for level in layout.FIXED_FIRST_LEVELS
}

__all__ = [
    "AVAILABILITY",
    "DATA",
    "DEFAULT_KIND",
    "IGNORE",
    "LAYOUTS",
    "Route",
    "Shaped",
    "device_topics",
    "fixed_first_levels",
    "topic_route",
]


def device_topics(*, kind: str, name: str) -> tuple[list[str], list[str]]:
    """(topic filters the device may publish to, filters it may subscribe to)."""
    layout = LAYOUTS[kind]
    return layout.publish_topics(name), layout.subscribe_topics(name)


def fixed_first_levels() -> set[str]:
    """First topic levels some layout fixes (``tele``, ``shellies``, ...)."""
    return set(_PREFIX_LAYOUT)


def topic_device(levels: Sequence[str]) -> str | None:
    """The device a topic belongs to: the level the broker binds to the username."""
    layout = _PREFIX_LAYOUT.get(levels[0])
    if layout is None:
        return levels[0]
    position = layout.NAME_LEVEL.get(levels[0], 1)
    return levels[position] if len(levels) > position else None


def topic_route(levels: Sequence[str], *, kind_of: Callable[[str], str | None]) -> Route | None:
    """What the topic ``levels`` (its ``/``-separated parts) is, or ``None`` when no device
    can have published it. ``kind_of(name)`` is the registered kind of a device, ``None``
    for a device the registry does not know (read as ``native``).

    A prefixed topic (``tele/...``, ``spBv1.0/...``) belongs to the layout that fixes the
    prefix; any other topic to the kind of the device named by its first level.
    """
    layout = _PREFIX_LAYOUT.get(levels[0])
    if layout is not None:
        name = topic_device(levels)
        if name is None or name == "":
            return None
        return layout.route(name, levels)
    name = levels[0]
    layout = LAYOUTS.get(kind_of(name) or DEFAULT_KIND, native)
    if layout.FIXED_FIRST_LEVELS and not getattr(layout, "NAME_FIRST", False):
        layout = native  # a prefixed kind's device on its own name: read as native
    return layout.route(name, levels)
