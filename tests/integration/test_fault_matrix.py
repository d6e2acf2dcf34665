"""An operator's bad week through the real DAGs: every published KPI equals the truth, or is held with a reason.

Five generated days with faults planted by the generator (grassroots.generator.scenarios): a
department that sends nothing and sends it two days later, a renamed JSON key, a registry
snapshot cut in half, amounts with a unit, a dropped optional column that is corrected after
later days ran, an unknown column, a missing required column, an emptied column, files re-sent
in other bytes, records four days late, amounts sent in fen instead of yuan. The days run in
order, then the late and corrected deliveries are rerun. Then the same deliveries run in
another order in a database of their own (from a copy of the first day's), and the day with
the most faults runs again after the later ones: the warehouse, its history and what is
published must come out the same; scoring an earlier day again must give the same tiers. (Two
runs of one day at once are in test_warehouse, on a history without faults, where both must
publish.)
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from grassroots import settings
from grassroots.generator import Dirt, feed_server, generate, scenarios
from grassroots.loading.contracts import get_contract
from grassroots.local import pipeline
from grassroots.warehouse import db
from tests.conftest import clone_database
from tests.kpi_truth import DAILY_MARTS, kpi_mismatches

DAGS = Path(__file__).resolve().parents[2] / "dags"
DAYS = [dt.date(2026, 11, 21) + dt.timedelta(days=i) for i in range(5)]
D21, D22, D23, D24, D25 = DAYS
RESIDENTS = 300
SEED = 5
DAILY = ("grassroots_ingest", "grassroots_warehouse")
# (feed, day) → the check that must refuse the delivery, for the faults still in place at the end.
STILL_BAD = {
    ("hotline_complaints", D22): "drift.columns",
    ("population_registry", D23): "row_count.drop",
    ("community_resources", D23): "quarantine_share",
    ("satisfaction_surveys", D24): "delivery.files_complete",
    ("community_participation", D24): "delivery.files_complete",
    ("health_records", D24): "drift.emptied",
    ("community_resources", D25): "drift.scale",
}


def plant(landing: Path) -> list[scenarios.Fault]:
    """The week's faults; the two that are put right later are planted on copies kept aside."""
    return [
        scenarios.missing(landing, "grid_incidents", D22),
        scenarios.rename_key(landing, "hotline_complaints", D22, "category", "complaint_type"),
        scenarios.truncate_snapshot(landing, "population_registry", D23, keep=0.5),
        scenarios.unit_suffix(landing, "community_resources", D23, "allocated_amount"),
        scenarios.drop_column(landing, "grid_incidents", D23, "resolved_at"),
        scenarios.extra_column(landing, "satisfaction_surveys", D24),
        scenarios.drop_required_column(landing, "community_participation", D24, "activity_type"),
        scenarios.empty_column(landing, "health_records", D24, "family_doctor_signed"),
        scenarios.resend(landing, "community_resources", D24, "crlf"),
        scenarios.resend(landing, "grid_incidents", D24, "quoting"),
        scenarios.resend(landing, "hotline_complaints", D24, "key_order"),
        scenarios.resend(landing, "disability_registry", D24, "bom"),
        scenarios.move_late(landing, "grid_incidents", D21, D25, count=2),
        scenarios.rescale(landing, "community_resources", D25, "spent_amount", 100),
    ]


def put_right(landing: Path, pristine: Path, feed: str, day: dt.date) -> None:
    """The department sends the day's file again, as it should have been."""
    target = landing / day.isoformat() / feed
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(pristine / day.isoformat() / feed, target)


def marts_rows(dsn: str) -> dict[str, list[tuple]]:
    """Every marts table's rows, sorted (what BI sees)."""
    with psycopg.connect(dsn) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "select table_name from information_schema.tables where table_schema = 'marts' "
                "and table_type = 'BASE TABLE' and table_name like 'kpi%%' and table_name <> 'kpi_period_status' "
                "order by 1"
            )
        ]
        return {
            t: sorted(conn.execute(sql.SQL("select * from {}").format(sql.Identifier("marts", t))).fetchall(), key=str)
            for t in tables
        }


def warehouse_rows(dsn: str) -> dict[str, list[tuple]]:
    """The warehouse's dims and facts (history included), sorted."""
    with psycopg.connect(dsn) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "select table_name from information_schema.tables where table_schema = 'warehouse' "
                "and table_type = 'BASE TABLE' and table_name <> 'fct_resident_features' order by 1"
            )
        ]
        return {
            t: sorted(
                conn.execute(sql.SQL("select * from {}").format(sql.Identifier("warehouse", t))).fetchall(), key=str
            )
            for t in tables
        }


def period_status(dsn: str) -> dict[tuple[str, dt.date], tuple[str, str | None]]:
    with psycopg.connect(dsn) as conn:
        return {
            (relation, start): (status, reason)
            for relation, start, status, reason in conn.execute(
                "select relation, period_start, status, reason from marts.kpi_period_status"
            )
        }


def lineage(dsn: str) -> dict[str, set[str]]:
    with psycopg.connect(dsn) as conn:
        return {
            relation: set(feeds)
            for relation, feeds in conn.execute(
                "select relation, feeds from audit.build_lineage where invocation_id = (select invocation_id "
                "from audit.build_lineage order by recorded_at desc limit 1)"
            )
        }


class World:
    """A generated week in a landing folder, served to the API feeds, and a database per history."""

    def __init__(self, root: Path, server_dsn: str) -> None:
        self.root, self.server_dsn = root, server_dsn
        self.pristine, self.landing = root / "pristine", root / "landing"
        self.truths = generate(self.pristine, DAYS[0], len(DAYS), RESIDENTS, SEED, Dirt())
        shutil.copytree(self.pristine, self.landing)
        self.faults = plant(self.landing)
        self.databases: list[str] = []

    def database(self) -> str:
        name = f"grassroots_test_{uuid.uuid4().hex[:10]}"
        db.ensure_database(self.server_dsn, name)
        self.databases.append(name)
        return db.with_database(self.server_dsn, name)

    def copy(self, dsn: str) -> str:
        """A copy of a history's database as it stands (tests/conftest.py `clone_database`)."""
        name = f"grassroots_test_{uuid.uuid4().hex[:10]}"
        self.databases.append(name)
        return clone_database(self.server_dsn, dsn, name)

    def run(self, dsn: str, day: dt.date, only: tuple[str, ...] = DAILY) -> list[tuple[str, str]]:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("WAREHOUSE_DSN", dsn)
            patch.setenv("GRASSROOTS_LANDING_DIR", str(self.landing))
            return pipeline.run_day(day, DAGS, only=only)


@pytest.fixture(scope="module")
def world(server_dsn: str, airflow_db: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    world = World(tmp_path_factory.mktemp("fault-matrix"), server_dsn)
    server, url = feed_server.serve(world.landing)
    os.environ["GRASSROOTS_API_URL"] = url
    try:
        yield world
    finally:
        server.shutdown()
        os.environ.pop("GRASSROOTS_API_URL", None)
        for name in world.databases:
            db.drop_database(server_dsn, name)


@pytest.fixture(scope="module")
def in_order(world: World) -> dict:
    """The week in day order; then grid_incidents of D22 arrives and D23's is corrected, both rerun."""
    dsn = world.database()
    runs = []  # (label, states, marts, status) after every run

    def run(label: object, day: dt.date) -> None:
        states = world.run(dsn, day)
        runs.append((label, states, marts_rows(dsn), period_status(dsn)))

    for day in DAYS:
        run(day, day)
        if day == D21:
            first_day = world.copy(dsn)  # where `out_of_order` starts: D21's deliveries never change
    put_right(world.landing, world.pristine, "grid_incidents", D22)
    run("late D22", D22)
    put_right(world.landing, world.pristine, "grid_incidents", D23)
    run("corrected D23", D23)
    week = runs[len(DAYS) - 1]
    return {
        "dsn": dsn,
        "first_day": first_day,
        "runs": runs,
        "snapshots": {r[0]: r[2] for r in runs},
        "after_week": {"marts": week[2], "status": week[3]},
        "states": {r[0]: r[1] for r in runs},
        "marts": marts_rows(dsn),
        "warehouse": warehouse_rows(dsn),
        "status": period_status(dsn),
        "lineage": lineage(dsn),
    }


def usable(feed: str, day: dt.date) -> bool:
    return (feed, day) not in STILL_BAD


def test_every_published_daily_kpi_equals_the_truth(world: World, in_order: dict) -> None:
    expected = scenarios.expected_kpis(world.truths, usable, RESIDENTS, SEED, Dirt().late_rows)
    status = in_order["status"]
    with psycopg.connect(in_order["dsn"]) as conn:
        problems = []
        for day in DAYS:
            held = frozenset(m for m in DAILY_MARTS if status.get((m, day), ("held",))[0] != "published")
            problems += kpi_mismatches(conn, expected[day], day, held)
    assert problems == []


def test_exactly_the_periods_fed_by_an_unusable_delivery_are_held_with_its_reason(in_order: dict) -> None:
    status, feeds_of = in_order["status"], in_order["lineage"]
    assert feeds_of, "the build recorded no lineage"
    for relation, feeds in feeds_of.items():
        grain_month = relation.endswith("_monthly")
        for day in DAYS:
            period = day.replace(day=1) if grain_month else day
            days = DAYS if grain_month else [day]
            bad = [(f, d, rule) for (f, d), rule in STILL_BAD.items() if f in feeds and d in days]
            state, reason = status.get((relation, period), ("absent", None))
            if bad:
                assert state == "held", (relation, period)
                for feed, bad_day, rule in bad:
                    assert f"{feed} {bad_day}" in reason and rule in reason, (relation, period, reason)
            elif (relation, period) in status:
                assert state == "published", (relation, period, reason)


def _period_rows(rows: list[tuple], period: dt.date) -> list[tuple]:
    return [r for r in rows if r[2] == period]  # area_level, area_code, then kpi_date or kpi_month


def test_held_periods_keep_what_bi_saw_before(in_order: dict) -> None:
    """A held period keeps the rows of the last run that published it (or has none), never zeros."""
    held = [key for key, (state, _) in in_order["status"].items() if state == "held"]
    assert held
    for relation, period in held:
        final = _period_rows(in_order["marts"].get(relation, []), period)
        published = [r for r in in_order["runs"] if r[3].get((relation, period), ("",))[0] == "published"]
        before = _period_rows(published[-1][2].get(relation, []), period) if published else []
        assert final == before, (relation, period)


def test_a_missing_feed_gets_its_day_built_held_and_published_when_it_arrives(in_order: dict) -> None:
    week = in_order["after_week"]["status"]
    for relation, feeds in in_order["lineage"].items():
        if "grid_incidents" in feeds and not relation.endswith("_monthly"):
            state, reason = week[(relation, D22)]
            assert state == "held" and "grid_incidents 2026-11-22" in reason and "delivery.loaded" in reason
            if not (feeds & {"hotline_complaints"}):
                assert in_order["status"][(relation, D22)][0] == "published", relation
    warehouse_runs = [dict(s).get("grassroots_warehouse") for s in in_order["states"].values()]
    assert None not in warehouse_runs, "a day got no warehouse build"


def test_a_corrected_earlier_day_replaces_only_its_own_records(in_order: dict) -> None:
    """D23's drifted grid file held its incident KPIs; corrected after D24 and D25, D23 publishes and
    the later days' incidents (D25's late records of D21 included) are untouched."""
    week, final = in_order["after_week"], in_order["status"]
    assert week["status"][("kpi_incident_handling_daily", D23)][0] == "held"
    assert "drift.columns" in week["status"][("kpi_incident_handling_daily", D23)][1]
    assert "resolved_at" in week["status"][("kpi_incident_handling_daily", D23)][1]
    assert final[("kpi_incident_handling_daily", D23)][0] == "published"
    for day in (D24, D25):
        before = [r for r in week["marts"]["kpi_incident_handling_daily"] if r[2] == day]
        after = [r for r in in_order["marts"]["kpi_incident_handling_daily"] if r[2] == day]
        assert before == after, day


def _reported_late(dsn: str, day: dt.date) -> int:
    """Incidents reported on `day` (local calendar) that reached staging only with a later day's delivery:
    the two moved to D25, and any of the generator's own late records of the day."""
    query = (
        "select count(distinct incident_id) from staging.grid_incidents "
        "where _ds > %(day)s and (reported_at at time zone %(tz)s)::date = %(day)s "
        "and incident_id not in (select incident_id from staging.grid_incidents where _ds = %(day)s)"
    )
    with psycopg.connect(dsn) as conn:
        return conn.execute(query, {"day": day, "tz": settings.TIMEZONE}).fetchone()[0]


def test_late_records_four_days_late_land_on_their_own_day(world: World, in_order: dict) -> None:
    incidents_21 = in_order["snapshots"][D21]["kpi_proactive_discovery_daily"]
    final_21 = in_order["marts"]["kpi_proactive_discovery_daily"]
    total = {r[1]: r[3] for r in incidents_21 if r[0] == "district" and r[2] == D21}
    final = {r[1]: r[3] for r in final_21 if r[0] == "district" and r[2] == D21}
    late = _reported_late(in_order["dsn"], D21)
    assert late >= 2, "fewer than the two records moved from D21 to D25 reached a later partition"
    assert sum(final.values()) == sum(total.values()) + late


RESENT = ("community_resources", "grid_incidents", "hotline_complaints", "disability_registry")  # D24, see plant()


def test_resent_files_in_other_bytes_double_nothing(world: World, in_order: dict) -> None:
    """Line ends, quoting, key order, a UTF-8 BOM: the copy's records are repeats (duplicate_row), one
    staged record per primary key, and the KPI periods of a clean day publish."""
    with psycopg.connect(in_order["dsn"]) as conn:
        for feed in RESENT:
            key = sql.SQL(", ").join(map(sql.Identifier, get_contract(feed).primary_key))
            duplicates = "select count(*) from (select 1 from {} where _ds = %s group by {} having count(*) > 1) d"
            table = sql.Identifier("staging", feed)
            [(doubled,)] = conn.execute(sql.SQL(duplicates).format(table, key), (D24,)).fetchall()
            count = sql.SQL("select count(*) from {} where _ds = %s").format(table)
            [(staged,)] = conn.execute(count, (D24,)).fetchall()
            repeats = conn.execute(
                "select count(*) from quarantine.current_rows where feed = %s and ds = %s and rule = 'duplicate_row'",
                (feed, D24),
            ).fetchone()[0]
            assert doubled == 0 and staged > 0, feed
            assert repeats >= staged, (feed, repeats, staged)  # the copy's records were seen as repeats
    assert in_order["status"][("kpi_community_resources_daily", D24)][0] == "published"


@pytest.fixture(scope="module")
def out_of_order(world: World, in_order: dict) -> dict:
    """The final deliveries run 21, 22, 24, 23, 25 in a database of their own, then 24 again.

    The history starts from a copy of `in_order`'s database as D21 left it (D21's deliveries are
    the same in both histories: no fault of the week is put right on D21), then runs 22, 24, 23, 25
    on it. D24 (an extra column, a missing required column, an emptied column, four files re-sent
    in other bytes) runs again unchanged after the later days. D23 needs no second run here: it
    runs after D24 in this order, and in `in_order` its unchanged faulty deliveries run again after D24 and D25
    (the "corrected D23" run), which must leave the tables a single pass leaves (the comparison with
    this order). A clean day rebuilt after a later one under Airflow's own backfill is in
    test_airflow_backfill."""
    dsn = in_order["first_day"]
    for day in (D22, D24, D23, D25):
        world.run(dsn, day)
    shuffled = {"marts": marts_rows(dsn), "warehouse": warehouse_rows(dsn), "status": period_status(dsn)}
    world.run(dsn, D24)
    backfill = {"marts": marts_rows(dsn), "warehouse": warehouse_rows(dsn), "status": period_status(dsn)}
    return {"dsn": dsn, "shuffled": shuffled, "backfill": backfill}


def published(history: dict) -> tuple[dict, dict]:
    """(every table and period → published or held, the marts rows of the published periods).

    A held period keeps what BI saw before, which depends on which earlier runs published it
    (test_held_periods_keep_what_bi_saw_before); what is published must not depend on the order.
    """
    status = {key: state for key, (state, _) in history["status"].items()}
    rows = {
        table: [r for r in table_rows if status.get((table, r[2]), "published") == "published"]
        for table, table_rows in history["marts"].items()
    }
    return status, rows


def test_days_run_out_of_order_give_the_in_order_warehouse_and_marts(in_order: dict, out_of_order: dict) -> None:
    assert out_of_order["shuffled"]["warehouse"] == in_order["warehouse"]
    assert published(out_of_order["shuffled"]) == published(in_order)


def test_a_faulty_day_run_again_after_later_days_changes_nothing(in_order: dict, out_of_order: dict) -> None:
    shuffled, backfill = out_of_order["shuffled"], out_of_order["backfill"]
    assert backfill["warehouse"] == shuffled["warehouse"] and backfill["marts"] == shuffled["marts"]
    assert backfill["warehouse"] == in_order["warehouse"]
    assert published(backfill) == published(in_order)
    history = backfill["warehouse"]["dim_resident_history"]
    assert history and all(r[2] is None or r[2] > r[1] for r in history)


def test_scoring_an_earlier_day_again_reproduces_its_tiers(world: World, out_of_order: dict) -> None:
    dsn = out_of_order["dsn"]
    scoring = ("grassroots_scoring",)

    def tiers(day: dt.date) -> list[tuple]:
        with psycopg.connect(dsn) as conn:
            return conn.execute(
                "select person_key, risk_tier, risk_score from scoring.resident_risk where ds = %s order by 1", (day,)
            ).fetchall()

    assert dict(world.run(dsn, D24, scoring))["grassroots_scoring"] == "success"
    first = tiers(D24)
    assert dict(world.run(dsn, D25, scoring))["grassroots_scoring"] == "success"
    assert dict(world.run(dsn, D24, scoring))["grassroots_scoring"] == "success"
    assert first and tiers(D24) == first
