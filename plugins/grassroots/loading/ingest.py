"""Ingest one feed for one day: find (or pull) its files, then load them; every outcome lands in the ledger.

Loaded, rejected and duplicate files are recorded by the loader. A day without a file is
recorded as `missing` and raises `FeedMissing`; a pull or load that raises is rolled back,
recorded as `failed` with its reason and raises `LoadFailed`. Neither message holds a field
value: the reason is the exception's class and, for the project's own errors, their message.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import traceback
from pathlib import Path

import psycopg

from grassroots import settings
from grassroots.loading.contracts import Contract, get_contract
from grassroots.loading.feed_client import PullFailed, PullRejected, fetch_to_jsonl
from grassroots.loading.landing import delivered, delivery_suffixes, feed_folder
from grassroots.loading.loader import DayResult, load_day, record_outcome
from grassroots.loading.readers import FileRejected, printable
from grassroots.warehouse import db
from grassroots.warehouse.security import LOADER

log = logging.getLogger(__name__)


class FeedMissing(FileNotFoundError):
    """No file was delivered for the feed's day (recorded as `missing`)."""


class LoadFailed(RuntimeError):
    """The feed's day could not be loaded (recorded as `failed`); the message holds no field value."""


def feed_dir(contract: Contract, ds: dt.date, landing: Path | None = None) -> Path:
    """landing/<ds>/<feed>/: where a feed's files for a day are dropped."""
    return feed_folder(contract.feed, ds, landing)


def pull_api(contract: Contract, ds: dt.date, landing: Path | None = None) -> Path:
    """Fetch an API feed's pages for the day into a JSON-lines capture in its landing folder.

    Bounded by the contract's limits (feed_client); PullRejected leaves the partial capture.
    """
    base_url = os.environ.get("GRASSROOTS_API_URL")
    if not base_url or not contract.api_path:
        raise LoadFailed(f"feed {contract.feed}: set GRASSROOTS_API_URL to the departments' API base URL")
    target = capture_path(contract, ds, landing)
    count = fetch_to_jsonl(base_url, contract.api_path, ds.isoformat(), target, limits=contract.limits)
    log.info("feed %s day %s: %d records pulled from the API", contract.feed, ds, count)
    return target


def capture_path(contract: Contract, ds: dt.date, landing: Path | None = None) -> Path:
    """Where an API feed's pull for the day is written."""
    return feed_dir(contract, ds, landing) / f"{contract.feed}_{ds:%Y%m%d}.jsonl"


def is_delivery(path: Path, contract: Contract) -> bool:
    """A file of the contract's format by its name: `.csv`, `.csv.gz`, `.csv.zip`, a bare `.gz` or `.zip`."""
    return path.name.lower().endswith(delivery_suffixes(contract.format))


def day_files(contract: Contract, ds: dt.date, landing: Path | None = None) -> list[Path]:
    """The feed's delivered files for the day, by the contract's format."""
    return delivered(feed_dir(contract, ds, landing), delivery_suffixes(contract.format))


def safe_reason(exc: BaseException) -> str:
    """An exception as a ledger reason and log text with no field value in it: the class, and the
    message only for the project's own errors, whose messages name feeds, files, pages and rules."""
    name = type(exc).__name__
    if isinstance(exc, (FileRejected, PullFailed, PullRejected, LoadFailed)):
        return printable(f"{name}: {exc}")[:500]
    if isinstance(exc, psycopg.Error):
        return f"{name}: SQLSTATE {exc.sqlstate}" if exc.sqlstate else name
    if isinstance(exc, OSError) and exc.errno is not None:
        return f"{name}: errno {exc.errno}"
    return name


def _loaded_before(dsn: str, feed: str, ds: dt.date) -> bool:
    """The feed's day has a live loaded delivery (a file loaded and not superseded)."""
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "select exists (select 1 from meta.load_batch where feed = %s and ds = %s and status = 'loaded')",
            (feed, ds),
        ).fetchone()
    return bool(row[0])


def ingest(feed: str, ds: dt.date, *, force: bool = False, dsn: str | None = None) -> DayResult:
    """Pull (API feeds), then load a feed's day as the `loader` role; raise if nothing was delivered.

    The warehouse must be bootstrapped (grassroots.warehouse.bootstrap); `dsn` is the warehouse login's.
    """
    contract = get_contract(feed)
    dsn = db.role_dsn(LOADER, dsn)
    try:
        rejections: dict[str, FileRejected] = {}
        if contract.delivery == "api":
            try:
                pull_api(contract, ds)
            except PullRejected as exc:
                rejections[capture_path(contract, ds).name] = FileRejected(exc.rule, exc.page, exc.detail)
        files = day_files(contract, ds)
        if not files and _loaded_before(dsn, feed, ds):
            # A rerun after the landing folder was cleaned up (or an API that no longer serves an
            # old day) keeps the day's earlier load: re-running a day never erases what it loaded.
            log.warning(
                "feed %s day %s: no file in %s; the day's earlier load is kept", feed, ds, feed_dir(contract, ds)
            )
            return DayResult(feed, ds, [], unchanged=True)
        if not files:
            reason = f"no file delivered in {feed_dir(contract, ds)}"
            record_outcome(dsn, contract, ds, "missing", "missing", reason)
            raise FeedMissing(f"feed {feed}: {reason}")
        return load_day(
            dsn,
            contract,
            ds,
            files,
            settings.hmac_secret(),
            force=force,
            key_version=settings.hmac_key_version(),
            rejections=rejections,
        )
    except FeedMissing:
        raise
    except Exception as exc:
        reason = safe_reason(exc)
        frames = "".join(traceback.format_tb(exc.__traceback__))  # where it failed; the message may hold values
        log.error("feed %s day %s: load failed: %s\n%s", feed, ds, reason, frames)
        try:
            if _loaded_before(dsn, feed, ds) and contract.delivery == "api" and not day_files(contract, ds):
                raise LoadFailed(f"feed {feed} day {ds}: the pull failed ({reason}); the day's earlier load is kept")
            record_outcome(dsn, contract, ds, "failed", "load_failed", reason)
        except LoadFailed:
            raise

        except Exception as ledger_exc:  # noqa: BLE001 (the warehouse itself may be what failed)
            log.error("feed %s day %s: the failure could not be recorded: %s", feed, ds, safe_reason(ledger_exc))
        raise LoadFailed(f"feed {feed} day {ds}: load failed: {reason}") from None
