"""The KPI scorecard the scoring DAG writes, read in headless Chromium: each KPI's label and value, held periods."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
import time
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from grassroots.generator.world import reference_geography
from grassroots.reports import kpi_pages, scorecard, webfont
from tests.chromium import chromium
from tests.conftest import DEMO_DAY, DemoRun
from tests.kpi_truth import BY_AGE, age_rows, kpi_mismatches

DISTRICT = "330102"
REFERENCE = reference_geography()
# index, districts, streets, communities: every area of the reference, those without residents included
PAGES = 1 + len({c.district for c in REFERENCE}) + len({c.street for c in REFERENCE}) + len(REFERENCE)


@pytest.fixture
def pages(demo_run: DemoRun) -> Path:
    """The scorecard pages of the session's demo day (kpi_pages.build writes them beside the KPI pages)."""
    return demo_run.reports / "kpi" / "scorecard"


def _rows(dom: str) -> dict[str, list[str]]:
    """Cell texts of every scorecard row by its data-kpi key: label, day, change, trend, month, change."""
    rows = re.findall(r'<tr data-kpi="([^"]+)">(.*?)</tr>', dom, flags=re.S)
    return {
        html.unescape(key): [
            html.unescape(re.sub(r"<[^>]+>", " ", c)).strip()
            for c in re.findall(r"<td[^>]*>(.*?)</td>", body, flags=re.S)
        ]
        for key, body in rows
    }


def _published(dsn: str, kpi: scorecard.Kpi, grain: str, period: dt.date) -> dict[str | None, float]:
    """Values of the district for a published period (by service type where the KPI has one, of its age
    group where it has one), from the marts."""
    table = scorecard.relation(kpi, grain)
    column = scorecard.GRAINS[grain][1]
    with psycopg.connect(dsn) as conn:
        status = conn.execute(
            "select status from marts.kpi_period_status where relation = %s and period_grain = %s "
            "and period_start = %s",
            (table, grain, period),
        ).fetchone()
        if status != ("published",):
            return {}
        slot = sql.Identifier("service_type") if kpi.per_service_type else sql.SQL("null::text")
        group = sql.SQL("")
        if kpi.age_group:
            slot, group = sql.Identifier("age_group"), sql.SQL(" and age_group = {}").format(kpi.age_group)
        query = sql.SQL(
            "select {slot}, {value} from {table} where area_level = 'district' and area_code = %s "
            "and {period} = %s and {value} is not null{group}"
        ).format(
            slot=slot,
            value=sql.Identifier(kpi.column),
            table=sql.Identifier("marts", table),
            period=sql.Identifier(column),
            group=group,
        )
        return {stype: float(value) for stype, value in conn.execute(query, (DISTRICT, period))}


def test_scorecard_shows_every_kpi_label_and_value_in_chromium(pages: Path, demo_run: DemoRun, tmp_path: Path) -> None:
    names = {p.name for p in pages.glob("*.html")}
    assert len(names) == PAGES, sorted(names)
    page = pages / f"{DISTRICT}.html"
    dom = chromium("--dump-dom", page.as_uri())
    rows = _rows(dom)
    checked = 0
    for kpi in scorecard.KPIS:
        for grain, period in (("day", DEMO_DAY), ("month", DEMO_DAY.replace(day=1))):
            for stype, value in _published(demo_run.dsn, kpi, grain, period).items():
                key = kpi.column + (f"/{stype}" if stype else "")
                assert key in rows, f"no row for {key}"
                cells = rows[key]
                assert kpi.zh in cells[0], (key, cells)
                assert cells[1 if grain == "day" else 4] == scorecard.format_value(kpi, value), (key, grain, cells)
                checked += 1
        assert kpi.zh in dom, f"{kpi.zh} missing"
    assert checked >= 20, f"only {checked} published values to check: the demo day published too little"
    elderly = [k for k in scorecard.KPIS if k.age_group == "elderly"]
    assert len(elderly) == 3 and all(f"{k.column}/elderly" in rows for k in elderly), "elderly rows missing"
    assert all("老年人" in rows[f"{k.column}/elderly"][0] for k in elderly)
    kpi_index = (demo_run.reports / "kpi" / "index.html").read_text(encoding="utf-8")
    assert "kpi_satisfaction_daily" in kpi_index and "_by_age_" not in kpi_index, "by-age tables are the scorecard's"
    assert any(
        rows[f"{k.column}/elderly"][1] not in ("", "–") and rows[f"{k.column}/elderly"][1][0].isdigit() for k in elderly
    ), "no elderly value on the district page"
    # Drill-down: the district links its streets, a street its communities.
    assert 'href="330102001.html"' in dom
    assert 'href="330102001001.html"' in (pages / "330102001.html").read_text(encoding="utf-8")
    assert 'id="rank-kpi"' in dom and dom.count('class="rank"') >= 10, "community ranking missing"


def test_embedded_font_draws_the_chinese_and_the_page_is_not_blank(pages: Path, tmp_path: Path) -> None:
    page = pages / f"{DISTRICT}.html"
    shot = tmp_path / "scorecard.png"
    chromium(f"--screenshot={shot}", "--window-size=1280,1400", page.as_uri())
    # The same page without its embedded font: on a machine without a CJK font, the Chinese is
    # boxes there; either way the embedded font must change what is drawn.
    bare = tmp_path / "bare.html"
    bare.write_text(
        re.sub(r"@font-face\{[^}]*\}", "", page.read_text(encoding="utf-8")).replace('"GrassrootsSC",', ""),
        encoding="utf-8",
    )
    bare_shot = tmp_path / "bare.png"
    chromium(f"--screenshot={bare_shot}", "--window-size=1280,1400", bare.as_uri())
    from PIL import Image, ImageChops

    image = Image.open(shot).convert("RGB")
    colours = image.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 100, "the screenshot is (nearly) blank"
    heading = (0, 0, 1280, 60)
    diff = ImageChops.difference(image.crop(heading), Image.open(bare_shot).convert("RGB").crop(heading))
    assert diff.getbbox() is not None, "the embedded font draws nothing different: is it used?"
    print(f"screenshot: {shot} ({len(colours)} colours); without the embedded font: {bare_shot}")


def test_held_period_shows_held_with_its_reason_in_chromium(demo_run: DemoRun, tmp_path: Path) -> None:
    with psycopg.connect(demo_run.dsn) as conn:
        data = scorecard.read(conn, DEMO_DAY)
    kpi = scorecard.KPIS[0]
    day_value = data.rows[("day", scorecard.relation(kpi, "day"), "district", DISTRICT, DEMO_DAY, None)][kpi.column]
    reason = "feed grid_incidents 2026-11-24: rows_complete failed <script>alert(1)</script>"
    data.status[(scorecard.relation(kpi, "day"), "day", DEMO_DAY)] = ("held", reason)
    scorecard.write(data, tmp_path / "held")
    dom = chromium("--dump-dom", (tmp_path / "held" / f"{DISTRICT}.html").as_uri())
    cells = _rows(dom)[kpi.column]
    assert cells[1].startswith("暂停发布 held") and reason in cells[1], cells
    assert scorecard.format_value(kpi, day_value) not in cells[1] and cells[2] == "–", "a held day shows a number"
    assert dom.count("<script") == 1, "the planted script in the reason became markup"


def test_scorecard_render_time(demo_run: DemoRun, tmp_path: Path) -> None:
    """Printed, not asserted: how long the scorecard (and the whole KPI task) takes for the demo day."""
    webfont.font_face_css.cache_clear()  # a cold font subset, as in the DAG's task
    start = time.perf_counter()
    counts = scorecard.build(demo_run.dsn, DEMO_DAY, tmp_path / "scorecard")
    seconds = time.perf_counter() - start
    assert counts["scorecard_pages"] == PAGES
    webfont.font_face_css.cache_clear()
    start = time.perf_counter()
    kpi_pages.build(demo_run.dsn, DEMO_DAY, tmp_path / "kpi")
    print(
        f"scorecard: {counts['scorecard_pages']} pages in {seconds:.2f} s; "
        f"build_kpi_report (KPI pages + scorecard): {time.perf_counter() - start:.2f} s"
    )


def test_published_elderly_breakdown_equals_the_truth(demo_run: DemoRun, demo_landing: Path) -> None:
    """Satisfaction and digital channel share of elderly residents (and of all, under 60) per community on the
    demo day equal the generator's truth; street and district rows add up; `all` equals the plain KPI tables."""
    truth = json.loads((demo_landing / "_truth" / f"{DEMO_DAY}.json").read_text(encoding="utf-8"))
    with psycopg.connect(demo_run.dsn) as conn:
        published = {
            (relation, grain)
            for relation, grain in conn.execute(
                "select relation, period_grain from marts.kpi_period_status where status = 'published' "
                "and period_start = any(%s)",
                ([DEMO_DAY, DEMO_DAY.replace(day=1)],),
            )
        }
        for family in ("satisfaction_by_age", "digital_channel_by_age"):
            assert {(f"kpi_{family}_daily", "day"), (f"kpi_{family}_monthly", "month")} <= published
        assert kpi_mismatches(conn, truth, DEMO_DAY) == []
        elderly = {
            family: {code: groups["elderly"] for code, groups in truth["kpi"][family].items() if "elderly" in groups}
            for family in BY_AGE
        }
        assert all(len(by_code) >= 2 for by_code in elderly.values()), "too few elderly events to test on"
        for family, (mart, columns) in BY_AGE.items():
            got = age_rows(conn, mart, list(columns.values()), DEMO_DAY)
            assert {code for code, group in got if group == "elderly"} == set(elderly[family]), mart
            # Street and district rows are computed from the same events: their counts add up.
            count = next(iter(columns.values()))
            for level in ("street", "district"):
                totals = dict(
                    conn.execute(
                        sql.SQL(
                            "select age_group, sum({c}) from marts.{t} where area_level = %s and kpi_date = %s "
                            "group by 1"
                        ).format(c=sql.Identifier(count), t=sql.Identifier(mart)),
                        (level, DEMO_DAY),
                    ).fetchall()
                )
                assert totals == {g: sum(v[count] for (_, gg), v in got.items() if gg == g) for g in totals}, level
        # The `all` rows repeat the plain KPI tables at every level.
        for mart, plain, column in (
            ("kpi_satisfaction_by_age_daily", "kpi_satisfaction_daily", "mean_score"),
            ("kpi_digital_channel_by_age_daily", "kpi_service_cases_daily", "digital_channel_share"),
        ):
            differ = conn.execute(
                sql.SQL(
                    "select count(*) from marts.{a} a full join marts.{p} p "
                    "using (area_level, area_code, kpi_date) "
                    "where (a.age_group = 'all' or a.age_group is null) and p.{c} is not null "
                    "and a.{c} is distinct from p.{c}"
                ).format(a=sql.Identifier(mart), p=sql.Identifier(plain), c=sql.Identifier(column)),
            ).fetchone()[0]
            assert differ == 0, mart
