"""Readings in MongoDB through pymongo: one ``readings`` collection keyed by (topic, ts).

BSON dates hold milliseconds, while readings (and the ingester's receive-time stamps) carry
microseconds, so a document stores ``ts`` (the millisecond date) plus ``us`` (the 0-999
microseconds below it); the unique compound index (topic, ts, us) gives the same
idempotency as the SQL key. Writes are upserts with ``$setOnInsert``: a duplicate is a
match, not an error, which keeps them valid inside a transaction (used when the server is a
replica set; on a standalone server the batch is written without one, and being idempotent
it can simply be retried whole).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import UTC, datetime, timedelta

from bson import Binary
from pymongo import ASCENDING, DESCENDING, MongoClient, UpdateOne

from telemetry.records import AppendResult, DeadLetterIn, ReadingIn
from telemetry.storage.base import Bucket, Point, TopicSummary
from telemetry.storage.rollup_mongo import mark_dirty as rollup_mark_dirty

# $dateTrunc bins from 2000-01-01T00:00:00Z; a bucket that divides this offset lines up
# with the epoch (as in the SQL backends), any other is computed on epoch milliseconds.
_DATE_TRUNC_REFERENCE = 946_684_800
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_AGG_EXPR = {
    "avg": {"$avg": "$value"},
    "min": {"$min": "$value"},
    "max": {"$max": "$value"},
    "count": {"$sum": 1},
    "sum": {"$sum": "$value"},
}


def _split(ts: datetime) -> tuple[datetime, int]:
    """(millisecond datetime, microseconds below the millisecond)."""
    us = ts.microsecond % 1000
    return ts - timedelta(microseconds=us), us


def _epoch_us(ts: datetime) -> int:
    return (ts - _EPOCH) // timedelta(microseconds=1)


def _bound(field_op: str, ts: datetime) -> dict:
    ms, us = _split(ts)
    if us == 0:
        return {"ts": {field_op: ms}}
    strict = "$gt" if field_op == "$gte" else "$lt"
    return {"$or": [{"ts": {strict: ms}}, {"ts": ms, "us": {field_op: us}}]}


def _point(doc: dict) -> Point:
    return Point(
        ts=doc["ts"] + timedelta(microseconds=doc.get("us", 0)),
        value=doc.get("value"),
        text=doc.get("text"),
    )


class MongoStorage:
    """The ``mongo`` backend. The database is the one named in the URL (default ``iotserver``)."""

    uses_django_database = False

    def __init__(self, *, url: str, database: str | None = None) -> None:
        options: dict = {"tz_aware": True, "connect": False}
        if "serverselectiontimeoutms" not in url.lower():  # keyword options override the URL
            options["serverSelectionTimeoutMS"] = 5000
        self.client: MongoClient = MongoClient(url, **options)
        self.db = (
            self.client[database] if database else self.client.get_default_database("iotserver")
        )
        self.readings = self.db["readings"]
        self.topics = self.db["topics"]
        self.dead_letters = self.db["dead_letters"]
        self._indexed = False

    def ensure_indexes(self) -> None:
        if self._indexed:
            return
        self.readings.create_index(
            [("topic", ASCENDING), ("ts", ASCENDING), ("us", ASCENDING)],
            unique=True,
            name="topic_ts",
        )
        self.topics.create_index([("device", ASCENDING), ("_id", ASCENDING)], name="device")
        self.dead_letters.create_index([("received_at", ASCENDING)], name="received_at")
        self._indexed = True

    def close(self) -> None:
        self.client.close()

    # --- writes ---------------------------------------------------------------------
    def append(
        self, *, readings: Sequence[ReadingIn], dead_letters: Sequence[DeadLetterIn] = ()
    ) -> AppendResult:
        self.ensure_indexes()
        if self._supports_transactions():
            with self.client.start_session() as session:
                return session.with_transaction(
                    lambda s: self._append(readings, dead_letters, session=s)
                )
        return self._append(readings, dead_letters, session=None)

    def _supports_transactions(self) -> bool:
        self.client.admin.command("ping")  # discover the topology before asking about it
        kind = self.client.topology_description.topology_type_name
        return kind in ("ReplicaSetWithPrimary", "Sharded")

    def _append(self, readings, dead_letters, *, session) -> AppendResult:
        stored = 0
        if readings:
            ops = []
            for r in sorted(readings, key=lambda r: (r.topic, r.ts)):
                ms, us = _split(r.ts)
                fields = {"value": r.value} if r.text is None else {"text": r.text}
                ops.append(
                    UpdateOne(
                        {"topic": r.topic, "ts": ms, "us": us},
                        {"$setOnInsert": fields},
                        upsert=True,
                    )
                )
            stored = self.readings.bulk_write(ops, ordered=True, session=session).upserted_count
            self._upsert_topics(readings, session=session)
            rollup_mark_dirty(self.db, readings, session=session)
        if dead_letters:
            self.dead_letters.insert_many(
                [
                    {
                        "topic": d.topic,
                        "payload": Binary(d.payload),
                        "reason": d.reason,
                        "received_at": d.received_at,
                    }
                    for d in dead_letters
                ],
                session=session,
            )
        return AppendResult(
            stored=stored, duplicates=len(readings) - stored, dead_lettered=len(dead_letters)
        )

    def _upsert_topics(self, readings: Sequence[ReadingIn], *, session) -> None:
        newest: dict[str, ReadingIn] = {}
        with_unit: dict[str, ReadingIn] = {}
        for r in readings:
            if r.topic not in newest or r.ts > newest[r.topic].ts:
                newest[r.topic] = r
            if r.unit is not None and (r.topic not in with_unit or r.ts >= with_unit[r.topic].ts):
                with_unit[r.topic] = r
        ops = []
        for name in sorted(newest):
            r = newest[name]
            ms, us = _split(r.ts)
            # A pipeline update: set the fields only when this reading is newer (or the
            # topic is new), so a late reading never replaces a newer last value.
            newer = {"$lt": [{"$ifNull": ["$last_key", -(2**62)]}, _epoch_us(r.ts)]}
            new_fields = {
                "last_key": _epoch_us(r.ts),
                "last_ts": ms,
                "last_us": us,
                "last_value": r.value,
                "last_text": r.text,
            }
            stage = {"device": name.split(".", 1)[0]}
            for field, value in new_fields.items():
                stage[field] = {"$cond": [newer, {"$literal": value}, f"${field}"]}
            if name in with_unit:  # a unit is set whatever the reading's age (as in SQL)
                stage["unit"] = {"$literal": with_unit[name].unit}
            ops.append(UpdateOne({"_id": name}, [{"$set": stage}], upsert=True))
        self.topics.bulk_write(ops, ordered=True, session=session)

    # --- reads ----------------------------------------------------------------------
    def _filter(self, topic: str, start: datetime | None, end: datetime | None) -> dict:
        clauses: list[dict] = [{"topic": topic}]
        if start is not None:
            clauses.append(_bound("$gte", start))
        if end is not None:
            clauses.append(_bound("$lt", end))
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}

    def latest(self, *, topic: str) -> Point | None:
        found = self.range(topic=topic, start=None, end=None, descending=True, limit=1)
        return found[0] if found else None

    def range(
        self,
        *,
        topic: str,
        start: datetime | None,
        end: datetime | None,
        descending: bool,
        limit: int,
    ) -> list[Point]:
        direction = DESCENDING if descending else ASCENDING
        cursor = (
            self.readings.find(self._filter(topic, start, end), {"_id": 0, "topic": 0})
            .sort([("ts", direction), ("us", direction)])
            .limit(limit)
        )
        return [_point(doc) for doc in cursor]

    def count(self, *, topic: str, start: datetime | None, end: datetime | None, cap: int) -> int:
        return self.readings.count_documents(self._filter(topic, start, end), limit=cap)

    def aggregate(
        self,
        *,
        topic: str,
        start: datetime | None,
        end: datetime | None,
        bucket_seconds: int,
        aggregates: Sequence[str],
    ) -> list[Bucket]:
        match = self._filter(topic, start, end)
        match = {"$and": [match, {"value": {"$type": "number"}}]}
        if _DATE_TRUNC_REFERENCE % bucket_seconds == 0:
            key = {"$dateTrunc": {"date": "$ts", "unit": "second", "binSize": bucket_seconds}}
        else:
            millis = {"$toLong": "$ts"}
            key = {"$subtract": [millis, {"$mod": [millis, bucket_seconds * 1000]}]}
        group: dict = {"_id": key}
        for name in aggregates:
            group[name] = _AGG_EXPR[name]
        rows = self.readings.aggregate(
            [{"$match": match}, {"$group": group}, {"$sort": {"_id": 1}}]
        )
        return [
            Bucket(
                start=_bucket_start(row["_id"]),
                values={
                    name: (int(row[name]) if name == "count" else _float(row[name]))
                    for name in aggregates
                },
            )
            for row in rows
        ]

    def topic_list(
        self, *, devices: Collection[str] | None = None, names: Collection[str] | None = None
    ) -> list[TopicSummary]:
        query: dict = {}
        if devices is not None:
            query["device"] = {"$in": list(devices)}
        if names is not None:
            query["_id"] = {"$in": list(names)}
        return [
            TopicSummary(
                name=doc["_id"],
                device=doc["device"],
                last_ts=doc["last_ts"] + timedelta(microseconds=doc.get("last_us", 0)),
                last_value=doc.get("last_value"),
                last_text=doc.get("last_text"),
                unit=doc.get("unit"),
            )
            for doc in self.topics.find(query).sort("_id", ASCENDING)
        ]

    def topic_get(self, *, topic: str) -> TopicSummary | None:
        found = self.topic_list(names=[topic])
        return found[0] if found else None

    def topics_known(self, *, names: Collection[str]) -> set[str]:
        wanted = sorted(set(names))
        if not wanted:
            return set()
        return {doc["_id"] for doc in self.topics.find({"_id": {"$in": wanted}}, {"_id": 1})}

    def check(self) -> None:
        self.client.admin.command("ping")


def _bucket_start(key) -> datetime:
    if isinstance(key, datetime):
        return key if key.tzinfo else key.replace(tzinfo=UTC)
    return _EPOCH + timedelta(milliseconds=int(key))


def _float(value) -> float | None:
    return None if value is None else float(value)
