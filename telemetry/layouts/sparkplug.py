"""``sparkplug`` (Sparkplug B, the edge node id is the device name): protobuf payloads on
``spBv1.0/<group>/<N|D><BIRTH|DATA|DEATH>/<name>[/<device>]``; metrics become
``<name>[.<device>].<metric, '/' as '.'>``, aliases learnt from births; NDEATH/DDEATH take
the node/device offline; ``NCMD``/``DCMD`` are commands.
Source: https://sparkplug.eclipse.org/specification/version/3.0/documents/sparkplug-specification-3.0.0.pdf"""

from __future__ import annotations

from collections.abc import Sequence

from telemetry.layouts.base import DATA, IGNORE, Route

FIXED_FIRST_LEVELS = ("spBv1.0",)
NAME_LEVEL = {"spBv1.0": 3}
NODE_TYPES = ("NBIRTH", "NDATA", "NDEATH")
DEVICE_TYPES = ("DBIRTH", "DDATA", "DDEATH")


def publish_topics(name: str) -> list[str]:
    return [f"spBv1.0/+/{kind}/{name}" for kind in NODE_TYPES] + [
        f"spBv1.0/+/{kind}/{name}/+" for kind in DEVICE_TYPES
    ]


def subscribe_topics(name: str) -> list[str]:
    return [f"spBv1.0/+/NCMD/{name}", f"spBv1.0/+/DCMD/{name}/+", "spBv1.0/STATE/+"]


def route(name: str, levels: Sequence[str]) -> Route:
    message_type = levels[2] if len(levels) > 2 else ""
    if message_type in NODE_TYPES and len(levels) == 4:
        return Route(name, DATA, name, codec="sparkplug", detail=message_type)
    if message_type in DEVICE_TYPES and len(levels) == 5 and levels[4]:
        return Route(name, DATA, name, source=levels[4], codec="sparkplug", detail=message_type)
    return Route(name, IGNORE)
