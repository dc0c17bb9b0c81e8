"""System checks for the ingest settings that env parsing alone cannot catch."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Warning, register


@register("ingest")
def ingest_settings_check(app_configs=None, **kwargs):
    problems = []
    if not 1 <= settings.INGEST_RECEIVE_MAXIMUM <= 65535:
        problems.append(
            Error(
                "INGEST_RECEIVE_MAXIMUM must be between 1 and 65535 (an MQTT 5 two-byte field).",
                id="ingest.E001",
            )
        )
    topic_filter = settings.INGEST_TOPIC_FILTER or ""
    levels = topic_filter.split("/")
    if (
        not topic_filter
        or any("#" in level and level != "#" for level in levels)
        or "#" in levels[:-1]
        or any("+" in level and level != "+" for level in levels)
    ):
        problems.append(
            Error(
                f"INGEST_TOPIC_FILTER {topic_filter!r} is not a valid MQTT topic filter.",
                hint="Use e.g. '#', '+/#' or 'raspberrypi/#'.",
                id="ingest.E002",
            )
        )
    if settings.INGEST_BATCH_SIZE > settings.INGEST_RECEIVE_MAXIMUM:
        problems.append(
            Warning(
                "INGEST_BATCH_SIZE is above INGEST_RECEIVE_MAXIMUM: the broker stops sending "
                "before a batch fills, so every batch waits INGEST_MAX_WAIT_MS.",
                id="ingest.W001",
            )
        )
    return problems
