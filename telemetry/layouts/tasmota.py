"""``tasmota`` (FullTopic ``%prefix%/%topic%/``, Topic = the device name): telemetry on
``tele/<name>/SENSOR`` and ``tele/<name>/STATE`` (series ``<name>.<json keys>``, time from
``Time`` in the device's zone, units from ``TempUnit``/``PressureUnit``/``SpeedUnit``),
command results on ``stat/<name>/<X>`` (``<name>.<X>``), availability on
``tele/<name>/LWT`` (``Online``/``Offline``); commands arrive on ``cmnd/<name>/...``.
Source: https://tasmota.github.io/docs/MQTT/"""

from __future__ import annotations

from collections.abc import Sequence

from telemetry.layouts.base import AVAILABILITY, DATA, IGNORE, Route, Shaped, series_of

FIXED_FIRST_LEVELS = ("tele", "stat", "cmnd")
NAME_LEVEL = {"tele": 1, "stat": 1, "cmnd": 1}
# Telemetry whose own name is not a series: the payload's keys are.
_FLAT_TELE = frozenset(("SENSOR", "STATE"))
# Device information, not readings (INFO1..3 at boot, UPGRADE progress).
_META_TELE = frozenset(("INFO1", "INFO2", "INFO3", "UPGRADE"))
_UNIT_KEYS = {
    "TempUnit": ("Temperature", "DewPoint"),
    "PressureUnit": ("Pressure", "SeaPressure"),
    "SpeedUnit": ("Speed",),
}
_DEGREES = {"C": "°C", "F": "°F"}


def publish_topics(name: str) -> list[str]:
    return [f"tele/{name}/#", f"stat/{name}/#"]


def subscribe_topics(name: str) -> list[str]:
    return [f"cmnd/{name}/#"]


def route(name: str, levels: Sequence[str]) -> Route:
    prefix, rest = levels[0], levels[2:]
    if prefix == "cmnd" or not rest:
        return Route(name, IGNORE)
    if prefix == "tele":
        if len(rest) == 1 and rest[0] == "LWT":
            return Route(name, AVAILABILITY)
        if rest[0] in _META_TELE:
            return Route(name, IGNORE)
        if len(rest) == 1 and rest[0] in _FLAT_TELE:
            return Route(name, DATA, name, codec="tasmota")
    return Route(name, DATA, series_of(name, rest), codec="tasmota")


def shape(route: Route, data: object) -> Shaped:
    """``Time`` is the reading time; ``TempUnit`` and friends are the units of the keys
    they name, anywhere in the object (``{"BME280": {"Temperature": 21.7}}``)."""
    if not isinstance(data, dict):
        return Shaped(data)
    units: dict[str, str] = {}
    rest = dict(data)
    time = rest.pop("Time", None)
    epoch = rest.pop("Epoch", None)  # "Time 2"/"Time 3" formats: the same instant in seconds
    if time is None:
        time = epoch
    for unit_key, keys in _UNIT_KEYS.items():
        unit = rest.pop(unit_key, None)
        if isinstance(unit, str) and unit:
            for key in keys:
                units[key] = _DEGREES.get(unit, unit) if unit_key == "TempUnit" else unit
    return Shaped(rest, time=time, units=units)
