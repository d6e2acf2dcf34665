"""The day a run is for: a day's partition key, and the partition day of a task's context."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from grassroots.settings import TIMEZONE


def _local_date(value: Any) -> dt.date:
    """The Asia/Shanghai calendar day of an aware datetime."""
    from zoneinfo import ZoneInfo

    return value.astimezone(ZoneInfo(TIMEZONE)).date()


def day_key(ds: dt.date) -> str:
    """The partition key of a day: the day itself, `YYYY-MM-DD` (the Shanghai calendar day the feeds describe)."""
    return ds.isoformat()


def partition_date(context: Mapping[str, Any]) -> dt.date:
    """The day a run is for, in order of precedence.

    1. the run's partition key (scheduled runs, Asset-triggered runs, a manual run triggered with
       a partition key from the UI or the REST API);
    2. `ds` in the run's conf (a manual rerun of one day, e.g. `airflow dags trigger -c`);
    3. the latest `ds` carried by the triggering Asset events (runs of a DAG without partitions);
    4. the start of the data interval, else the logical date, as a Shanghai day.
    """
    dag_run = context.get("dag_run")
    key = context.get("partition_key") or getattr(dag_run, "partition_key", None)
    if key:
        try:
            return dt.date.fromisoformat(str(key))
        except ValueError:
            raise ValueError(f"partition key {key!r} is not a day (YYYY-MM-DD)") from None
    conf = getattr(dag_run, "conf", None) or {}
    requested = (context.get("params") or {}).get("ds") or conf.get("ds")
    if requested:
        return dt.date.fromisoformat(str(requested))
    events = context.get("triggering_asset_events") or {}
    days = [
        dt.date.fromisoformat(str(event.extra["ds"]))
        for asset_events in events.values()
        for event in asset_events
        if (event.extra or {}).get("ds")
    ]
    if days:
        return max(days)
    start = context.get("data_interval_start") or context.get("logical_date")
    if start is None:
        raise ValueError("run has no partition key, no ds in conf, no triggering asset events and no logical date")
    return _local_date(start)
