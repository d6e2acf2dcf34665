"""One time-zone setting: the dbt var `timezone`, read by SQL (macro local_date) and Python (settings.TIMEZONE)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import yaml

from grassroots import settings
from grassroots.loading import kernels, parsers


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


def test_the_compiled_loader_kernels_use_the_settings_offset() -> None:
    """The kernels' offset is compiled in; it must be the setting's (change both, or this fails)."""
    assert dt.timedelta(seconds=kernels._BEIJING_SECONDS) == settings.fixed_utc_offset()


def test_a_zone_with_daylight_saving_is_refused_by_the_loader() -> None:
    with pytest.raises(ValueError, match="Europe/Berlin has daylight saving"):
        settings.fixed_utc_offset("Europe/Berlin")
