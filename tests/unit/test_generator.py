"""The synthetic generator: deterministic, consistent across feeds, dirt planted only where asked."""

from __future__ import annotations

import csv
import datetime as dt
import filecmp
import json
import random
from collections import Counter
from pathlib import Path

import pytest

from grassroots.generator import Dirt, build_world, generate, geography
from grassroots.generator.dirt import FULL_WIDTH, format_date, legacy_15, wrong_check_digit
from grassroots.generator.truth import percentile
from grassroots.generator.world import (
    MIN_COMMUNITIES,
    RESIDENTS_PER_COMMUNITY,
    by_community,
    community_count,
    reference_geography,
)
from grassroots.loading.contracts import all_contracts
from grassroots.loading.identity import IdNumberError, normalise_id_number
from grassroots.loading.parsers import parse_date

DAY = dt.date(2026, 11, 24)
SEED_CSV = Path(__file__).resolve().parents[2] / "dbt" / "seeds" / "geography.csv"


def _tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_the_same_day_twice_writes_the_same_bytes(tmp_path: Path) -> None:
    generate(tmp_path / "a", DAY, 2, 400, 5)
    generate(tmp_path / "b", DAY + dt.timedelta(days=1), 1, 400, 5)  # a day's files do not depend on the range
    generate(tmp_path / "c", DAY, 2, 400, 5)
    files = _tree(tmp_path / "a")
    assert any(f.endswith(".xlsx") for f in files) and any("_api" in f for f in files)
    assert files == _tree(tmp_path / "c")
    match, mismatch, errors = filecmp.cmpfiles(tmp_path / "a", tmp_path / "c", files, shallow=False)
    assert mismatch == [] and errors == [] and len(match) == len(files)
    second_day = [f for f in files if "2026-11-25" in f]
    assert second_day == _tree(tmp_path / "b")
    match, mismatch, _ = filecmp.cmpfiles(tmp_path / "a", tmp_path / "b", second_day, shallow=False)
    assert mismatch == []


def test_another_seed_gives_another_city(tmp_path: Path) -> None:
    one = generate(tmp_path / "a", DAY, 1, 300, 1)[0]
    two = generate(tmp_path / "b", DAY, 1, 300, 2)[0]
    assert one["vulnerable_person_ids"] != two["vulnerable_person_ids"]
    assert one["rows"] != two["rows"]


def test_the_generator_reads_its_geography_from_the_seed() -> None:
    with SEED_CSV.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(c.code, c.name, c.street, c.district, len(c.grids)) for c in reference_geography()] == sorted(
        (r["community_code"], r["community_name"], r["street_code"], r["district_code"], int(r["grid_count"]))
        for r in rows
    )
    # A real city's divisions: codes nest (6-digit district, 9-digit street, 12-digit community),
    # names are unique, one name per street and district code.
    assert all(
        len(r["district_code"]) == 6 and r["street_code"][:6] == r["district_code"] and len(r["street_code"]) == 9
        for r in rows
    )
    assert all(r["community_code"][:9] == r["street_code"] and len(r["community_code"]) == 12 for r in rows)
    assert len({r["community_name"] for r in rows}) == len(rows)
    for level in ("street", "district"):
        assert len({(r[f"{level}_code"], r[f"{level}_name"]) for r in rows}) == len({r[f"{level}_code"] for r in rows})
    assert all(r["community_name"].endswith("社区") and r["street_name"].endswith("街道") for r in rows)
    assert len({r["district_code"] for r in rows}) == 3 and len({r["street_code"] for r in rows}) == 15
    assert len(rows) == 150


@pytest.mark.parametrize(
    ("residents", "communities"),
    [(300, 30), (600, 30), (2_000, 30), (100_000, 30), (250_000, 39), (1_000_000, 150), (2_000_000, 150)],
)
def test_the_city_scales_with_its_population(residents: int, communities: int) -> None:
    """Communities of a few thousand residents (at least 30, at most the reference's 150), spread over
    every street and district: a small city exercises every area level, a big one has every community."""
    city = geography(residents)
    assert community_count(residents) == len(city) == communities
    assert len({c.code for c in city}) == len(city) and set(city) <= set(reference_geography())
    per_street = Counter(c.street for c in city)
    assert len({c.district for c in city}) == 3 and len(per_street) == 15
    assert max(per_street.values()) - min(per_street.values()) <= 1 or len(city) == len(reference_geography())
    if communities > MIN_COMMUNITIES:
        assert residents / len(city) >= RESIDENTS_PER_COMMUNITY * 0.95
    assert set(geography(residents // 2)) <= set(city), "a smaller city lives in some of the same communities"


def test_residents_live_in_every_community_of_their_city() -> None:
    world = build_world(600, 4)
    groups = by_community(world)
    assert list(groups) == [c.code for c in geography(600)]
    assert all(people for people in groups.values()), "each of the 30 communities has residents"
    assert all(r.grid.startswith(r.community) and r.id_number[:6] == r.community[:6] for r in world)


def test_world_is_consistent_and_plants_vulnerable_residents() -> None:
    world = build_world(5000, 3)
    ids = [r.id_number for r in world]
    assert len(set(ids)) == len(ids)
    assert all(normalise_id_number(i) == i for i in ids[:500])
    vulnerable = [r for r in world if r.vulnerable]
    assert 0.03 <= len(vulnerable) / len(world) <= 0.05
    assert all(r.age >= 70 and r.lives_alone and r.attention_level >= 1 for r in vulnerable)
    others = [r for r in world if not r.vulnerable]
    risk = sum(r.on_assistance + bool(r.chronic_disease) for r in vulnerable) / len(vulnerable)
    assert risk > 3 * sum(r.on_assistance + bool(r.chronic_disease) for r in others) / len(others)


@pytest.mark.parametrize("seed", range(5))
def test_dirty_id_forms_normalise_to_the_real_id(seed: int) -> None:
    rng = random.Random(seed)
    person = next(r for r in build_world(200, seed) if r.id_number[6:8] == "19")
    assert normalise_id_number(person.id_number.translate(FULL_WIDTH)) == person.id_number
    assert normalise_id_number(legacy_15(person.id_number)) == person.id_number
    assert normalise_id_number(person.id_number.lower()) == person.id_number
    with pytest.raises(IdNumberError) as error:
        normalise_id_number(wrong_check_digit(person.id_number, rng))
    assert error.value.rule == "id_check_digit"


def test_four_date_forms_parse_to_the_same_day() -> None:
    forms = {style: format_date(dt.date(2026, 11, 1), style) for style in ("iso", "slash", "compact", "chinese")}
    assert forms == {"iso": "2026-11-01", "slash": "2026/11/1", "compact": "20261101", "chinese": "2026年11月1日"}
    assert {parse_date(text) for text in forms.values()} == {dt.date(2026, 11, 1)}


def test_truth_accounts_for_every_feed_and_record(tmp_path: Path) -> None:
    truth = generate(tmp_path, DAY, 1, 800, 9)[0]
    assert set(truth["rows"]) == set(all_contracts()) == set(truth["feeds"])
    assert truth["rows"]["population_registry"] == truth["residents"] == 800
    for feed, totals in truth["feeds"].items():
        assert totals["received"] == totals["loaded"] + totals["quarantined"], feed
        assert truth["rows"][feed] == totals["loaded"] > 0, feed
    with (tmp_path / "_truth" / f"{DAY}.identity.csv").open(encoding="utf-8") as fh:
        identity = list(csv.DictReader(fh))
    assert len(identity) == sum(t["received"] for t in truth["feeds"].values())
    world_ids = {r.id_number for r in build_world(800, 9)}
    people = {row["person_id"] for row in identity if row["person_id"]}
    assert people <= world_ids
    by_feed = {f: {r["person_id"] for r in identity if r["feed"] == f and r["person_id"]} for f in truth["feeds"]}
    assert by_feed["service_applications"] and by_feed["community_participation"] and by_feed["grid_incidents"]
    assert by_feed["service_applications"] & by_feed["hotline_complaints"] | by_feed["community_participation"]
    assert 0.03 <= len(truth["vulnerable_person_ids"]) / 800 <= 0.06
    assert json.loads((tmp_path / "_truth" / f"{DAY}.json").read_text())["defects"] == truth["defects"]


def test_participation_feed_carries_no_id_number(tmp_path: Path) -> None:
    generate(tmp_path, DAY, 1, 300, 4)
    path = tmp_path / DAY.isoformat() / "community_participation" / f"community_participation_{DAY:%Y%m%d}.csv"
    header = path.read_text(encoding="utf-8").splitlines()[0].split(",")
    assert {"姓名", "出生日期", "联系电话"} <= set(header)
    assert not any("身份证" in h or "id_number" in h for h in header)


def test_clean_dirt_plants_nothing(tmp_path: Path) -> None:
    truth = generate(tmp_path, DAY, 1, 500, 2, Dirt.none())[0]
    assert truth["defects"] == []
    assert all(t["quarantined"] == 0 for t in truth["feeds"].values())
    assert not list((tmp_path / DAY.isoformat()).rglob("*_resend*"))
    assert not list((tmp_path / DAY.isoformat()).rglob("*_supplement*"))


def test_every_dirt_plants_each_kind_where_the_pipeline_keeps_data(tmp_path: Path) -> None:
    truth = generate(tmp_path, DAY, 1, 1000, 8, Dirt.every())[0]
    by_kind: dict[str, list[dict]] = {}
    for defect in truth["defects"]:
        by_kind.setdefault(defect["kind"], []).append(defect)
    for kind, rule in [
        ("truncated_file", "truncated_file"),
        ("wrong_encoding", "encoding"),
        ("empty_file", "empty_file"),
        ("drifted_column", "unknown_column"),
        ("duplicate_delivery", "duplicate_delivery"),
    ]:
        (defect,) = by_kind[kind]
        assert defect["rule"] == rule and defect["level"] == "file"
        assert defect["feed"] != "population_registry"
        main = next(f for f in truth["feeds"][defect["feed"]]["files"] if f["rule"] is None)
        assert main["loaded"] > 0, kind
    assert by_kind["renamed_column"][0]["expected"] == "loaded"
    assert all(d["expected"] == "loaded" for k in ("id_lower_x", "id_full_width", "id_legacy_15") for d in by_kind[k])
    assert all(d["rule"] == "id_check_digit" for d in by_kind["id_bad_check_digit"])
    assert not [d for d in truth["defects"] if d["feed"] == "population_registry" and d["rule"]]
    late = by_kind["late_row"]
    assert late and all(d["event_date"] < DAY.isoformat() for d in late)
    assert {d["feed"] for d in by_kind["id_legacy_15"]} and all(
        d["expected"] == "loaded" for d in by_kind["id_legacy_15"]
    )


def test_dirt_switches_parse_from_the_command_line() -> None:
    dirt = Dirt.parse(["late_rows=0", "truncated_file=off", "id_bad_check=0.5"])
    assert dirt.late_rows == 0 and dirt.truncated_file is False and dirt.id_bad_check == 0.5
    assert dirt.duplicate_delivery is True
    with pytest.raises(ValueError, match="unknown dirt"):
        Dirt.parse(["nonsense=1"])


def test_percentile_is_postgres_percentile_cont() -> None:
    assert percentile([1, 2, 3, 4], 0.5) == 2.5
    assert percentile([10, 20, 30, 40, 50], 0.9) == pytest.approx(46)
    assert percentile([7], 0.9) == 7


def test_kpis_are_consistent_with_the_delivered_events(tmp_path: Path) -> None:
    truth = generate(tmp_path, DAY, 1, 1200, 6)[0]
    discovery = truth["kpi_proactive_discovery"]
    handling = truth["kpi"]["handling_efficiency"]
    assert discovery and set(discovery) == set(handling)
    for code, k in discovery.items():
        assert k["incidents"] == handling[code]["incidents"]
        assert 0 <= k["proactive_discovery_rate"] <= 1
    loaded_incidents = truth["feeds"]["grid_incidents"]["loaded"]
    late = [d for d in truth["defects"] if d["feed"] == "grid_incidents" and d["kind"] == "late_row"]
    assert late, "the day's incident file carries late rows"
    late_loaded = sum(d["expected"] == "loaded" for d in late)
    assert sum(k["incidents"] for k in discovery.values()) == loaded_incidents - late_loaded
    # Every reference community has its row; those the city has no residents in count nothing.
    reference = {c.code for c in reference_geography()}
    assert set(truth["kpi"]["community_resources"]) == set(truth["population"]) == reference
    city = {c.code for c in geography(1200)}
    for code, k in truth["kpi"]["community_resources"].items():
        assert k["residents"] == truth["population"][code]
        if code in city:
            assert 0 < k["fund_utilisation"] <= 1 and k["staff"] >= 2 and k["residents"] > 0
        else:
            assert k == {k_: 0 for k_ in k} | {"fund_utilisation": None, "residents_per_staff": None}
    assert sum(truth["population"].values()) == 1200
    for family in ("service_cases", "community_engagement"):
        assert set(truth["kpi"][family]) == set(truth["population"]), family
        assert all(truth["kpi"][family][code]["residents"] == 0 for code in set(truth["population"]) - city)
    for family in ("handling_efficiency", "satisfaction", "service_duration"):  # only where events happened
        assert set(truth["kpi"][family]) <= city, family
    for types in truth["kpi"]["service_duration"].values():
        for k in types.values():
            assert k["p90_hours"] >= k["median_hours"] > 0


def test_an_ordinary_day_loses_no_file(tmp_path: Path) -> None:
    """The default dirt leaves out the whole-file defects that lose records (operational faults)."""
    truth = generate(tmp_path, DAY, 1, 400, 8)[0]
    lossy = {"truncated_file", "wrong_encoding", "drifted_column"}
    assert not [d for d in truth["defects"] if d["kind"] in lossy]
    assert {d["kind"] for d in truth["defects"]} >= {"duplicate_delivery", "empty_file", "late_row"}
