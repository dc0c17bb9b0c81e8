"""Cache keys and lifetimes shared by the telemetry write path and its readers."""

from __future__ import annotations

from django.conf import settings


def latest(topic: str) -> str:
    return f"telemetry:latest:{topic}"


def device_owner(name: str) -> str:
    return f"telemetry:device-owner:{name}"


def timeout() -> int:
    return settings.TELEMETRY_CACHE_SECONDS
