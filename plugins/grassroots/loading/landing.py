"""What counts as a delivered file in the landing folder, kept light (standard library only).

The loader (grassroots.loading.ingest) and the arrival trigger (grassroots.orchestration.arrival, which runs in
Airflow's triggerer) must agree on which files of a feed's folder are a delivery: a file whose
name ends in the contract format's suffix or a compression suffix. A department writing a file
should give it another name until it is complete (`x.csv.part`, then rename to `x.csv`).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from grassroots import settings

FILE_SUFFIXES = {"csv": (".csv",), "jsonl": (".jsonl", ".json"), "xlsx": (".xlsx",), "api_json": (".jsonl",)}
COMPRESSED_SUFFIXES = (".gz", ".zip")  # a delivery may come compressed (readers.opened_delivery)


def feed_folder(feed: str, ds: dt.date, landing: Path | None = None) -> Path:
    """landing/<ds>/<feed>/: where a feed's files for a day are dropped."""
    return (landing or settings.landing_dir()) / ds.isoformat() / feed


def delivery_suffixes(file_format: str) -> tuple[str, ...]:
    """Name endings of a delivered file of `file_format`, compressed or not."""
    return (*FILE_SUFFIXES[file_format], *COMPRESSED_SUFFIXES)


def is_delivery(path: Path, suffixes: tuple[str, ...]) -> bool:
    """A file whose name ends in one of `suffixes` (case-insensitive)."""
    return path.name.lower().endswith(tuple(suffixes))


def delivered(folder: Path, suffixes: tuple[str, ...]) -> list[Path]:
    """The delivered files in `folder`, sorted; none when it does not exist."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and is_delivery(p, suffixes))
