"""Readings in the telemetry SQL database (SQLite or PostgreSQL) through the Django ORM.

Writes are ``INSERT ... ON CONFLICT DO NOTHING`` statements, whose row counts tell how many
readings were new without a query per row: on PostgreSQL the batch is first copied (``COPY``)
into a per-session temporary table, which costs the server and the client about half of what
a multi-row ``VALUES`` list does; on SQLite it is multi-row ``VALUES``. Reads walk the
(topic, ts) key.
"""

from __future__ import annotations

import io
from collections.abc import Collection, Sequence
from datetime import UTC, datetime

from django.db import connections, transaction

from telemetry.models import DeadLetter, Reading, Topic
from telemetry.records import TOPIC_MAX_LENGTH, AppendResult, DeadLetterIn, ReadingIn
from telemetry.routers import telemetry_alias
from telemetry.storage.base import Bucket, Point, TopicSummary
from telemetry.storage.bucket_sql import epoch_bucket
from telemetry.storage.rollup_sql import mark_dirty as rollup_mark_dirty

# Rows per multi-row INSERT on PostgreSQL (the topic summaries; readings go in by COPY):
# 5 parameters each stays far below its 65535 limit.
_PG_ROWS_PER_STATEMENT = 2000
# The batch's rows on their way into telemetry_reading (PostgreSQL): one temporary table per
# database session, emptied at every commit.
_PG_STAGE = "telemetry_reading_stage"
# COPY's text format: backslash escapes for the characters that delimit rows and columns.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})

_AGG_SQL = {
    "avg": "AVG(value)",
    "min": "MIN(value)",
    "max": "MAX(value)",
    "count": "COUNT(value)",
    "sum": "SUM(value)",
}


def _newest_per_topic(readings: Sequence[ReadingIn]) -> dict[str, ReadingIn]:
    newest: dict[str, ReadingIn] = {}
    for reading in readings:
        seen = newest.get(reading.topic)
        if seen is None or reading.ts > seen.ts:
            newest[reading.topic] = reading
    return newest


def _unit_per_topic(readings: Sequence[ReadingIn]) -> dict[str, str]:
    """The unit of each topic's newest reading that carries one (topics without: absent)."""
    units: dict[str, tuple] = {}
    for reading in readings:
        if reading.unit is None:
            continue
        seen = units.get(reading.topic)
        if seen is None or reading.ts >= seen[0]:
            units[reading.topic] = (reading.ts, reading.unit)
    return {topic: unit for topic, (_, unit) in units.items()}


class SqlStorage:
    """The ``sql`` backend. The database alias is resolved per call (tests switch it)."""

    uses_django_database = True

    @property
    def alias(self) -> str:
        return telemetry_alias()

    # --- writes ---------------------------------------------------------------------
    def append(
        self, *, readings: Sequence[ReadingIn], dead_letters: Sequence[DeadLetterIn] = ()
    ) -> AppendResult:
        alias = self.alias
        # No savepoint: a caller's surrounding transaction (services) is the batch.
        with transaction.atomic(using=alias, savepoint=False):
            stored = self._insert_readings(alias, readings) if readings else 0
            if readings:
                self._upsert_topics(alias, readings)
                rollup_mark_dirty(alias, readings)
            if dead_letters:
                DeadLetter.objects.using(alias).bulk_create(
                    DeadLetter(
                        topic=d.topic, payload=d.payload, reason=d.reason, received_at=d.received_at
                    )
                    for d in dead_letters
                )
        return AppendResult(
            stored=stored, duplicates=len(readings) - stored, dead_lettered=len(dead_letters)
        )

    def _rows_per_statement(self, alias: str, columns: int) -> int:
        connection = connections[alias]
        if connection.vendor == "postgresql":
            return _PG_ROWS_PER_STATEMENT
        return max(1, connection.features.max_query_params // columns)

    def _insert_readings(self, alias: str, readings: Sequence[ReadingIn]) -> int:
        connection = connections[alias]
        if connection.vendor == "postgresql":
            return self._copy_readings(connection, readings)
        adapt = connection.ops.adapt_datetimefield_value
        # Sorted, so concurrent writers take key locks in the same order (no deadlocks).
        rows = sorted(readings, key=lambda r: (r.topic, r.ts))
        size = self._rows_per_statement(alias, 4)
        table = connection.ops.quote_name(Reading._meta.db_table)
        stored = 0
        with connection.cursor() as cursor:
            for i in range(0, len(rows), size):
                chunk = rows[i : i + size]
                params: list = []
                for r in chunk:
                    params.extend((r.topic, adapt(r.ts), r.value, r.text))
                values = ",".join(["(%s,%s,%s,%s)"] * len(chunk))
                cursor.execute(
                    f"INSERT INTO {table} (topic, ts, value, text) VALUES {values} "  # noqa: S608
                    "ON CONFLICT (topic, ts) DO NOTHING",
                    params,
                )
                stored += cursor.rowcount
        return stored

    @staticmethod
    def _copy_readings(connection, readings: Sequence[ReadingIn]) -> int:
        """COPY the batch into the session's stage table, then insert it in key order (so
        concurrent writers take key locks in the same order: no deadlocks)."""
        table = connection.ops.quote_name(Reading._meta.db_table)
        buffer = io.StringIO()
        write = buffer.write
        escapes = _COPY_ESCAPES
        for r in readings:
            value = "\\N" if r.value is None else repr(r.value)
            text = "\\N" if r.text is None else r.text.translate(escapes)
            write(f"{r.topic.translate(escapes)}\t{r.ts.isoformat()}\t{value}\t{text}\n")
        # Encoded here, not by the driver inside COPY: text that is not valid UTF-8 then
        # raises UnicodeEncodeError (the data refused) instead of a cancelled query.
        buffer = io.BytesIO(buffer.getvalue().encode("utf-8"))
        with connection.cursor() as cursor:
            cursor.execute(
                f"CREATE TEMPORARY TABLE IF NOT EXISTS {_PG_STAGE} "
                f"(topic varchar({TOPIC_MAX_LENGTH}), ts timestamptz, value double precision, "
                "text text) "
                "ON COMMIT DELETE ROWS"
            )
            cursor.copy_expert(f"COPY {_PG_STAGE} (topic, ts, value, text) FROM STDIN", buffer)
            cursor.execute(
                f"INSERT INTO {table} (topic, ts, value, text) "  # noqa: S608
                f"SELECT topic, ts, value, text FROM {_PG_STAGE} ORDER BY topic, ts "
                "ON CONFLICT (topic, ts) DO NOTHING"
            )
            stored = cursor.rowcount
            cursor.execute(f"TRUNCATE {_PG_STAGE}")  # a caller's transaction may hold more
        return stored

    def _upsert_topics(self, alias: str, readings: Sequence[ReadingIn]) -> None:
        """Move each topic's summary forward to the newest reading of the batch, and set its
        unit from the newest reading of the batch that carries one (any age: a unit is not a
        value, and a late reading knows it as well as a new one)."""
        connection = connections[alias]
        adapt = connection.ops.adapt_datetimefield_value
        newest = _newest_per_topic(readings)
        units = _unit_per_topic(readings)
        names = sorted(newest)
        size = self._rows_per_statement(alias, 6)
        table = connection.ops.quote_name(Topic._meta.db_table)
        newer = f"{table}.last_ts < excluded.last_ts"
        with connection.cursor() as cursor:
            for i in range(0, len(names), size):
                chunk = [newest[name] for name in names[i : i + size]]
                params: list = []
                for r in chunk:
                    device, unit = r.topic.split(".", 1)[0], units.get(r.topic)
                    params.extend((r.topic, device, adapt(r.ts), r.value, r.text, unit))
                values = ",".join(["(%s,%s,%s,%s,%s,%s)"] * len(chunk))
                # SET sees the old row in every expression, so each column tests ``newer`` itself.
                cursor.execute(
                    f"INSERT INTO {table} (name, device, last_ts, last_value, last_text, unit) "  # noqa: S608
                    f"VALUES {values} ON CONFLICT (name) DO UPDATE SET "
                    f"last_ts = CASE WHEN {newer} THEN excluded.last_ts ELSE {table}.last_ts END, "
                    f"last_value = CASE WHEN {newer} THEN excluded.last_value "
                    f"ELSE {table}.last_value END, "
                    f"last_text = CASE WHEN {newer} THEN excluded.last_text "
                    f"ELSE {table}.last_text END, "
                    f"unit = COALESCE(excluded.unit, {table}.unit) "
                    f"WHERE {newer} OR (excluded.unit IS NOT NULL AND "
                    f"({table}.unit IS NULL OR {table}.unit <> excluded.unit))",
                    params,
                )

    # --- reads ----------------------------------------------------------------------
    def _readings(self, topic: str, start: datetime | None, end: datetime | None):
        qs = Reading.objects.using(self.alias).filter(topic=topic)
        if start is not None:
            qs = qs.filter(ts__gte=start)
        if end is not None:
            qs = qs.filter(ts__lt=end)
        return qs

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
        # (ts, value) alone is an index-only scan of the covering key on PostgreSQL; the text
        # of the (rare) non-numeric readings is fetched in a second query, only if any.
        qs = self._readings(topic, start, end).order_by("-ts" if descending else "ts")
        rows = list(qs.values_list("ts", "value")[:limit])
        missing = [ts for ts, value in rows if value is None]
        texts = {}
        if missing:
            texts = dict(
                Reading.objects.using(self.alias)
                .filter(topic=topic, ts__in=missing)
                .values_list("ts", "text")
            )
        return [Point(ts, value, texts.get(ts) if value is None else None) for ts, value in rows]

    def count(self, *, topic: str, start: datetime | None, end: datetime | None, cap: int) -> int:
        return self._readings(topic, start, end).values("ts")[:cap].count()

    def aggregate(
        self,
        *,
        topic: str,
        start: datetime | None,
        end: datetime | None,
        bucket_seconds: int,
        aggregates: Sequence[str],
    ) -> list[Bucket]:
        connection = connections[self.alias]
        adapt = connection.ops.adapt_datetimefield_value
        bucket, bucket_params = epoch_bucket(
            vendor=connection.vendor, column="ts", seconds=bucket_seconds
        )
        where = ["topic = %s", "value IS NOT NULL"]
        params: list = [topic]
        if start is not None:
            where.append("ts >= %s")
            params.append(adapt(start))
        if end is not None:
            where.append("ts < %s")
            params.append(adapt(end))
        columns = ", ".join(_AGG_SQL[name] for name in aggregates)
        table = connection.ops.quote_name(Reading._meta.db_table)
        sql = (
            f"SELECT {bucket} AS bucket, {columns} FROM {table} "  # noqa: S608
            f"WHERE {' AND '.join(where)} GROUP BY bucket ORDER BY bucket"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [*bucket_params, *params])
            rows = cursor.fetchall()
        return [
            Bucket(
                start=datetime.fromtimestamp(int(row[0]) * bucket_seconds, tz=UTC),
                values=_typed(aggregates, row[1:]),
            )
            for row in rows
        ]

    def topic_list(
        self, *, devices: Collection[str] | None = None, names: Collection[str] | None = None
    ) -> list[TopicSummary]:
        qs = Topic.objects.using(self.alias).order_by("name")
        if devices is not None:
            qs = qs.filter(device__in=devices)  # a list, or a subquery of Device names
        if names is not None:
            qs = qs.filter(name__in=list(names))
        return [
            TopicSummary(*row)
            for row in qs.values_list(
                "name", "device", "last_ts", "last_value", "last_text", "unit"
            )
        ]

    def topic_get(self, *, topic: str) -> TopicSummary | None:
        found = self.topic_list(names=[topic])
        return found[0] if found else None

    def topics_known(self, *, names: Collection[str]) -> set[str]:
        wanted = sorted(set(names))
        known: set[str] = set()
        # One query unless the names outgrow the database's parameter limit (SQLite).
        size = connections[self.alias].features.max_query_params or len(wanted) or 1
        for i in range(0, len(wanted), size):
            known.update(
                Topic.objects.using(self.alias)
                .filter(name__in=wanted[i : i + size])
                .values_list("name", flat=True)
            )
        return known

    def check(self) -> None:
        with connections[self.alias].cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()


def _typed(aggregates: Sequence[str], values: Sequence) -> dict[str, float | int | None]:
    out: dict[str, float | int | None] = {}
    for name, value in zip(aggregates, values, strict=True):
        if value is None:
            out[name] = None
        elif name == "count":
            out[name] = int(value)
        else:
            out[name] = float(value)
    return out
