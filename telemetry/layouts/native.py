"""``native``: the device publishes ``<name>/<path...>`` and reads its commands on
``<name>/<thing>/set``; availability on ``<name>/status``."""

from __future__ import annotations

FIXED_FIRST_LEVELS: tuple[str, ...] = ()


def publish_topics(name: str) -> list[str]:
    return [f"{name}/#"]


def subscribe_topics(name: str) -> list[str]:
    return [f"{name}/+/set"]
