"""``owntracks`` (MQTT mode, the user name is the device name): locations on
``owntracks/<name>/<phone>`` (``_type: location``; series ``<name>.<phone>.<lat, lon, acc,
alt, vel, batt>``, time from ``tst``), the last will is ``_type: lwt``; other types and the
sub-topics (``/event``, ``/info``, ``/cmd``, ...) are ignored.
Source: https://owntracks.org/booklet/tech/json/"""

from __future__ import annotations

from collections.abc import Sequence

from telemetry.layouts.base import DATA, IGNORE, Route, Shaped, series_of

FIXED_FIRST_LEVELS = ("owntracks",)
NAME_LEVEL = {"owntracks": 1}
LOCATION_KEYS = ("lat", "lon", "acc", "alt", "vel", "batt")
_UNITS = {"acc": "m", "alt": "m", "vel": "km/h", "batt": "%", "lat": "°", "lon": "°"}


def publish_topics(name: str) -> list[str]:
    return [f"owntracks/{name}/#"]


def subscribe_topics(name: str) -> list[str]:
    return [f"owntracks/{name}/+/cmd"]


def route(name: str, levels: Sequence[str]) -> Route:
    if len(levels) != 3:
        return Route(name, IGNORE)
    return Route(name, DATA, series_of(name, levels[2:]), codec="owntracks")


def shape(route: Route, data: object) -> Shaped:
    if not isinstance(data, dict):
        return Shaped(None, ignore=True)
    kind = data.get("_type")
    if kind == "lwt":
        return Shaped(None, ignore=True, online=False)
    if kind != "location":
        return Shaped(None, ignore=True)
    values = {key: data[key] for key in LOCATION_KEYS if key in data}
    return Shaped(values, time=data.get("tst"), units=_UNITS)
