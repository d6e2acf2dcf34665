"""The residents and identity models read what the day changed, not the history, and equal a full rebuild.

The session's `warehouse_days` (tests/conftest.py: four generated days through the real DAGs)
measured, after each day's build, each incremental model's query by the rows its table scans read
(tests/node_work.py: EXPLAIN ANALYZE of the SQL the build compiled, a deterministic count, not
seconds): day 4 must read about what day 2 read, not twice as much. Then, on a copy of its database,
day 2 is rerun with its registry snapshot cut in half (unusable, row_count.drop): the restatement
reaches every later day those models hold, and the tables equal a full rebuild (dbt --full-refresh)
of the same deliveries.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from grassroots.generator import feed_server, scenarios
from grassroots.local import pipeline, summary
from grassroots.warehouse import db, dbt_runner
from tests.conftest import INCREMENTAL_MODELS, WAREHOUSE_DAYS, WarehouseDays, clone_database

DAGS = Path(__file__).resolve().parents[2] / "dags"
DAYS = WAREHOUSE_DAYS
DAILY = ("grassroots_ingest", "grassroots_warehouse")
MODELS = INCREMENTAL_MODELS
# Day 4 may read this much more than day 2: the day's own data varies a little (events, churn) and
# the delivery verdicts (int_feed_days_assessed, a row per feed and day) grow by a dozen rows a day.
# A model that re-reads every past day reads twice as much on day 4.
FLAT = 1.25


def _tables(dsn: str) -> dict[str, dict]:
    return {name: stats for name, stats in summary.table_stats(dsn).items() if name.split(".", 1)[1] in MODELS}


@pytest.fixture(scope="module")
def history(
    server_dsn: str, warehouse_days: WarehouseDays, airflow_db: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict]:
    """The rows read after each of the four days; then, on a copy of the days' database and landing,
    day 2 restated and a full rebuild: the tables of each step."""
    read = {day: figures["rows_read"] for day, figures in warehouse_days.after.items()}
    landing = tmp_path_factory.mktemp("incremental") / "landing"
    shutil.copytree(warehouse_days.landing, landing)
    name = f"grassroots_test_{uuid.uuid4().hex[:10]}"
    dsn = clone_database(server_dsn, warehouse_days.dsn, name)
    server, url = feed_server.serve(landing)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WAREHOUSE_DSN", dsn)
        patch.setenv("GRASSROOTS_LANDING_DIR", str(landing))
        patch.setenv("GRASSROOTS_API_URL", url)
        try:
            in_order = _tables(dsn)
            scenarios.truncate_snapshot(landing, "population_registry", DAYS[1])
            pipeline.run_day(DAYS[1], DAGS, only=DAILY)  # held (a day without a usable registry): not asserted
            restated = _tables(dsn)
            dbt_runner.run_dbt("run", DAYS[-1], "--full-refresh", "--select", *MODELS, dsn=dsn)
            yield {"dsn": dsn, "read": read, "in_order": in_order, "restated": restated, "full": _tables(dsn)}
        finally:
            server.shutdown()
            db.drop_database(server_dsn, name)


@pytest.mark.parametrize("model", MODELS)
def test_a_days_build_reads_what_the_day_changed_not_the_history(history: dict, model: str) -> None:
    read = {day: figures[model] for day, figures in history["read"].items()}
    assert read[DAYS[1]] > 0, read
    assert read[DAYS[-1]] <= FLAT * read[DAYS[1]], f"{model} reads more as days accumulate: {read}"


def test_restating_an_earlier_day_gives_the_tables_a_full_rebuild_gives(history: dict) -> None:
    assert set(history["full"]) == {name for name in history["full"] if name.split(".", 1)[1] in MODELS}
    assert len(history["full"]) == len(MODELS)
    assert history["restated"] == history["full"]


def test_the_restated_day_reached_the_later_days(history: dict) -> None:
    with db.connect(history["dsn"]) as conn:
        days = [row[0] for row in conn.execute("select distinct snapshot_date from int.int_residents_daily order by 1")]
    assert days == [DAYS[0], DAYS[2], DAYS[3]]
    for model in ("int_registry_daily", "int_residents_daily"):
        table = next(name for name in history["full"] if name.endswith("." + model))
        assert history["restated"][table] != history["in_order"][table], model
