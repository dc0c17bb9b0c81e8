"""Rollups and retention of the ``sql`` backend (SQLite or PostgreSQL).

Windows are serialized with the ingest path by the topic's ``RollupState`` row: a window's
transaction writes that row first (a row lock on PostgreSQL, the write lock on SQLite), and
the ingest path upserts the same row in the batch's transaction, so a reading committed
while a window is aggregated is either seen by it or marks the window dirty afterwards.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime

from django.db import connections, transaction

from telemetry.models import DeadLetter, Reading, RollupHour, RollupMinute, RollupState, Topic
from telemetry.records import ReadingIn
from telemetry.rollups import TopicState, Window, from_us, to_us
from telemetry.routers import telemetry_alias
from telemetry.storage.base import Bucket
from telemetry.storage.bucket_sql import epoch_bucket

logger = logging.getLogger(__name__)

_TABLES = {60: RollupMinute._meta.db_table, 3600: RollupHour._meta.db_table}


def mark_dirty(alias: str, readings: Sequence[ReadingIn]) -> None:
    """Lower ``dirty_since`` of topics that got a reading below their watermark.

    Called inside the batch's transaction. One statement per batch; a row is rewritten only
    when the batch holds a late reading, so in-order ingest writes nothing here after the
    topic's first batch (it only takes the row lock that orders it with the rollup job).
    """
    oldest: dict[str, int] = {}
    for r in readings:
        us = to_us(r.ts)
        if r.topic not in oldest or us < oldest[r.topic]:
            oldest[r.topic] = us
    connection = connections[alias]
    table = connection.ops.quote_name(RollupState._meta.db_table)
    names = sorted(oldest)  # the same lock order as the readings' keys
    # PostgreSQL declares no parameter limit (None); SQLite does.
    size = max(1, min(2000, (connection.features.max_query_params or 4000) // 2))
    with connection.cursor() as cursor:
        for i in range(0, len(names), size):
            chunk = names[i : i + size]
            params: list = []
            for name in chunk:
                params.extend((name, oldest[name]))
            values = ",".join(["(%s, NULL, %s)"] * len(chunk))
            cursor.execute(
                f"INSERT INTO {table} (topic, watermark, dirty_since) VALUES {values} "  # noqa: S608
                f"ON CONFLICT (topic) DO UPDATE SET dirty_since = excluded.dirty_since "
                f"WHERE {table}.watermark IS NOT NULL "
                f"AND excluded.dirty_since < {table}.watermark "
                f"AND ({table}.dirty_since IS NULL OR excluded.dirty_since < {table}.dirty_since)",
                params,
            )


class SqlRollups:
    """Rollup windows, rollup reads and batched retention deletes on the telemetry database."""

    @property
    def alias(self) -> str:
        return telemetry_alias()

    def _q(self, name: str) -> str:
        return connections[self.alias].ops.quote_name(name)

    # --- state ----------------------------------------------------------------------
    def topics(self) -> list[str]:
        names = set(RollupState.objects.using(self.alias).values_list("topic", flat=True))
        names.update(Topic.objects.using(self.alias).values_list("name", flat=True))
        return sorted(names)

    def state(self, *, topic: str) -> TopicState:
        row = (
            RollupState.objects.using(self.alias)
            .filter(topic=topic)
            .values_list("watermark", "dirty_since")
            .first()
        )
        return TopicState(topic, *(row or (None, None)))

    def first_reading_us(self, *, topic: str) -> int | None:
        ts = (
            Reading.objects.using(self.alias)
            .filter(topic=topic)
            .order_by("ts")
            .values_list("ts", flat=True)
            .first()
        )
        return None if ts is None else to_us(ts)

    # --- the job --------------------------------------------------------------------
    def window_apply(self, *, topic: str, plan_next) -> Window | None:
        """Lock the topic's state, ask ``plan_next(state)`` for a window, aggregate it.

        One transaction: a worker killed in the middle leaves the rollups and the state as
        they were, and the next run does the same window again.
        """
        alias = self.alias
        connection = connections[alias]
        state_table = self._q(RollupState._meta.db_table)
        with transaction.atomic(using=alias):
            with connection.cursor() as cursor:
                cursor.execute(
                    f"INSERT INTO {state_table} (topic, watermark, dirty_since) "  # noqa: S608
                    f"VALUES (%s, NULL, NULL) ON CONFLICT (topic) DO UPDATE "
                    f"SET watermark = {state_table}.watermark",
                    [topic],
                )
            window = plan_next(self.state(topic=topic))
            if window is None:
                return None
            if window.end > window.start:
                self._minutes_rebuild(topic, window.start, window.end)
                self._hours_rebuild(topic, *window.hours)
            RollupState.objects.using(alias).filter(topic=topic).update(
                watermark=window.watermark, dirty_since=window.dirty_since
            )
        return window

    def _minutes_rebuild(self, topic: str, start: int, end: int) -> None:
        connection = connections[self.alias]
        adapt = connection.ops.adapt_datetimefield_value
        bounds = [topic, adapt(from_us(start)), adapt(from_us(end))]
        if connection.vendor == "postgresql":
            minute = "date_trunc('minute', ts)"
        else:
            minute = "substr(ts, 1, 16) || ':00'"
        table, raw = self._q(_TABLES[60]), self._q(Reading._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {table} WHERE topic = %s AND start >= %s AND start < %s",  # noqa: S608
                bounds,
            )
            cursor.execute(
                f"INSERT INTO {table} (topic, start, count, sum, min, max, first_ts, last_ts) "  # noqa: S608
                f"SELECT topic, {minute}, COUNT(value), SUM(value), MIN(value), MAX(value), "
                f"MIN(ts), MAX(ts) FROM {raw} "
                "WHERE topic = %s AND ts >= %s AND ts < %s AND value IS NOT NULL "
                f"GROUP BY topic, {minute}",
                bounds,
            )

    def _hours_rebuild(self, topic: str, start: int, end: int) -> None:
        if end <= start:
            return
        connection = connections[self.alias]
        adapt = connection.ops.adapt_datetimefield_value
        bounds = [topic, adapt(from_us(start)), adapt(from_us(end))]
        if connection.vendor == "postgresql":
            hour = "date_trunc('hour', start)"
        else:
            hour = "substr(start, 1, 13) || ':00:00'"
        table, minutes = self._q(_TABLES[3600]), self._q(_TABLES[60])
        with connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {table} WHERE topic = %s AND start >= %s AND start < %s",  # noqa: S608
                bounds,
            )
            cursor.execute(
                f"INSERT INTO {table} (topic, start, count, sum, min, max, first_ts, last_ts) "  # noqa: S608
                f"SELECT topic, {hour}, SUM(count), SUM(sum), MIN(min), MAX(max), "
                f"MIN(first_ts), MAX(last_ts) FROM {minutes} "
                "WHERE topic = %s AND start >= %s AND start < %s "
                f"GROUP BY topic, {hour}",
                bounds,
            )

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
        """Buckets of ``bucket_seconds`` (a multiple of ``resolution``) from rollup rows."""
        connection = connections[self.alias]
        adapt = connection.ops.adapt_datetimefield_value
        bucket, bucket_params = epoch_bucket(
            vendor=connection.vendor, column="start", seconds=bucket_seconds
        )
        where, params = ["topic = %s", "start < %s"], [topic, adapt(end)]
        if start is not None:
            where.append("start >= %s")
            params.append(adapt(start))
        table = self._q(_TABLES[resolution])
        sql = (
            f"SELECT {bucket} AS bucket, SUM(count), SUM(sum), MIN(min), MAX(max) "  # noqa: S608
            f"FROM {table} WHERE {' AND '.join(where)} GROUP BY bucket ORDER BY bucket"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [*bucket_params, *params])
            rows = cursor.fetchall()
        return [
            Bucket(
                start=datetime.fromtimestamp(int(row[0]) * bucket_seconds, tz=UTC),
                values=bucket_values(aggregates, *row[1:]),
            )
            for row in rows
        ]

    # --- retention ------------------------------------------------------------------
    def readings_expire(self, *, before: datetime, batch_size: int) -> int:
        return self._expire_per_topic(Reading._meta.db_table, "ts", before, batch_size)

    def rollups_expire(self, *, before: datetime, batch_size: int) -> int:
        return sum(
            self._expire_per_topic(table, "start", before, batch_size) for table in _TABLES.values()
        )

    def _expire_per_topic(self, table: str, column: str, before: datetime, size: int) -> int:
        """Delete rows older than ``before``, ``size`` keys at a time, each in its own commit.

        Walks the (topic, time) key of each topic: every batch is an index range, and no
        transaction holds locks for more than one batch.
        """
        connection = connections[self.alias]
        cutoff = connection.ops.adapt_datetimefield_value(before)
        quoted = self._q(table)
        sql = (
            f"DELETE FROM {quoted} WHERE topic = %s AND {column} IN ("  # noqa: S608
            f"SELECT {column} FROM {quoted} WHERE topic = %s AND {column} < %s "
            f"ORDER BY {column} LIMIT %s)"
        )
        deleted = 0
        for topic in self.topics():
            while True:
                with transaction.atomic(using=self.alias), connection.cursor() as cursor:
                    cursor.execute(sql, [topic, topic, cutoff, size])
                    count = cursor.rowcount
                deleted += count
                if count < size:
                    break
        return deleted

    # --- an account's data, deleted with the account (telemetry.account_events) --------
    def device_topics(self, *, device: str) -> list[str]:
        """Every topic of the device ``device`` with readings, rollups or a summary."""
        of_device = {"topic": device}, {"topic__startswith": f"{device}."}
        names = set(
            Topic.objects.using(self.alias).filter(device=device).values_list("name", flat=True)
        )
        for lookup in of_device:
            names.update(
                RollupState.objects.using(self.alias)
                .filter(**lookup)
                .values_list("topic", flat=True)
            )
            names.update(
                Reading.objects.using(self.alias)
                .filter(**lookup)
                .values_list("topic", flat=True)
                .distinct()
            )
        return sorted(names)

    def topic_purge(self, *, topic: str, batch_size: int) -> int:
        """Delete every reading and rollup of ``topic`` in batches of ``batch_size`` (each its
        own commit), then its rollup state and summary; the number of rows deleted."""
        deleted = 0
        for table, column in [(Reading._meta.db_table, "ts")] + [
            (table, "start") for table in _TABLES.values()
        ]:
            deleted += self._purge_topic_rows(table, column, topic, batch_size)
        with transaction.atomic(using=self.alias):
            RollupState.objects.using(self.alias).filter(topic=topic).delete()
            Topic.objects.using(self.alias).filter(name=topic).delete()
        return deleted

    def _purge_topic_rows(self, table: str, column: str, topic: str, size: int) -> int:
        connection = connections[self.alias]
        quoted = self._q(table)
        sql = (
            f"DELETE FROM {quoted} WHERE topic = %s AND {column} IN ("  # noqa: S608
            f"SELECT {column} FROM {quoted} WHERE topic = %s ORDER BY {column} LIMIT %s)"
        )
        deleted = 0
        while True:
            with transaction.atomic(using=self.alias), connection.cursor() as cursor:
                cursor.execute(sql, [topic, topic, size])
                count = cursor.rowcount
            deleted += count
            if count < size:
                return deleted

    def dead_letters_expire(self, *, before: datetime, batch_size: int) -> int:
        connection = connections[self.alias]
        table = self._q(DeadLetter._meta.db_table)
        sql = (
            f"DELETE FROM {table} WHERE id IN (SELECT id FROM {table} "  # noqa: S608
            "WHERE received_at < %s ORDER BY received_at LIMIT %s)"
        )
        cutoff = connection.ops.adapt_datetimefield_value(before)
        deleted = 0
        while True:
            with transaction.atomic(using=self.alias), connection.cursor() as cursor:
                cursor.execute(sql, [cutoff, batch_size])
                count = cursor.rowcount
            deleted += count
            if count < batch_size:
                return deleted


def bucket_values(aggregates: Sequence[str], count, total, low, high) -> dict:
    """The requested aggregates from a bucket's count, sum, min and max."""
    count = int(count or 0)
    derived = {
        "count": count,
        "sum": None if count == 0 else float(total),
        "min": None if count == 0 else float(low),
        "max": None if count == 0 else float(high),
        "avg": None if count == 0 else float(total) / count,
    }
    return {name: derived[name] for name in aggregates}
