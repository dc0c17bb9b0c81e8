"""``esphome`` (``topic_prefix`` left at the node name, which is the device name): states on
``<name>/<component>/<object>/state`` (series ``<name>.<component>.<object>``, retained by
default), availability on ``<name>/status``; commands on ``<name>/<component>/<object>/command``.
Home Assistant discovery (``homeassistant/<component>/<name>/<object>/config``) is accepted
and ignored. Source: https://esphome.io/components/mqtt.html"""

from __future__ import annotations

from collections.abc import Sequence

from telemetry.layouts.base import AVAILABILITY, DATA, IGNORE, Route, series_of

FIXED_FIRST_LEVELS = ("homeassistant",)
# Discovery topics put the node name third: homeassistant/<component>/<name>/...
NAME_LEVEL = {"homeassistant": 2}
NAME_FIRST = True


def publish_topics(name: str) -> list[str]:
    return [f"{name}/#", f"homeassistant/+/{name}/#"]


def subscribe_topics(name: str) -> list[str]:
    return [f"{name}/+/+/command", f"{name}/+/+/+/command", "homeassistant/status"]


def route(name: str, levels: Sequence[str]) -> Route:
    if levels[0] == "homeassistant":
        return Route(name, IGNORE)
    rest = list(levels[1:])
    if rest == ["status"]:
        return Route(name, AVAILABILITY)
    if not rest or rest[-1] == "command" or rest[0] == "debug":
        return Route(name, IGNORE)
    if len(rest) >= 3 and rest[-1] == "state":
        rest = rest[:-1]
    return Route(name, DATA, series_of(name, rest))
