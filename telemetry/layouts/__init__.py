"""Device layouts (DESIGN.md, "Devices and MQTT"): one module per device ``kind``.

A layout says which topics a device of that kind publishes and subscribes to, and which
first topic level it fixes (no device may be named like one). The registry (kinds accepted
by ``POST /devices``, reserved names, the topics shown to the owner) and the broker ACLs
(``ingest.broker_accounts``) both read it here, so adding a kind is one module and one line
below. It lives in telemetry because telemetry may not import ingest, and both need it.
"""

from __future__ import annotations

from types import ModuleType

from telemetry.layouts import native

LAYOUTS: dict[str, ModuleType] = {"native": native}
DEFAULT_KIND = "native"


def device_topics(*, kind: str, name: str) -> tuple[list[str], list[str]]:
    """(topic filters the device may publish to, filters it may subscribe to)."""
    layout = LAYOUTS[kind]
    return layout.publish_topics(name), layout.subscribe_topics(name)


def fixed_first_levels() -> set[str]:
    """First topic levels some layout fixes (``tele``, ``shellies``, ...)."""
    return {level for layout in LAYOUTS.values() for level in layout.FIXED_FIRST_LEVELS}
