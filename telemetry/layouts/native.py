"""``native``: the device publishes ``<name>/<path...>``; its availability is
``<name>/status`` (``online``/``offline``); it reads its commands on ``<name>/<thing>/set``."""

from __future__ import annotations

from collections.abc import Sequence

from telemetry.layouts.base import AVAILABILITY, DATA, IGNORE, Route, series_of

FIXED_FIRST_LEVELS: tuple[str, ...] = ()
NAME_LEVEL: dict[str, int] = {}
NAME_FIRST = True
COMMAND_LEVELS = frozenset(("set", "get"))


def publish_topics(name: str) -> list[str]:
    return [f"{name}/#"]


def subscribe_topics(name: str) -> list[str]:
    return [f"{name}/+/set"]


def route(name: str, levels: Sequence[str]) -> Route:
    if len(levels) == 2 and levels[1] == "status":
        return Route(name, AVAILABILITY)
    if len(levels) > 1 and levels[-1] in COMMAND_LEVELS:
        return Route(name, IGNORE)
    return Route(name, DATA, series_of(name, levels[1:]))
