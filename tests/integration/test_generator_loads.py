"""Every generated feed loads through the real extract and loader, ending exactly where the truth says."""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from grassroots import settings
from grassroots.generator import Dirt, feed_server, generate
from grassroots.loading.contracts import all_contracts
from grassroots.loading.identity import person_key
from grassroots.loading.ingest import ingest
from grassroots.warehouse.bootstrap import bootstrap

DAY = dt.date(2026, 11, 24)
RESIDENTS = 600
SEED = 11


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("generated")
    generate(out, DAY, 1, RESIDENTS, SEED, Dirt.every())
    return out


@pytest.fixture
def loaded(landing: Path, warehouse_dsn: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[dict, str]]:
    """The generated day ingested feed by feed (API feeds pulled over HTTP) into a fresh database."""
    server, url = feed_server.serve(landing)
    monkeypatch.setenv("GRASSROOTS_API_URL", url)
    monkeypatch.setenv("GRASSROOTS_LANDING_DIR", str(landing))
    bootstrap(warehouse_dsn)
    try:
        for feed in all_contracts():
            ingest(feed, DAY, dsn=warehouse_dsn)  # loads as the `loader` role
    finally:
        server.shutdown()
    yield json.loads((landing / "_truth" / f"{DAY}.json").read_text()), warehouse_dsn


def _staging_count(conn: psycopg.Connection, feed: str) -> int:
    query = sql.SQL("select count(*) from staging.{} where _ds = %s").format(sql.Identifier(feed))
    return conn.execute(query, (DAY,)).fetchone()[0]


def test_every_feed_has_a_contract_and_loads_the_expected_rows(loaded: tuple[dict, str]) -> None:
    truth, dsn = loaded
    assert set(truth["feeds"]) == set(all_contracts()) and len(truth["feeds"]) == 12
    with psycopg.connect(dsn) as conn:
        for feed, expected in truth["feeds"].items():
            assert _staging_count(conn, feed) == expected["loaded"] == truth["rows"][feed], feed
            assert expected["loaded"] > 0, feed
            batches = {
                row[0]: row[1:]
                for row in conn.execute(
                    "select file_name, rows_received, rows_loaded, rows_quarantined, rule from meta.load_batch "
                    "where feed = %s and ds = %s and status <> 'superseded'",
                    (feed, DAY),
                )
            }
            files = {f["file"]: (f["received"], f["loaded"], f["quarantined"], f["rule"]) for f in expected["files"]}
            assert batches == files, feed


def test_each_planted_defect_ends_where_the_truth_says(loaded: tuple[dict, str]) -> None:
    truth, dsn = loaded
    kinds = {d["kind"] for d in truth["defects"]}
    planted = {"id_lower_x", "id_full_width", "id_legacy_15", "id_bad_check_digit", "late_row", "renamed_column"}
    planted |= {"drifted_column", "duplicate_delivery", "truncated_file", "wrong_encoding", "empty_file"}
    assert planted <= kinds
    assert {"date_slash", "date_compact", "date_chinese"} <= kinds
    with psycopg.connect(dsn) as conn:
        quarantined_rows = {
            (r[0], r[1], r[2]): (r[3], r[4])
            for r in conn.execute(
                "select feed, file_name, line_no, column_name, rule from quarantine.rows where ds = %s", (DAY,)
            )
        }
        quarantined_files = {
            (r[0], r[1]): (r[2], r[3])
            for r in conn.execute("select feed, file_name, line_no, rule from quarantine.files where ds = %s", (DAY,))
        }
        for defect in truth["defects"]:
            where = (defect["feed"], defect["file"])
            if defect["level"] == "file":
                assert quarantined_files[where] == (defect["line"], defect["rule"]), defect
            elif defect["level"] == "header":
                assert where not in quarantined_files, defect
            elif defect["expected"] == "loaded":
                query = sql.SQL(
                    "select count(*) from staging.{} s join meta.load_batch b on b.batch_id = s._batch_id "
                    "where s._ds = %s and b.file_name = %s and s._row_no = %s"
                )
                found = conn.execute(
                    query.format(sql.Identifier(defect["feed"])), (DAY, defect["file"], defect["line"])
                )
                assert found.fetchone()[0] == 1, defect
            else:
                assert quarantined_rows[(*where, defect["line"])] == (defect["column"], defect["rule"]), defect
    planted_rows = {(d["feed"], d["file"], d["line"]) for d in truth["defects"] if d["level"] == "row" and d["rule"]}
    planted_files = {(d["feed"], d["file"]) for d in truth["defects"] if d["level"] == "file"}
    assert set(quarantined_files) == planted_files
    assert set(quarantined_rows) == planted_rows, "rows quarantined that the generator did not plant"


def _identity(landing: Path) -> dict[tuple[str, str, int], str]:
    with (landing / "_truth" / f"{DAY}.identity.csv").open(encoding="utf-8", newline="") as fh:
        return {(r["feed"], r["file"], int(r["line"])): r["person_id"] for r in csv.DictReader(fh)}


def test_every_loaded_id_is_the_real_person_normalised(loaded: tuple[dict, str], landing: Path) -> None:
    truth, dsn = loaded
    identity = _identity(landing)
    assert sum(f["received"] for t in truth["feeds"].values() for f in t["files"]) == len(identity)
    secret = settings.hmac_secret()
    checked = 0
    with psycopg.connect(dsn) as conn:
        for feed, contract in all_contracts().items():
            for id_column, key_column in contract.key_columns:
                query = sql.SQL(
                    "select b.file_name, s._row_no, s.{}, s.{} from staging.{} s "
                    "join meta.load_batch b on b.batch_id = s._batch_id where s._ds = %s"
                ).format(sql.Identifier(id_column), sql.Identifier(key_column), sql.Identifier(feed))
                for file_name, row_no, id_number, key in conn.execute(query, (DAY,)):
                    real = identity[(feed, file_name, row_no)]
                    if id_number is None:  # sent without an ID number (an anonymous caller): no key
                        assert key is None
                        continue
                    assert id_number == real, (feed, file_name, row_no)
                    assert key == person_key(secret, real)
                    checked += 1
    assert checked > RESIDENTS


def test_true_kpis_match_what_loaded(loaded: tuple[dict, str]) -> None:
    truth, dsn = loaded
    with psycopg.connect(dsn) as conn:
        discovery = {
            r[0]: {"incidents": r[1], "proactive_incidents": r[2], "proactive_discovery_rate": float(r[3])}
            for r in conn.execute(
                "select community_code, count(*), count(*) filter (where source in ('ai_camera', 'iot_sensor', "
                "'grid_patrol')), round(count(*) filter (where source in ('ai_camera', 'iot_sensor', 'grid_patrol'))"
                "::numeric / count(*), 4) from staging.grid_incidents "
                "where _ds = %s and (reported_at at time zone 'Asia/Shanghai')::date = %s group by 1",
                (DAY, DAY),
            )
        }
        digital = dict(
            conn.execute(
                "select community_code, round(count(*) filter (where channel = 'app')::numeric / count(*), 4) "
                "from staging.service_applications where _ds = %s "
                "and (submitted_at at time zone 'Asia/Shanghai')::date = %s group by 1",
                (DAY, DAY),
            ).fetchall()
        )
        mean_score = dict(
            conn.execute(
                "select community_code, round(avg(score), 4) from staging.satisfaction_surveys where _ds = %s "
                "and (surveyed_at at time zone 'Asia/Shanghai')::date = %s group by 1",
                (DAY, DAY),
            ).fetchall()
        )
    assert discovery == truth["kpi_proactive_discovery"]
    cases = truth["kpi"]["service_cases"]
    assert {c: float(v) for c, v in digital.items()} == {
        c: k["digital_channel_share"] for c, k in cases.items() if k["cases"]
    }
    assert {c: float(v) for c, v in mean_score.items()} == {
        c: k["mean_score"] for c, k in truth["kpi"]["satisfaction"].items()
    }
