"""Readings storage behind one small interface; ``TELEMETRY_BACKEND`` picks the backend."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import DataError, IntegrityError
from django.db import Error as DatabaseError

from telemetry.storage.base import (
    AGGREGATES,
    Bucket,
    Point,
    Storage,
    StorageError,
    StorageRefused,
    TopicSummary,
)

__all__ = [
    "AGGREGATES",
    "Bucket",
    "Point",
    "Storage",
    "StorageError",
    "StorageRefused",
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
    """Turn any database or pymongo failure into ``StorageError`` (one type to retry on), or
    ``StorageRefused`` when the data itself was refused (retrying the same data cannot help).

    Only what is surely about the data counts as refused: a value the driver cannot encode
    (``UnicodeEncodeError``, raised before anything reaches the server), ``DataError`` and
    ``IntegrityError``, and MongoDB's refusals of a document. Everything else, a missing
    table included, may pass and is retried.
    """
    try:
        from bson.errors import InvalidDocument
        from pymongo.errors import DocumentTooLarge, PyMongoError, WriteError
    except ImportError:  # pragma: no cover - pymongo is a runtime requirement
        PyMongoError = InvalidDocument = DocumentTooLarge = WriteError = DatabaseError  # noqa: N806
    try:
        yield
    except StorageError:
        raise
    except (
        UnicodeEncodeError,
        DataError,
        IntegrityError,
        InvalidDocument,
        DocumentTooLarge,
    ) as exc:
        raise StorageRefused(_refusal(exc)) from exc
    except WriteError as exc:
        raise StorageRefused(_refusal(exc)) from exc
    except (DatabaseError, PyMongoError) as exc:
        raise StorageError(f"telemetry storage failed: {exc.__class__.__name__}") from exc


def _refusal(exc: BaseException) -> str:
    first = str(exc).splitlines()[0][:160] if str(exc) else ""
    return f"storage refused: {exc.__class__.__name__}: {first}".rstrip(": ")
