"""Rollups and retention of the ``mongo`` backend.

Collections ``rollup_1m`` and ``rollup_1h`` (unique (topic, start)) and ``rollup_state``
(``_id`` = topic; ``watermark``, ``dirty_since``, ``pending``: epoch microseconds).
Without a replica set there are no multi-document transactions, so a window works in this
order: it first *claims* its end in ``pending``; the ingest path marks a reading dirty when
it is below ``max(watermark, pending)``; so a reading is either already visible to the
window's aggregation or marks the window stale. Rollup rows are written before the state
moves, and queries trust them only below the state's ``valid_until``, so a window cut short
leaves no row a query would read; the next run rewrites it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from pymongo import ASCENDING, ReplaceOne, UpdateOne

from telemetry.records import ReadingIn
from telemetry.rollups import TopicState, Window, from_us, to_us
from telemetry.storage.base import Bucket
from telemetry.storage.rollup_sql import bucket_values

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_COLLECTIONS = {60: "rollup_1m", 3600: "rollup_1h"}
_UNITS = {60: "minute", 3600: "hour"}


def mark_dirty(db, readings: Sequence[ReadingIn], *, session) -> None:
    """Lower ``dirty_since`` of topics that got a reading below their watermark or claim."""
    oldest: dict[str, int] = {}
    for r in readings:
        us = to_us(r.ts)
        if r.topic not in oldest or us < oldest[r.topic]:
            oldest[r.topic] = us
    ops = []
    for name in sorted(oldest):
        us = oldest[name]
        done = {"$max": [{"$ifNull": ["$watermark", None]}, {"$ifNull": ["$pending", None]}]}
        late = {"$and": [{"$ne": [done, None]}, {"$lt": [us, done]}]}
        lower = {"$min": [{"$ifNull": ["$dirty_since", us]}, us]}
        ops.append(
            UpdateOne(
                {"_id": name},
                [{"$set": {"dirty_since": {"$cond": [late, lower, "$dirty_since"]}}}],
                upsert=True,
            )
        )
    if ops:
        db["rollup_state"].bulk_write(ops, ordered=True, session=session)


class MongoRollups:
    def __init__(self, storage) -> None:
        self.storage = storage
        db = storage.db
        self.readings = db["readings"]
        self.states = db["rollup_state"]
        self.rollups = {res: db[name] for res, name in _COLLECTIONS.items()}
        self.dead_letters = db["dead_letters"]
        for collection in self.rollups.values():
            collection.create_index(
                [("topic", ASCENDING), ("start", ASCENDING)], unique=True, name="topic_start"
            )

    # --- state ----------------------------------------------------------------------
    def topics(self) -> list[str]:
        names = {doc["_id"] for doc in self.states.find({}, {"_id": 1})}
        names.update(doc["_id"] for doc in self.storage.topics.find({}, {"_id": 1}))
        return sorted(names)

    def state(self, *, topic: str) -> TopicState:
        doc = self.states.find_one({"_id": topic}) or {}
        return TopicState(topic, doc.get("watermark"), doc.get("dirty_since"))

    def first_reading_us(self, *, topic: str) -> int | None:
        doc = self.readings.find_one({"topic": topic}, sort=[("ts", 1), ("us", 1)])
        return None if doc is None else to_us(doc["ts"]) + doc.get("us", 0)

    # --- the job --------------------------------------------------------------------
    def window_apply(self, *, topic: str, plan_next) -> Window | None:
        state = self.state(topic=topic)
        window = plan_next(state)
        if window is None:
            return None
        self.states.update_one({"_id": topic}, {"$set": {"pending": window.end}}, upsert=True)
        if window.end > window.start:
            self._rebuild(topic, 60, window.start, window.end, source=None)
            self._rebuild(topic, 3600, *window.hours, source=self.rollups[60])
        # Only if no late reading lowered dirty_since meanwhile; else keep the lower mark.
        moved = self.states.update_one(
            {"_id": topic, "dirty_since": state.dirty_since},
            {"$set": {"watermark": window.watermark, "dirty_since": window.dirty_since}},
        )
        if not moved.matched_count:
            self.states.update_one({"_id": topic}, {"$max": {"watermark": window.watermark}})
        self.states.update_one({"_id": topic}, {"$unset": {"pending": ""}})
        return window

    def _rebuild(self, topic: str, resolution: int, start: int, end: int, *, source) -> None:
        if end <= start:
            return
        lo, hi = from_us(start), from_us(end)
        key = {
            "$dateTrunc": {
                "date": "$ts" if source is None else "$start",
                "unit": _UNITS[resolution],
            }
        }
        if source is None:
            match = {"topic": topic, "ts": {"$gte": lo, "$lt": hi}, "value": {"$type": "number"}}
            stamp = {"$add": [{"$multiply": [{"$toLong": "$ts"}, 1000]}, {"$ifNull": ["$us", 0]}]}
            group = {
                "_id": key,
                "count": {"$sum": 1},
                "sum": {"$sum": "$value"},
                "min": {"$min": "$value"},
                "max": {"$max": "$value"},
                "first_us": {"$min": stamp},
                "last_us": {"$max": stamp},
            }
            rows = self.readings.aggregate([{"$match": match}, {"$group": group}])
        else:
            match = {"topic": topic, "start": {"$gte": lo, "$lt": hi}}
            group = {
                "_id": key,
                "count": {"$sum": "$count"},
                "sum": {"$sum": "$sum"},
                "min": {"$min": "$min"},
                "max": {"$max": "$max"},
                "first_us": {"$min": "$first_us"},
                "last_us": {"$max": "$last_us"},
            }
            rows = source.aggregate([{"$match": match}, {"$group": group}])
        target = self.rollups[resolution]
        ops, starts = [], []
        for row in rows:
            begin = _aware(row["_id"])
            starts.append(begin)
            fields = {k: row[k] for k in ("count", "sum", "min", "max", "first_us", "last_us")}
            doc = {"topic": topic, "start": begin, **fields}
            ops.append(ReplaceOne({"topic": topic, "start": begin}, doc, upsert=True))
        if ops:
            target.bulk_write(ops, ordered=False)
        target.delete_many({"topic": topic, "start": {"$gte": lo, "$lt": hi, "$nin": starts}})

    # --- reads ----------------------------------------------------------------------
    def aggregate(
        self,
        *,
        topic: str,
        start: datetime | None,
        end: datetime,
        resolution: int,
        bucket_seconds: int,
        aggregates: Sequence[str],
    ) -> list[Bucket]:
        bounds: dict = {"$lt": end}
        if start is not None:
            bounds["$gte"] = start
        millis = {"$toLong": "$start"}
        key = {"$subtract": [millis, {"$mod": [millis, bucket_seconds * 1000]}]}
        group = {
            "_id": key,
            "count": {"$sum": "$count"},
            "sum": {"$sum": "$sum"},
            "min": {"$min": "$min"},
            "max": {"$max": "$max"},
        }
        rows = self.rollups[resolution].aggregate(
            [
                {"$match": {"topic": topic, "start": bounds}},
                {"$group": group},
                {"$sort": {"_id": 1}},
            ]
        )
        return [
            Bucket(
                start=_EPOCH + timedelta(milliseconds=int(row["_id"])),
                values=bucket_values(aggregates, row["count"], row["sum"], row["min"], row["max"]),
            )
            for row in rows
        ]

    # --- retention ------------------------------------------------------------------
    def readings_expire(self, *, before: datetime, batch_size: int) -> int:
        return self._expire(self.readings, {"ts": {"$lt": before}}, batch_size)

    def rollups_expire(self, *, before: datetime, batch_size: int) -> int:
        return sum(
            self._expire(c, {"start": {"$lt": before}}, batch_size) for c in self.rollups.values()
        )

    def dead_letters_expire(self, *, before: datetime, batch_size: int) -> int:
        return self._expire(self.dead_letters, {"received_at": {"$lt": before}}, batch_size)

    # --- an account's data, deleted with the account (telemetry.account_events) --------
    def device_topics(self, *, device: str) -> list[str]:
        """Every topic of the device ``device`` with readings, rollups or a summary."""
        prefix = {"$regex": f"^{re.escape(device)}\\."}
        names = {doc["_id"] for doc in self.storage.topics.find({"device": device}, {"_id": 1})}
        names.update(
            doc["_id"] for doc in self.states.find({"$or": [{"_id": device}, {"_id": prefix}]})
        )
        names.update(
            self.readings.distinct("topic", {"$or": [{"topic": device}, {"topic": prefix}]})
        )
        return sorted(names)

    def topic_purge(self, *, topic: str, batch_size: int) -> int:
        """Delete every reading and rollup of ``topic``, ``batch_size`` documents at a time,
        then its rollup state and summary; the number of documents deleted."""
        deleted = self._expire(self.readings, {"topic": topic}, batch_size)
        deleted += sum(self._expire(c, {"topic": topic}, batch_size) for c in self.rollups.values())
        self.states.delete_one({"_id": topic})
        self.storage.topics.delete_one({"_id": topic})
        return deleted

    @staticmethod
    def _expire(collection, query: dict, size: int) -> int:
        """Delete matching documents ``size`` at a time (one short operation each)."""
        deleted = 0
        while True:
            ids = [doc["_id"] for doc in collection.find(query, {"_id": 1}).limit(size)]
            if ids:
                deleted += collection.delete_many({"_id": {"$in": ids}}).deleted_count
            if len(ids) < size:
                return deleted


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
