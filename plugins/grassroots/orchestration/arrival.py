"""Wait for a feed's files of the day in Airflow's triggerer, up to the contract's deadline.

Departments drop files when they send them. Each `wait_<feed>` task of the ingest DAG is a
`FeedArrivalSensor`: it looks once in `<landing>/<ds>/<feed>/` and returns at once when the day's
files are there (or when the deadline has passed); otherwise it defers to a `FeedArrivalTrigger`,
which polls the folder in the triggerer (no worker slot is held while waiting) and fires when
files have arrived and stopped changing, or at the deadline. The load that follows loads what
arrived or, with nothing there, records the feed-day `missing`; the day goes on without it and
publication holds the KPI periods that need it.

The deadline of day D is D+1 00:00 Asia/Shanghai plus the contract's `deliver_by` (`10h`:
10:00 the next morning). `GRASSROOTS_DELIVER_BY` overrides it for every feed: a duration
(`2h`, `0s`) replaces each contract's `deliver_by`; an ISO timestamp with an offset
(`2026-11-30T10:05:00+00:00`) is the deadline of every feed-day (tests set one a few seconds
from now). `GRASSROOTS_ARRIVAL_POLL_SECONDS` sets how often the trigger looks (default 60).

API feeds (`delivery: api`) are pulled by their load task: the department's API serves the
day when asked, so they are treated as available at pull time (a failed pull is recorded by the
load as `failed`); their sensor returns at once.

The trigger runs in the triggerer process and uses only the standard library and
`grassroots.loading.landing` (what counts as a delivered file, shared with the loader); the landing
folder must be visible to the triggerer as it is to the workers.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from airflow.sdk import BaseSensorOperator
from airflow.triggers.base import BaseTrigger, TriggerEvent

from grassroots.loading.landing import delivered
from grassroots.settings import TIMEZONE

DELIVER_BY_ENV = "GRASSROOTS_DELIVER_BY"
POLL_ENV = "GRASSROOTS_ARRIVAL_POLL_SECONDS"
DAY_TIMEZONE = ZoneInfo(TIMEZONE)  # the calendar the feeds' days are in
# A deferred wait fails (and retries) if its trigger has not fired this long after the deadline:
# the trigger fires at the deadline itself, so only a lost trigger gets there.
GRACE = dt.timedelta(hours=1)


def deadline(deliver_by: dt.timedelta, ds: dt.date, environ: Mapping[str, str] = os.environ) -> dt.datetime:
    """When the files of day `ds` are due (aware, UTC): `deliver_by` after the day's end in Shanghai,
    unless GRASSROOTS_DELIVER_BY overrides it (a duration, or an absolute ISO timestamp)."""
    from grassroots.loading.contracts import parse_duration

    override = environ.get(DELIVER_BY_ENV, "").strip()
    if override:
        try:
            deliver_by = parse_duration(override)
        except ValueError:
            try:
                due = dt.datetime.fromisoformat(override)
            except ValueError:
                raise ValueError(f"{DELIVER_BY_ENV}={override!r} is neither a duration nor an ISO timestamp") from None
            if due.tzinfo is None:
                raise ValueError(f"{DELIVER_BY_ENV}={override!r} needs a UTC offset") from None
            return due.astimezone(dt.UTC)
    end_of_day = dt.datetime.combine(ds + dt.timedelta(days=1), dt.time(), DAY_TIMEZONE)
    return (end_of_day + deliver_by).astimezone(dt.UTC)


def _snapshot(folder: Path, suffixes: tuple[str, ...]) -> list[tuple[str, int, int]]:
    """(name, size, mtime) of each delivered file: two equal snapshots a poll apart mean the files settled."""
    found = []
    for path in delivered(folder, suffixes):
        try:
            stat = path.stat()
        except FileNotFoundError:  # renamed or removed between listing and stat
            continue
        found.append((path.name, stat.st_size, stat.st_mtime_ns))
    return found


class FeedArrivalTrigger(BaseTrigger):
    """Fire when a feed's folder holds delivered files that did not change over one poll, or at the deadline.

    The event's payload is counts and status only: `{"feed", "status": "arrived" | "deadline", "files"}`.
    """

    def __init__(self, feed: str, folder: str, suffixes: list[str], deadline: str, poll_seconds: float = 60.0) -> None:
        super().__init__()
        self.feed, self.folder, self.suffixes = feed, folder, list(suffixes)
        self.deadline, self.poll_seconds = deadline, float(poll_seconds)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Class path and keyword arguments (plain JSON) to rebuild the trigger in the triggerer."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "feed": self.feed,
                "folder": self.folder,
                "suffixes": self.suffixes,
                "deadline": self.deadline,
                "poll_seconds": self.poll_seconds,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll the folder until the files settle or the deadline passes; yield one event."""
        due = dt.datetime.fromisoformat(self.deadline)
        folder, suffixes = Path(self.folder), tuple(self.suffixes)
        previous = None
        while True:
            files = await asyncio.to_thread(_snapshot, folder, suffixes)
            now = dt.datetime.now(dt.UTC)
            if files and (files == previous or now >= due):
                self.log.info("feed %s: %d file(s) arrived in %s", self.feed, len(files), folder)
                yield TriggerEvent({"feed": self.feed, "status": "arrived", "files": len(files)})
                return
            if now >= due:
                self.log.info("feed %s: no file in %s by %s", self.feed, folder, self.deadline)
                yield TriggerEvent({"feed": self.feed, "status": "deadline", "files": 0})
                return
            previous = files
            await asyncio.sleep(max(0.0, min(self.poll_seconds, (due - now).total_seconds())))


class FeedArrivalSensor(BaseSensorOperator):
    """Wait (deferred, in the triggerer) for one feed's files of the run's day, up to its deadline.

    Succeeds whether the files arrived or the deadline passed: the load decides what that means
    (`missing` is recorded by grassroots.loading.ingest). Returns `{"feed", "ds", "status", "files"}`.
    """

    ui_color = "#e6f1f2"

    def __init__(self, *, feed: str, **kwargs: Any) -> None:
        kwargs.setdefault("poke_interval", 60)
        super().__init__(**kwargs)
        self.feed = feed

    def poke(self, context: Any) -> bool:
        """Whether the day's files are in the landing folder (the check made before deferring)."""
        return bool(self._look(context)[2])

    def _look(self, context: Any) -> tuple[dt.date, Any, list[Path]]:
        from grassroots.loading.contracts import get_contract
        from grassroots.loading.landing import delivery_suffixes, feed_folder
        from grassroots.orchestration.days import partition_date

        ds, contract = partition_date(context), get_contract(self.feed)
        if contract.delivery == "api":
            return ds, contract, []
        return ds, contract, delivered(feed_folder(self.feed, ds), delivery_suffixes(contract.format))

    def execute(self, context: Any) -> dict:
        """Return at once when the files are there, the deadline has passed or the feed is an API; else defer."""
        from grassroots.loading.landing import delivery_suffixes, feed_folder

        ds, contract, files = self._look(context)
        result = {"feed": self.feed, "ds": ds.isoformat()}
        if contract.delivery == "api":
            self.log.info("feed %s is pulled from its API by the load: available at pull time", self.feed)
            return {**result, "status": "pull", "files": 0}
        if files:
            return {**result, "status": "arrived", "files": len(files)}
        due = deadline(contract.deliver_by, ds)
        now = dt.datetime.now(dt.UTC)
        if now >= due:
            self.log.warning(
                "feed %s day %s: no file by its deadline %s; the load records the feed-day missing",
                self.feed,
                ds,
                due.isoformat(),
            )
            return {**result, "status": "deadline", "files": 0}
        poll = float(os.environ.get(POLL_ENV) or self.poke_interval)
        folder = feed_folder(self.feed, ds)
        self.log.info("feed %s day %s: waiting in the triggerer for %s until %s", self.feed, ds, folder, due)
        self.defer(
            trigger=FeedArrivalTrigger(
                self.feed, str(folder), list(delivery_suffixes(contract.format)), due.isoformat(), poll
            ),
            method_name="execute_complete",
            timeout=due - now + GRACE,
        )

    def execute_complete(self, context: Any, event: Mapping[str, Any] | None = None) -> dict:
        """Resume after the trigger fired: report whether the files arrived or the deadline passed."""
        from grassroots.orchestration.days import partition_date

        event = dict(event or {})
        status = event.get("status", "deadline")
        if status != "arrived":
            self.log.warning("feed %s: no file by the deadline; the load records the feed-day missing", self.feed)
        files = int(event.get("files", 0))
        return {"feed": self.feed, "ds": partition_date(context).isoformat(), "status": status, "files": files}
