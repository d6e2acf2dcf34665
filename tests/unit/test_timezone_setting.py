"""One time-zone setting: the dbt var `timezone`, read by SQL (macro local_date) and Python (settings.TIMEZONE)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import yaml

from grassroots import settings
from grassroots.loading import columnar, parsers
from grassroots.loading.contracts import parse_contract
from tests.copy_text import block_rows


def test_python_reads_the_dbt_var() -> None:
    project = yaml.safe_load((settings.dbt_project_dir() / "dbt_project.yml").read_text(encoding="utf-8"))
    assert settings.TIMEZONE == project["vars"]["timezone"]
    assert parsers.LOCAL_TIME.utcoffset(None) == settings.fixed_utc_offset()


def test_no_model_names_a_time_zone_of_its_own() -> None:
    """Every timestamp's day goes through local_date(), never `at time zone '<zone>'` in a model."""
    literal = re.compile(r"at\s+time\s+zone\s+'", re.IGNORECASE)
    models = sorted((settings.dbt_project_dir() / "models").rglob("*.sql"))
    assert models
    assert [p.name for p in models if literal.search(p.read_text(encoding="utf-8"))] == []


def _fast_timestamp(text: str) -> dt.datetime:
    """The value the fast path loads for one canonical timestamp cell."""
    contract = parse_contract(
        {
            "feed": "clock",
            "department": "test",
            "description": "One timestamp.",
            "format": "csv",
            "load_mode": "delta",
            "primary_key": ["at"],
            "columns": [{"name": "at", "type": "timestamp"}],
        }
    )
    fast = columnar.FastPath(contract, ["at"], b"k", dt.date(2026, 11, 24), 1)
    block = fast.process([text], 2)
    assert block.rows == 1
    return block_rows(fast, block)[0][0]


def test_the_fast_path_takes_the_settings_offset() -> None:
    """The fast path reads local time at the setting's offset: the instant it loads is the row parser's."""
    assert _fast_timestamp("2026-11-24 08:05:00") == parsers.parse_timestamp("2026-11-24 08:05:00")


def test_another_offset_setting_reaches_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """No offset is built in: with another setting the same local time is another instant."""
    monkeypatch.setattr(settings, "fixed_utc_offset", lambda: dt.timedelta(hours=-5))
    local = dt.datetime(2026, 11, 24, 8, 5, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    assert _fast_timestamp("2026-11-24 08:05:00") == local


def test_a_zone_with_daylight_saving_is_refused_by_the_loader() -> None:
    with pytest.raises(ValueError, match="Europe/Berlin has daylight saving"):
        settings.fixed_utc_offset("Europe/Berlin")
