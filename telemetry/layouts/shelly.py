"""``shelly``: Gen1 publishes ``shellies/<name>/<path...>`` (series ``<name>.<path...>``,
availability ``shellies/<name>/online`` ``true``/``false``, ``announce`` is metadata); Gen2
publishes ``<name>/status/<component>`` (``<name>.<component>.<keys>``), notifications on
``<name>/events/rpc`` (``NotifyStatus``/``NotifyFullStatus``, time from ``params.ts``) and
availability on ``<name>/online``. The device name is its MQTT id (Gen1: the ``shellies/``
level after it; Gen2: its ``topic_prefix``).
Sources: https://shelly-api-docs.shelly.cloud/gen1/#mqtt-support,
https://shelly-api-docs.shelly.cloud/gen2/General/RPCChannels#mqtt"""

from __future__ import annotations

from collections.abc import Sequence

from telemetry.layouts.base import AVAILABILITY, DATA, IGNORE, Route, Shaped, series_of

FIXED_FIRST_LEVELS = ("shellies",)
NAME_LEVEL = {"shellies": 1}
NAME_FIRST = True  # Gen2 topics start with the device's own prefix
_NOTIFY_STATUS = frozenset(("NotifyStatus", "NotifyFullStatus"))


def publish_topics(name: str) -> list[str]:
    return [f"shellies/{name}/#", f"{name}/#"]


def subscribe_topics(name: str) -> list[str]:
    return [
        f"shellies/{name}/command",
        f"shellies/{name}/+/+/command",
        f"shellies/{name}/+/+/+/command",
        f"{name}/rpc",
        "shellies/command",
    ]


def route(name: str, levels: Sequence[str]) -> Route:
    if levels[0] == "shellies":
        rest = list(levels[2:])
        if rest == ["online"]:
            return Route(name, AVAILABILITY)
        if not rest or rest[-1] == "command" or rest[0] == "announce":
            return Route(name, IGNORE)
        return Route(name, DATA, series_of(name, rest))
    rest = list(levels[1:])
    if rest == ["online"]:
        return Route(name, AVAILABILITY)
    if rest == ["events", "rpc"]:
        return Route(name, DATA, name, codec="shelly-rpc")
    if len(rest) >= 2 and rest[0] == "status":
        return Route(name, DATA, series_of(name, rest[1:]))
    if not rest or rest[0] in ("rpc", "debug") or rest[-1] == "command":
        return Route(name, IGNORE)
    return Route(name, DATA, series_of(name, rest))


def shape(route: Route, data: object) -> Shaped:
    if route.codec != "shelly-rpc":
        return Shaped(data)
    if not isinstance(data, dict) or data.get("method") not in _NOTIFY_STATUS:
        return Shaped(None, ignore=True)  # NotifyEvent and RPC replies are not readings
    params = data.get("params")
    if not isinstance(params, dict):
        return Shaped(None, ignore=True)
    params = dict(params)
    time = params.pop("ts", None)
    return Shaped(params, time=time)
