"""Adding a department is adding a contract: the ingest DAG grows a task and loads the feed."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import psycopg
import pytest

from grassroots.generator import feed_server
from grassroots.local import pipeline
from tests.conftest import DEMO_DAY

DAGS = Path(__file__).resolve().parents[2] / "dags"
CONTRACT = """
feed: elderly_canteen_meals
department: 民政 civil affairs (community canteens)
description: Meals served to elderly residents by community canteens.
delivery: file
format: jsonl
encoding: utf-8
load_mode: delta
primary_key: [meal_id]
columns:
  - {name: meal_id, type: text, required: true, aliases: [餐次编号]}
  - {name: id_number, type: id_number, required: true, pii: id, key_column: person_key, aliases: [身份证号]}
  - {name: community_code, type: text, required: true, aliases: [社区编码]}
  - {name: served_at, type: timestamp, required: true, aliases: [就餐时间]}
  - {name: subsidy, type: numeric, aliases: [补贴金额]}
"""


def test_a_thirteenth_feed_from_a_contract_alone_is_loaded_by_the_ingest_dag(
    warehouse_dsn: str, demo_landing: Path, airflow_db: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from grassroots.loading.identity import check_digit

    contracts = tmp_path / "contracts"
    contracts.mkdir()
    (contracts / "elderly_canteen_meals.yml").write_text(CONTRACT, encoding="utf-8")
    landing = tmp_path / "landing"
    shutil.copytree(demo_landing, landing)
    first17 = "33010619440506007"
    id_number = first17 + check_digit(first17)
    feed_dir = landing / DEMO_DAY.isoformat() / "elderly_canteen_meals"
    feed_dir.mkdir()
    (feed_dir / "meals_20261124.jsonl").write_text(
        f'{{"餐次编号": "M1", "身份证号": "{id_number.lower()}", "社区编码": "330106001001", '
        '"就餐时间": "2026/11/24 11:30", "补贴金额": "6.50"}\n'
        f'{{"餐次编号": "M2", "身份证号": "{id_number[:17]}0", "社区编码": "330106001001", '
        '"就餐时间": "2026-11-24 11:40:00"}\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("GRASSROOTS_EXTRA_CONTRACTS", str(contracts))
    monkeypatch.setenv("GRASSROOTS_LANDING_DIR", str(landing))
    server, url = feed_server.serve(landing)
    monkeypatch.setenv("GRASSROOTS_API_URL", url)
    try:
        dags = pipeline.load_dags(DAGS)
        ingest = dags["grassroots_ingest"]
        assert "load_elderly_canteen_meals" in ingest.task_ids
        run = ingest.test(logical_date=dt.datetime(2026, 11, 24, tzinfo=dt.UTC), run_conf={"ds": "2026-11-24"})
    finally:
        server.shutdown()
    assert str(run.state) == "success"
    with psycopg.connect(warehouse_dsn) as conn:
        loaded = conn.execute("select meal_id, id_number, subsidy from staging.elderly_canteen_meals").fetchall()
        rejected = conn.execute(
            "select line_no, column_name, rule from quarantine.rows where feed = 'elderly_canteen_meals'"
        ).fetchall()
    assert loaded == [("M1", id_number, pytest.approx(6.5))]
    assert rejected == [(2, "id_number", "id_check_digit")]
