"""Publication's pure rules: which days a period covers, and what a KPI table reads (its dbt lineage)."""

from __future__ import annotations

import datetime as dt

from grassroots.quality.dbt_results import lineage
from grassroots.quality.publish import (
    Decision,
    Inputs,
    _period_reasons,
    _table_reasons,
    calendar_periods,
    period_days,
)

NOV = dt.date(2026, 11, 1)


def test_a_month_covers_only_the_days_the_warehouse_has_run() -> None:
    days = period_days(NOV, "month", dt.date(2026, 11, 21), dt.date(2026, 11, 24))
    assert days == [dt.date(2026, 11, d) for d in (21, 22, 23, 24)]
    assert period_days(dt.date(2026, 11, 20), "day", dt.date(2026, 11, 21), dt.date(2026, 11, 24)) == []
    assert period_days(dt.date(2026, 12, 1), "month", dt.date(2026, 11, 21), dt.date(2026, 12, 31))[-1] == dt.date(
        2026, 12, 31
    )


def _inputs(**changes: object) -> Inputs:
    base = {
        "build": "b1",
        "statuses": {"model.p.kpi_a": "success", "test.p.unique_x.abc": "pass", "model.p.fct_x": "success"},
        "lineage": {"kpi_a": (["grid_incidents", "population_registry"], ["model.p.fct_x", "test.p.unique_x.abc"],
                              "model.p.kpi_a")},
        "usable": {("grid_incidents", dt.date(2026, 11, 21)), ("population_registry", dt.date(2026, 11, 21)),
                   ("population_registry", dt.date(2026, 11, 22))},
        "not_usable": {("grid_incidents", dt.date(2026, 11, 22)): "missing: no delivery recorded"},
        "first_day": dt.date(2026, 11, 21),
        "last_day": dt.date(2026, 11, 22),
        "failed_suites": {},
    }  # fmt: skip
    return Inputs(**{**base, **changes})


def test_a_period_is_held_for_each_unusable_feed_day_it_covers_with_the_reason() -> None:
    inputs = _inputs()
    feeds = inputs.lineage["kpi_a"][0]
    assert _period_reasons(inputs, feeds, dt.date(2026, 11, 21), "day") == []
    assert _period_reasons(inputs, feeds, dt.date(2026, 11, 22), "day") == [
        "grid_incidents 2026-11-22: missing: no delivery recorded"
    ]
    assert _period_reasons(inputs, feeds, NOV, "month") == ["grid_incidents 2026-11-22: missing: no delivery recorded"]
    assert _period_reasons(inputs, ["population_registry"], NOV, "month") == []


def test_a_table_is_held_whole_when_an_upstream_node_or_its_suite_failed() -> None:
    assert _table_reasons(_inputs(), "kpi_a") == []
    failed = _inputs(statuses={"model.p.kpi_a": "success", "test.p.unique_x.abc": "fail", "model.p.fct_x": "success"})
    assert _table_reasons(failed, "kpi_a") == ["dbt unique_x: fail"]
    skipped = _inputs(statuses={"model.p.kpi_a": "skipped"})
    assert "dbt kpi_a: skipped" in _table_reasons(skipped, "kpi_a")
    assert _table_reasons(_inputs(failed_suites={"kpi_a": ["check c1"]}), "kpi_a") == ["check c1"]
    assert _table_reasons(_inputs(), "kpi_b") == ["not built by the day's latest dbt build (no lineage recorded)"]
    assert _table_reasons(_inputs(build=None), "kpi_a") == ["no dbt build of the day recorded"]
    assert Decision("kpi_a", "day").published == []


def test_lineage_follows_every_ancestor_to_its_feeds_and_tests() -> None:
    manifest = {
        "nodes": {
            "model.p.stg_grid": {"resource_type": "model", "schema": "stg", "name": "stg_grid"},
            "model.p.fct_x": {"resource_type": "model", "schema": "warehouse", "name": "fct_x"},
            "model.p.kpi_a": {"resource_type": "model", "schema": "marts_candidate", "name": "kpi_a"},
            "test.p.unique_x.abc": {"resource_type": "test"},
            "test.p.rel_other.def": {"resource_type": "test"},
        },
        "sources": {
            "source.p.grid_incidents.grid_incidents": {"source_name": "grid_incidents"},
            "source.p.meta.load_batch": {"source_name": "meta"},
        },
        "parent_map": {
            "model.p.stg_grid": ["source.p.grid_incidents.grid_incidents", "source.p.meta.load_batch"],
            "model.p.fct_x": ["model.p.stg_grid", "seed.p.geography"],
            "model.p.kpi_a": ["model.p.fct_x"],
        },
        "child_map": {
            "model.p.fct_x": ["model.p.kpi_a", "test.p.unique_x.abc"],
            "model.p.stg_grid": ["model.p.fct_x"],
            "model.p.other": ["test.p.rel_other.def"],
        },
    }
    ((relation, node, feeds, upstream),) = lineage(manifest, "marts_candidate")
    assert (relation, node, feeds) == ("kpi_a", "model.p.kpi_a", ["grid_incidents"])
    assert upstream == ["model.p.fct_x", "model.p.stg_grid", "seed.p.geography", "test.p.unique_x.abc"]


def test_every_day_and_month_the_warehouse_ran_gets_a_decision() -> None:
    first, last = dt.date(2026, 11, 29), dt.date(2026, 12, 2)
    assert calendar_periods("day", first, last) == {first + dt.timedelta(days=i) for i in range(4)}
    assert calendar_periods("month", first, last) == {NOV, dt.date(2026, 12, 1)}
    assert calendar_periods("table", None, None) == set()
