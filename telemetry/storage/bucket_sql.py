"""The SQL expression that numbers epoch-aligned time buckets, for SQLite and PostgreSQL."""

from __future__ import annotations


def epoch_bucket(*, vendor: str, column: str, seconds: int) -> tuple[str, list[int]]:
    """``(sql, params)`` giving floor(epoch(column) / seconds): the bucket's index, so its start
    is ``index * seconds`` seconds after the epoch. Floors pre-1970 times too."""
    if vendor == "postgresql":
        return f"floor(extract(epoch FROM {column}) / %s)::bigint", [seconds]
    # SQLite's integer division truncates towards zero; the modulo form floors.
    epoch = f"CAST(strftime('%%s', {column}) AS INTEGER)"
    return f"(({epoch} - ((({epoch} %% %s) + %s) %% %s)) / %s)", [seconds] * 4
