"""``zigbee2mqtt`` (its ``base_topic`` set to the device name): device states on
``<name>/<friendly name...>`` (series ``<name>.<friendly name>.<keys>``; a friendly name may
hold ``/``), the bridge's availability on ``<name>/bridge/state``, an end device's on
``<name>/<friendly>/availability`` (``online``/``offline`` or ``{"state": ...}``); the rest of
``<name>/bridge/`` is metadata, ``.../set`` and ``.../get`` are commands.
Source: https://www.zigbee2mqtt.io/guide/usage/mqtt_topics_and_messages.html"""

from __future__ import annotations

from collections.abc import Sequence

from telemetry.layouts.base import AVAILABILITY, DATA, IGNORE, Route, series_of

FIXED_FIRST_LEVELS: tuple[str, ...] = ()
NAME_LEVEL: dict[str, int] = {}
NAME_FIRST = True
_COMMANDS = frozenset(("set", "get"))


def publish_topics(name: str) -> list[str]:
    return [f"{name}/#"]


def subscribe_topics(name: str) -> list[str]:
    # Zigbee2MQTT subscribes to its whole base topic (commands at any depth).
    return [f"{name}/#"]


def route(name: str, levels: Sequence[str]) -> Route:
    rest = list(levels[1:])
    if not rest:
        return Route(name, IGNORE)
    if rest[0] == "bridge":
        if rest == ["bridge", "state"]:
            return Route(name, AVAILABILITY)
        return Route(name, IGNORE)
    if len(rest) >= 2 and rest[-1] == "availability":
        return Route(name, AVAILABILITY, source="/".join(rest[:-1]))
    if rest[-1] in _COMMANDS or (len(rest) >= 2 and rest[-2] in _COMMANDS):
        return Route(name, IGNORE)
    return Route(name, DATA, series_of(name, rest))
