"""Readings storage behind one small interface; ``TELEMETRY_BACKEND`` picks the backend."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import Error as DatabaseError

from telemetry.storage.base import AGGREGATES, Bucket, Point, Storage, StorageError, TopicSummary

__all__ = [
    "AGGREGATES",
    "Bucket",
    "Point",
    "Storage",
    "StorageError",
    "TopicSummary",
    "get_storage",
    "storage_errors",
]

_instances: dict[tuple[str, str | None], Storage] = {}


def get_storage() -> Storage:
    """The configured backend; one instance (and one Mongo client) per process and URL."""
    key = (settings.TELEMETRY_BACKEND, settings.MONGO_URL)
    storage = _instances.get(key)
    if storage is None:
        if settings.TELEMETRY_BACKEND == "mongo":
            from telemetry.storage.mongo import MongoStorage

            storage = MongoStorage(url=settings.MONGO_URL)
        else:
            from telemetry.storage.sql import SqlStorage

            storage = SqlStorage()
        _instances[key] = storage
    return storage


@contextmanager
def storage_errors() -> Iterator[None]:
    """Turn any database or pymongo failure into ``StorageError`` (one type to retry on)."""
    try:
        from pymongo.errors import PyMongoError
    except ImportError:  # pragma: no cover - pymongo is a runtime requirement
        PyMongoError = DatabaseError  # noqa: N806
    try:
        yield
    except StorageError:
        raise
    except (DatabaseError, PyMongoError) as exc:
        raise StorageError(f"telemetry storage failed: {exc.__class__.__name__}") from exc
