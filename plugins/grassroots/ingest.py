"""Ingest one feed for one day: find (or pull) its files, then load them."""

from __future__ import annotations

import datetime as dt
import logging
import os
from pathlib import Path

from grassroots import db, settings
from grassroots.contracts import Contract, get_contract
from grassroots.feedapi import fetch_to_jsonl
from grassroots.loader import DayResult, load_day
from grassroots.security import LOADER

log = logging.getLogger(__name__)
FILE_SUFFIXES = {"csv": (".csv",), "jsonl": (".jsonl", ".json"), "xlsx": (".xlsx",), "api_json": (".jsonl",)}


def feed_dir(contract: Contract, ds: dt.date, landing: Path | None = None) -> Path:
    """landing/<ds>/<feed>/: where a feed's files for a day are dropped."""
    return (landing or settings.landing_dir()) / ds.isoformat() / contract.feed


def pull_api(contract: Contract, ds: dt.date, landing: Path | None = None) -> Path:
    """Fetch an API feed's pages for the day into a JSON-lines capture in its landing folder."""
    base_url = os.environ.get("GRASSROOTS_API_URL")
    if not base_url or not contract.api_path:
        raise RuntimeError(f"feed {contract.feed}: set GRASSROOTS_API_URL to the departments' API base URL")
    target = feed_dir(contract, ds, landing) / f"{contract.feed}_{ds:%Y%m%d}.jsonl"
    count = fetch_to_jsonl(base_url, contract.api_path, ds.isoformat(), target)
    log.info("feed %s day %s: %d records pulled from the API", contract.feed, ds, count)
    return target


def day_files(contract: Contract, ds: dt.date, landing: Path | None = None) -> list[Path]:
    """The feed's delivered files for the day, by the contract's format."""
    folder = feed_dir(contract, ds, landing)
    if not folder.is_dir():
        return []
    suffixes = FILE_SUFFIXES[contract.format]
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in suffixes)


def ingest(feed: str, ds: dt.date, *, force: bool = False, dsn: str | None = None) -> DayResult:
    """Pull (API feeds), then load a feed's day as the `loader` role; raise if nothing was delivered.

    The warehouse must be bootstrapped (grassroots.bootstrap); `dsn` is the warehouse login's.
    """
    contract = get_contract(feed)
    dsn = db.role_dsn(LOADER, dsn)
    if contract.delivery == "api":
        pull_api(contract, ds)
    files = day_files(contract, ds)
    if not files:
        raise FileNotFoundError(f"feed {feed}: no file delivered for {ds} in {feed_dir(contract, ds)}")
    return load_day(
        dsn, contract, ds, files, settings.hmac_secret(), force=force, key_version=settings.hmac_key_version()
    )
