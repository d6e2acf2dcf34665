"""Risk tiers from the real DAGs on two generated days: planted truth, stability, reasons, watchlist access."""

from __future__ import annotations

import datetime as dt
import os
import random
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from grassroots import settings
from grassroots.generator import Dirt, build_world, by_community, feed_server, generate_day
from grassroots.generator.events import DayEvents
from grassroots.generator.feeds import LATE_MAX_DAYS, EventSource
from grassroots.generator.world import reference_geography
from grassroots.loading.identity import person_key
from grassroots.local import pipeline
from grassroots.scoring import features, map_grid_worker
from grassroots.warehouse import db
from tests.conftest import DEMO_DAY, TEST_RESIDENTS, TEST_SEED
from tests.kpi_truth import ROUNDING

DAGS = Path(__file__).resolve().parents[2] / "dags"
DAY_1 = DEMO_DAY
DAY_2 = DEMO_DAY + dt.timedelta(days=1)
CHANGED_SHARE = 0.03
FOLLOW_UP_DAYS = int(settings.dbt_var("follow_up_days"))


def _small_changes(residents: list, rng: random.Random) -> int:
    """Change one circumstance of about CHANGED_SHARE of the residents (as a real day would)."""
    changed = rng.sample(residents, max(1, int(len(residents) * CHANGED_SHARE)))
    for r in changed:
        kind = rng.choice(("alone", "attention", "pension", "assistance"))
        if kind == "alone":
            r.lives_alone = not r.lives_alone
        elif kind == "attention":
            r.attention_level = min(3, r.attention_level + 1)
        elif kind == "pension" and r.pension_monthly:
            r.pension_monthly = int(r.pension_monthly * rng.uniform(0.9, 1.1))
        elif not r.on_assistance:
            r.on_assistance, r.assistance_type, r.assistance_amount = True, "临时救助", rng.randrange(600, 1500)
            r.assistance_start = DAY_2
    return len(changed)


class ReportingVulnerable(EventSource):
    """The generator's events, but a third of the incidents residents report come from a vulnerable
    resident instead: the top tier then has grid-worker contacts on several days, so comparing
    kpi_top_tier_follow_up_daily with the truth tells a wrong window from the right one."""

    def __init__(self, residents: list, seed: int, late_rate: float) -> None:
        super().__init__(by_community(residents), seed, late_rate)
        self.vulnerable = [r for r in residents if r.vulnerable]

    def day(self, day: dt.date) -> DayEvents:
        """The day's events with the reporters replaced (the same on every call)."""
        events = super().day(day)
        rng = random.Random(f"{day.isoformat()}|reporting-vulnerable")
        for incident in events.incidents:
            if events.person[incident["incident_id"]] is not None and rng.random() < 1 / 3:
                reporter = rng.choice(self.vulnerable)
                incident["reporter_id_number"] = reporter.id_number
                events.person[incident["incident_id"]] = reporter
        return events


@pytest.fixture(scope="module")
def scored(server_dsn: str, airflow_db: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """Two consecutive days generated (the second with small changes) and run through every DAG."""
    landing = tmp_path_factory.mktemp("scoring-landing")
    residents = build_world(TEST_RESIDENTS, TEST_SEED)
    source = ReportingVulnerable(residents, TEST_SEED, Dirt().late_rows)
    truth_1 = generate_day(landing, DAY_1, residents, TEST_SEED, Dirt(), source)
    changed = _small_changes(residents, random.Random(TEST_SEED))
    truth_2 = generate_day(landing, DAY_2, residents, TEST_SEED, Dirt(), source)
    name = f"grassroots_test_{uuid.uuid4().hex[:10]}"
    db.ensure_database(server_dsn, name)
    dsn = db.with_database(server_dsn, name)
    server, url = feed_server.serve(landing)
    saved = {k: os.environ.get(k) for k in ("WAREHOUSE_DSN", "GRASSROOTS_LANDING_DIR", "GRASSROOTS_API_URL")}
    os.environ.update(WAREHOUSE_DSN=dsn, GRASSROOTS_LANDING_DIR=str(landing), GRASSROOTS_API_URL=url)
    try:
        states = [pipeline.run_day(day, DAGS) for day in (DAY_1, DAY_2)]
        yield {
            "dsn": dsn,
            "states": states,
            "truth": {DAY_1: truth_1, DAY_2: truth_2},
            "changed": changed,
            "source": source,
        }
    finally:
        server.shutdown()
        for key, value in saved.items():
            os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)
        db.drop_database(server_dsn, name)


def _tiers(dsn: str, ds: dt.date) -> dict[str, tuple[str, list[str]]]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("select person_key, risk_tier, reasons from scoring.resident_risk where ds = %s", (ds,))
        return {r[0]: (r[1], r[2]) for r in rows}


def test_both_days_run_every_dag(scored: dict) -> None:
    for states in scored["states"]:
        assert [s for _, s in states] == ["success"] * 3, states


def test_top_tier_holds_the_planted_vulnerable_residents(scored: dict) -> None:
    secret = settings.hmac_secret()
    for ds in (DAY_1, DAY_2):
        planted = {person_key(secret, i) for i in scored["truth"][ds]["vulnerable_person_ids"]}
        tiers = _tiers(scored["dsn"], ds)
        top = {key for key, (tier, _) in tiers.items() if tier == "high"}
        recall = len(planted & top) / len(planted)
        print(
            f"{ds}: planted {len(planted)}, top tier {len(top)}, recall {recall:.3f}, "
            f"ratio {len(top) / len(planted):.2f}"
        )
        assert planted <= set(tiers), "a planted resident was not scored"
        assert recall >= 0.9
        assert len(top) <= 3 * len(planted)


def test_two_days_with_small_changes_keep_tiers(scored: dict) -> None:
    first, second = _tiers(scored["dsn"], DAY_1), _tiers(scored["dsn"], DAY_2)
    common = set(first) & set(second)
    same = sum(first[k][0] == second[k][0] for k in common) / len(common)
    print(f"{scored['changed']} residents changed; {same:.3%} kept their tier")
    assert scored["changed"] > 0
    assert same >= 0.95
    with psycopg.connect(scored["dsn"]) as conn:
        clusters = conn.execute(
            "select cluster_label, risk_tier, tier_rank, previous_tier, risk_score from scoring.model_cluster "
            "where ds = %s",
            (DAY_2,),
        ).fetchall()
        run = conn.execute("select previous_ds, tier_changes from scoring.model_run where ds = %s", (DAY_2,)).fetchone()
    assert run[0] == DAY_1, "day 2 was not matched to day 1"
    assert all(previous is not None for *_, previous, _ in clusters), "a cluster was not matched to day 1"
    assert all(tier == previous for _, tier, _, previous, _ in clusters), "a matched cluster changed tier name"
    by_score = sorted(clusters, key=lambda c: -c[4])
    assert [c[2] for c in by_score] == sorted(c[2] for c in clusters), "tier names are not ordered by risk"


def test_every_top_tier_resident_has_a_reason(scored: dict) -> None:
    for ds in (DAY_1, DAY_2):
        top = [(tier, reasons) for tier, reasons in _tiers(scored["dsn"], ds).values() if tier == "high"]
        assert top
        assert all(reasons and all(r.strip() for r in reasons) for _, reasons in top)


def test_model_registry_records_the_run(scored: dict) -> None:
    with psycopg.connect(scored["dsn"]) as conn:
        run = conn.execute(
            "select k, k_selection, features, silhouette, residents from scoring.model_run where ds = %s",
            (DAY_1,),
        ).fetchone()
        sizes = conn.execute("select sum(size), count(*) from scoring.model_cluster where ds = %s", (DAY_1,)).fetchone()
    k, selection, feature_spec, silhouette, residents = run
    assert selection["method"] == "silhouette" and str(k) in selection["candidates"]
    assert [f["name"] for f in feature_spec] == list(features.FEATURES)
    assert -1 <= silhouette <= 1
    assert sizes == (residents, k)


def test_a_missing_warehouse_column_fails_by_name(scored: dict) -> None:
    with psycopg.connect(scored["dsn"]) as conn:
        conn.execute("alter view warehouse.fct_resident_risk_features rename column lives_alone to lives_alone_renamed")
        with pytest.raises(
            features.MissingWarehouseColumnError, match=r"warehouse\.fct_resident_risk_features\.lives_alone "
        ):
            features.load(conn, DAY_2)
        conn.rollback()


def test_grid_worker_sees_only_its_own_community(scored: dict) -> None:
    suffix = uuid.uuid4().hex[:8]
    with psycopg.connect(scored["dsn"]) as conn:
        per_community = dict(
            conn.execute("select community_code, count(*) from scoring.watchlist where ds = %s group by 1", (DAY_2,))
        )
        mine, other = sorted(per_community, key=lambda c: -per_community[c])[:2]
        roles = {mine: f"gw_{suffix}_a", other: f"gw_{suffix}_b"}
        for community, role in roles.items():
            map_grid_worker(conn, role, community)
        conn.commit()
        try:
            conn.execute(sql.SQL("set role {}").format(sql.Identifier(roles[mine])))
            seen = conn.execute("select community_code, masked_name from scoring.watchlist_latest").fetchall()
            seen_all_days = conn.execute("select count(*) from scoring.watchlist where community_code = %s", (other,))
            assert seen_all_days.fetchone()[0] == 0
            assert {c for c, _ in seen} == {mine} and len(seen) == per_community[mine]
            assert all(len(name) == 2 and name.endswith("*") for _, name in seen)
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("select count(*) from scoring.resident_risk")
            conn.rollback()
        finally:
            conn.execute("reset role")
            for role in roles.values():
                conn.execute(sql.SQL("drop owned by {}").format(sql.Identifier(role)))
                conn.execute(sql.SQL("drop role {}").format(sql.Identifier(role)))
            conn.execute("delete from scoring.grid_worker_community where role_name like %s", (f"gw_{suffix}%",))
            conn.commit()


def _contacts(scored: dict, ds: dt.date, days: int) -> set[str]:
    """Person keys with a grid-worker contact in the `days` days up to ds, from the generator's events:
    incidents they reported, dispatched on one of those days (the city's calendar), whose records
    were delivered by ds (loaded from the deliveries of ds or earlier)."""
    secret = settings.hmac_secret()
    loaded = set().union(*(set(t["loaded_keys"]["grid_incidents"]) for d, t in scored["truth"].items() if d <= ds))
    window = {ds - dt.timedelta(days=i) for i in range(days)}
    keys = set()
    for back in range(days + LATE_MAX_DAYS + 1):  # a dispatch comes at most a day after the report
        events = scored["source"].day(ds - dt.timedelta(days=back))
        for incident in events.incidents:
            reporter = events.person[incident["incident_id"]]
            if reporter and incident["incident_id"] in loaded and incident["dispatched_at"].date() in window:
                keys.add(person_key(secret, reporter.id_number))
    return keys


def _expected_follow_up(
    scored: dict, ds: dt.date, days: int = FOLLOW_UP_DAYS
) -> dict[tuple[str, str], tuple[int, int]]:
    """(area level, area code) → (top-tier residents, those with a contact in the `days` days up to ds):
    the tiers from scoring, the contacts from the generator's truth, the areas from its geography."""
    parents = {c.code: (c.street, c.district) for c in reference_geography()}
    contacts = _contacts(scored, ds, days)
    counts: dict[tuple[str, str], list[int]] = {}
    with psycopg.connect(scored["dsn"]) as conn:
        top = conn.execute(
            "select person_key, community_code from scoring.resident_risk where ds = %s and risk_tier = 'high'", (ds,)
        ).fetchall()
    for key, community in top:
        street, district = parents[community]
        for area in (("community", community), ("street", street), ("district", district)):
            count = counts.setdefault(area, [0, 0])
            count[0] += 1
            count[1] += key in contacts
    return {area: (n, contacted) for area, (n, contacted) in counts.items()}


def test_top_tier_follow_up_equals_the_truth(scored: dict) -> None:
    """kpi_top_tier_follow_up_daily per area and day against the generator's contacts of the day's top tier."""
    contacted = 0
    for ds in (DAY_1, DAY_2):
        expected = _expected_follow_up(scored, ds)
        with psycopg.connect(scored["dsn"]) as conn:
            rows = conn.execute(
                "select area_level, area_code, top_tier_residents, followed_up_residents, follow_up_share "
                "from marts.kpi_top_tier_follow_up_daily where kpi_date = %s",
                (ds,),
            ).fetchall()
        mart = {(level, code): (top, followed) for level, code, top, followed, _ in rows}
        district = [v for k, v in expected.items() if k[0] == "district"]
        print(f"{ds}: top tier {sum(v[0] for v in district)}, followed up {sum(v[1] for v in district)}")
        assert mart == expected
        for _, _, top, followed, share in rows:
            assert abs(float(share) - followed / top) <= ROUNDING
        contacted += sum(followed for level, _, _, followed, _ in rows if level == "community")
    assert contacted > 0, "no top-tier resident had a contact: the comparison would not see a broken KPI"
    assert _expected_follow_up(scored, DAY_2, days=1) != _expected_follow_up(scored, DAY_2), (
        "no top-tier resident of day 2 had a contact only on an earlier day: a one-day window would pass"
    )


def test_scoring_an_earlier_day_again_reproduces_its_tiers_and_kpis(scored: dict) -> None:
    """After day 2, the scoring DAG for day 1 again: the features as of day 1, so the same tiers and follow-up."""

    def snapshot() -> tuple[list, list]:
        with psycopg.connect(scored["dsn"]) as conn:
            tiers = conn.execute(
                "select person_key, risk_tier, risk_score, reasons from scoring.resident_risk where ds = %s order by 1",
                (DAY_1,),
            ).fetchall()
            kpis = conn.execute(
                "select * from marts.kpi_top_tier_follow_up_daily where kpi_date = %s order by 1, 2", (DAY_1,)
            ).fetchall()
        return tiers, kpis

    before = snapshot()
    assert dict(pipeline.run_day(DAY_1, DAGS, only=("grassroots_scoring",))) == {"grassroots_scoring": "success"}
    assert before[0] and before[1] and snapshot() == before
