"""Named PostgreSQL advisory locks: one owner for every lock id the pipeline takes.

| lock        | held by                                              | so that                              |
|-------------|------------------------------------------------------|--------------------------------------|
| BOOTSTRAP   | bootstrap, security.apply (session)                  | one grantor at a time (GRANTs clash) |
| FEED_DAY    | the loader, per (feed, day) (transaction)            | one load of a feed-day at a time     |
| WAREHOUSE   | dbt build, mart validation, publication (exclusive); | one build of the warehouse at a time;|
|             | every load (shared, transaction)                     | no load changes staging mid-build    |

Runs of the same day (or of different days) at once therefore queue instead of failing: the
second waits and then repeats the first's work on the same inputs, which gives the same tables.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

BOOTSTRAP = (36900, 0)
FEED_DAY_CLASS = 36901
WAREHOUSE = (36902, 0)


def feed_day(feed: str, day: str) -> tuple[int, int]:
    """The FEED_DAY lock of one feed and day (ISO date)."""
    value = zlib.crc32(f"{feed}|{day}".encode())
    return FEED_DAY_CLASS, value - (1 << 32) if value >= 1 << 31 else value


def xact(conn: psycopg.Connection, lock: tuple[int, int], *, shared: bool = False) -> None:
    """Take `lock` until the connection's transaction ends."""
    function = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
    conn.execute(f"select {function}(%s, %s)", lock)  # noqa: S608 - one of two fixed function names


@contextmanager
def session(conn: psycopg.Connection, lock: tuple[int, int]) -> Iterator[None]:
    """Hold `lock` for the block (the connection should be in autocommit mode)."""
    conn.execute("select pg_advisory_lock(%s, %s)", lock)
    try:
        yield
    finally:
        conn.execute("select pg_advisory_unlock(%s, %s)", lock)


@contextmanager
def held(dsn: str, lock: tuple[int, int]) -> Iterator[None]:
    """Hold `lock` on a connection of its own for the block (e.g. around a dbt invocation)."""
    with psycopg.connect(dsn, autocommit=True) as conn, session(conn, lock):
        yield
