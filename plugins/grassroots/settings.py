"""Where things live and how to reach the warehouse, read from the environment."""

from __future__ import annotations

import datetime as dt
import os
import secrets
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
CONTRACTS_DIR = PACKAGE_DIR / "loading" / "contracts"


def project_root() -> Path:
    """The repository (or image) root: GRASSROOTS_HOME, else two levels above the package."""
    return Path(os.environ.get("GRASSROOTS_HOME", PACKAGE_DIR.parent.parent)).resolve()


def state_dir() -> Path:
    """Project-local, git-ignored folder for embedded data, feeds, reports."""
    path = Path(os.environ.get("GRASSROOTS_STATE_DIR", project_root() / ".grassroots"))
    path.mkdir(parents=True, exist_ok=True)
    return path.resolve()


def landing_dir() -> Path:
    """Folder department files are dropped into, one sub-folder per day."""
    return Path(os.environ.get("GRASSROOTS_LANDING_DIR", state_dir() / "landing"))


def reports_dir() -> Path:
    """Folder for HTML reports and other rendered outputs."""
    return Path(os.environ.get("GRASSROOTS_REPORTS_DIR", state_dir() / "reports"))


def dbt_project_dir() -> Path:
    """The dbt project folder."""
    return Path(os.environ.get("GRASSROOTS_DBT_DIR", project_root() / "dbt"))


def dbt_var(name: str) -> str:
    """A var of the dbt project (dbt_project.yml), for a setting SQL and Python share."""
    import yaml

    project = yaml.safe_load((dbt_project_dir() / "dbt_project.yml").read_text(encoding="utf-8"))
    return str(project["vars"][name])


# The city's time zone (e.g. Asia/Shanghai): the days of the DAGs' partitions, of the feeds'
# deadlines and of every timestamp. Set once, as the dbt var `timezone`, which the SQL reads too.
TIMEZONE = dbt_var("timezone")


def fixed_utc_offset(zone: str = TIMEZONE) -> dt.timedelta:
    """The zone's offset from UTC, which the loader's parsers take as fixed: refused for a zone whose
    offset changed since 2000 (daylight saving), where a local time needs its date's rules."""
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(zone)
    offsets = {dt.datetime(year, month, 15, tzinfo=tz).utcoffset() for year in range(2000, 2041) for month in (1, 7)}
    if len(offsets) != 1:
        raise ValueError(f"time zone {zone} has daylight saving or changed its offset; the loader needs a fixed one")
    return offsets.pop()


def hmac_secret() -> bytes:
    """The person-key secret: GRASSROOTS_HMAC_SECRET, or the file GRASSROOTS_HMAC_SECRET_FILE.

    The secret is never logged and never placed in SQL text.
    """
    value = os.environ.get("GRASSROOTS_HMAC_SECRET") or secret_from_file("GRASSROOTS_HMAC_SECRET_FILE")
    if value:
        return value.encode("utf-8")
    raise RuntimeError(
        "no person-key secret: set GRASSROOTS_HMAC_SECRET (or GRASSROOTS_HMAC_SECRET_FILE); "
        "`python -m grassroots secret` creates a local one"
    )


def hmac_key_version() -> int:
    """Version of the person-key secret (GRASSROOTS_HMAC_KEY_VERSION, default 1), stored per batch.

    Bump it with a new secret: days loaded under another version reload on their next run.
    """
    return int(os.environ.get("GRASSROOTS_HMAC_KEY_VERSION", "1"))


def bi_password() -> str | None:
    """The BI login's password (GRASSROOTS_BI_PASSWORD, else the file GRASSROOTS_BI_PASSWORD_FILE),
    or None: then no BI login is made.

    Like the person-key secret it is never logged and never placed in SQL text (the server
    receives a SCRAM verifier computed by the client).
    """
    return os.environ.get("GRASSROOTS_BI_PASSWORD") or secret_from_file("GRASSROOTS_BI_PASSWORD_FILE")


def secret_from_file(variable: str) -> str | None:
    """The content (stripped) of the file the environment variable `variable` names, or None if unset.

    A variable that names a missing, unreadable or empty file is an error, never a silent
    fallback (to the embedded server, to no BI login): the message names the variable and
    the path, never the content.
    """
    name = os.environ.get(variable)
    if not name:
        return None
    path = Path(name)
    try:
        value = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise RuntimeError(f"{variable} names {path}, which cannot be read ({exc.strerror})") from None
    if not value:
        raise RuntimeError(f"{variable} names {path}, which is empty")
    return value


def ensure_local_secret() -> Path:
    """Create a local secret file under the state folder if none exists; return its path."""
    path = state_dir() / "hmac_secret"
    try:  # created readable by its owner only from the first byte (no window with the umask's mode)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(secrets.token_hex(32))
    return path
