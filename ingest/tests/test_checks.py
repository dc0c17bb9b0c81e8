"""Misconfigured ingest settings are reported by ``manage.py check``."""

from __future__ import annotations

from ingest.checks import ingest_settings_check


def ids() -> list[str]:
    return [problem.id for problem in ingest_settings_check()]


def test_defaults_are_clean(settings):
    assert ids() == []


def test_receive_maximum_above_the_protocol_limit(settings):
    settings.INGEST_RECEIVE_MAXIMUM = 70000
    assert ids() == ["ingest.E001"]


def test_invalid_topic_filters(settings):
    for bad in ("a/#/b", "a#", "dev+/x", ""):
        settings.INGEST_TOPIC_FILTER = bad
        assert ids() == ["ingest.E002"], bad
    settings.INGEST_TOPIC_FILTER = "+/temp/#"
    assert ids() == []


def test_batches_that_can_never_fill(settings):
    settings.INGEST_BATCH_SIZE = 5000
    settings.INGEST_RECEIVE_MAXIMUM = 1000
    assert ids() == ["ingest.W001"]
