"""One time-zone setting: the dbt var `timezone`, read by SQL (macro local_date) and Python (settings.TIMEZONE)."""

from __future__ import annotations

import datetime as dt
import inspect
import re

import pytest
import yaml

from grassroots import settings
from grassroots.loading import columnar, kernels, parsers
from grassroots.loading.contracts import parse_contract


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


def _fast_timestamp(monkeypatch: pytest.MonkeyPatch, text: str) -> tuple[list[dt.timedelta], int]:
    """The UTC offsets the fast path passes to the compiled row writer for one canonical timestamp cell,
    and the cell it writes (microseconds from 2000-01-01 UTC)."""
    passed = []

    def spy(*args: object, **kwargs: object) -> object:
        passed.append(inspect.signature(kernels.copy_binary_rows).bind(*args, **kwargs).arguments["utc_offset"])
        return kernels.copy_binary_rows(*args, **kwargs)

    monkeypatch.setattr(columnar, "copy_binary_rows", spy)
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
    block = columnar.FastPath(contract, ["at"], b"k", dt.date(2026, 11, 24), 1).process([text], 2)
    assert block.rows == 1
    # A row: its field count (2 bytes), then the cell's length (4 bytes) and value (8 bytes).
    return passed, int.from_bytes(bytes(block.data[6:14]), "big", signed=True)


def test_the_compiled_loader_kernels_get_the_settings_offset(monkeypatch: pytest.MonkeyPatch) -> None:
    """The kernels take local time's offset as an argument: the fast path passes the setting's, and
    the instant it writes is the row parser's."""
    passed, micros = _fast_timestamp(monkeypatch, "2026-11-24 08:05:00")
    assert passed == [settings.fixed_utc_offset()]
    epoch = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    assert dt.timedelta(microseconds=micros) == parsers.parse_timestamp("2026-11-24 08:05:00") - epoch


def test_another_offset_setting_reaches_the_kernels(monkeypatch: pytest.MonkeyPatch) -> None:
    """No offset is compiled in: with another setting the same local time is another instant."""
    monkeypatch.setattr(settings, "fixed_utc_offset", lambda: dt.timedelta(hours=-5))
    passed, micros = _fast_timestamp(monkeypatch, "2026-11-24 08:05:00")
    assert passed == [dt.timedelta(hours=-5)]
    local = dt.datetime(2026, 11, 24, 8, 5, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    assert dt.timedelta(microseconds=micros) == local - dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


def test_a_zone_with_daylight_saving_is_refused_by_the_loader() -> None:
    with pytest.raises(ValueError, match="Europe/Berlin has daylight saving"):
        settings.fixed_utc_offset("Europe/Berlin")
