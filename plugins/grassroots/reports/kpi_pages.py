"""KPI pages: static HTML per district (street and community drill-down) with inline SVG charts over time.

Every table in schema `marts` whose name starts with `kpi_` is read; its first date column is the
time axis, its community rows (`area_level = 'community'` with `area_code`, or a `community_code`
column) the grain, and every other numeric column a KPI that gets a chart. Tables broken down by
age group (`age_group`: kpi_satisfaction_by_age_*, kpi_digital_channel_by_age_*) are left to the
scorecard, which shows their elderly rows beside their KPI: here their groups would share a
community's cell, and their `all` rows repeat the plain KPI tables.
Rates are not averaged across communities (an average of rates is not the area's rate): district
charts draw one line per community. Rows after the run day are ignored, so a rerun of a day
writes the same files. The markup is in templates (grassroots/reports/templates/kpi_*, _chart.svg.j2),
rendered by grassroots.reports.templating: every value is escaped.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

from grassroots.reports import scorecard, templating, webfont

log = logging.getLogger(__name__)
NUMERIC = ("smallint", "integer", "bigint", "numeric", "real", "double precision")
GEO_COLUMNS = {"community_code", "street_code", "district_code", "grid_code", "area_code", "area_level"}
HISTORY_DAYS = 90
LABELS = {  # KPI glossary (design.md); other columns are shown by name
    "proactive_discovery_rate": "问题发现率 proactive discovery rate",
    "incidents": "事件数 incidents",
    "proactive_incidents": "主动发现事件 proactive incidents",
    "median_hours_to_resolve": "处置时长中位数(小时) median hours to resolve",
    "within_sla_share": "按时处置率 share resolved within SLA",
    "mean_score": "群众满意度 mean satisfaction score",
    "share_4_5": "满意率(4–5分) share scoring 4–5",
    "one_visit_completion_rate": "一次办结率 one-visit completion",
    "digital_channel_share": "平台使用率 digital channel share",
    "complaints_per_1000_residents": "投诉率(每千人) complaints per 1,000 residents",
    "complaints_per_100_cases": "投诉率(每百件) complaints per 100 cases",
    "fund_utilisation": "资金使用效率 fund utilisation",
    "residents_per_staff": "人员配置 residents per staff member",
    "participation_rate": "参与率 participation rate",
    "deliberation_resolution_rate": "协商事项解决率 deliberation resolution",
}
CSS = """body{font-family:"Noto Sans CJK SC","WenQuanYi Micro Hei",sans-serif;margin:24px;color:#222}
h1{margin-bottom:4px}nav a{margin-right:12px}table{border-collapse:collapse;margin:8px 0 20px}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f0f3f7}td:first-child{text-align:left}
.charts{display:flex;flex-wrap:wrap;gap:12px}.charts figure{margin:0}figcaption{font-size:13px}
section{border-top:2px solid #dde;margin-top:16px;padding-top:8px}"""


@dataclass
class KpiTable:
    """One marts KPI table: its day column, KPI columns and rows (community, day) → values."""

    name: str
    day_column: str
    kpis: list[str]
    rows: dict[tuple[str, dt.date], dict[str, float | None]] = field(default_factory=dict)


@dataclass
class Community:
    """A community of the reference geography."""

    code: str
    name: str
    street: str
    district: str
    district_name: str


def discover(conn: psycopg.Connection) -> list[tuple[str, str, list[str], bool]]:
    """(table, day column, KPI columns, by area level?) of every marts.kpi_* table with community rows and a date."""
    found = []
    tables = conn.execute(
        "select table_name from information_schema.tables where table_schema = 'marts' "
        "and table_name like 'kpi\\_%%' order by 1"
    ).fetchall()
    for (table,) in tables:
        columns = conn.execute(
            "select column_name, data_type from information_schema.columns where table_schema = 'marts' "
            "and table_name = %s order by ordinal_position",
            (table,),
        ).fetchall()
        days = [c for c, t in columns if t == "date"]
        kpis = [c for c, t in columns if t in NUMERIC and c not in GEO_COLUMNS]
        names = {c for c, _ in columns}
        by_area = {"area_level", "area_code"} <= names
        if "age_group" in names:
            continue
        if days and kpis and (by_area or "community_code" in names):
            found.append((table, days[0], kpis, by_area))
        else:
            log.warning("marts.%s: no date column, community_code or numeric KPI; not charted", table)
    return found


def read_tables(conn: psycopg.Connection, ds: dt.date) -> list[KpiTable]:
    """The last HISTORY_DAYS days up to `ds` of every discovered KPI table."""
    result = []
    for table, day, kpis, by_area in discover(conn):
        query = sql.SQL("select {code}, {day}, {kpis} from {table} where {day} between %s and %s {level}").format(
            code=sql.Identifier("area_code" if by_area else "community_code"),
            day=sql.Identifier(day),
            kpis=sql.SQL(", ").join(map(sql.Identifier, kpis)),
            table=sql.Identifier("marts", table),
            level=sql.SQL("and area_level = 'community'" if by_area else ""),
        )
        kpi_table = KpiTable(table, day, kpis)
        for row in conn.execute(query, (ds - dt.timedelta(days=HISTORY_DAYS - 1), ds)):
            kpi_table.rows[(row[0], row[1])] = {
                k: None if v is None else float(v) for k, v in zip(kpis, row[2:], strict=True)
            }
        result.append(kpi_table)
    return result


def read_geography(conn: psycopg.Connection) -> list[Community]:
    """Communities with street and district, from the geography dimension (warehouse.dim_geography)."""
    rows = conn.execute(
        "select community_code, community_name, street_code, district_code, district_name "
        "from warehouse.dim_geography order by district_code, street_code, community_code"
    ).fetchall()
    return [Community(*row) for row in rows]


PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22")
WIDTH, HEIGHT, PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 468, 250, 52, 12, 26, 58
INNER_WIDTH, INNER_HEIGHT = WIDTH - PAD_LEFT - PAD_RIGHT, HEIGHT - PAD_TOP - PAD_BOTTOM
SVG = {  # the fixed geometry of every chart, for the template
    "width": WIDTH,
    "height": HEIGHT,
    "middle_x": f"{WIDTH / 2:.0f}",
    "middle_y": f"{HEIGHT / 2:.0f}",
    "pad_left": PAD_LEFT,
    "pad_top": PAD_TOP,
    "inner_width": INNER_WIDTH,
    "inner_height": INNER_HEIGHT,
    "y_label_x": PAD_LEFT - 4,
    "x_label_y": HEIGHT - PAD_BOTTOM + 12,
}


@dataclass
class Line:
    """One series of a chart: its polyline and a dot per point, in SVG coordinates."""

    label: str
    colour: str
    points: str
    dots: list[tuple[str, str]]


@dataclass
class Chart:
    """One line chart, laid out for the inline SVG the page draws (templates/_chart.svg.j2).

    x is the day, y the value with its range on the axis; a single day is one dot with that day
    as its only tick. No image files, no fonts baked in: the browser sets the text.
    """

    title: str
    y_labels: list[tuple[str, str]] = field(default_factory=list)  # (y, value)
    x_labels: list[tuple[str, str]] = field(default_factory=list)  # (x, day)
    lines: list[Line] = field(default_factory=list)
    # (square x, square y, colour, text x, text y, label) of the first eight lines
    legend: list[tuple[str, int, str, str, int, str]] = field(default_factory=list)


def _chart(title: str, series: dict[str, list[tuple[dt.date, float]]]) -> Chart:
    """The chart of one KPI: one line per series (community), sorted by label."""
    chart = Chart(title)
    points = [(d, v) for values in series.values() for d, v in values]
    if not points:
        return chart
    days = sorted({d for d, _ in points})
    low, high = min(v for _, v in points), max(v for _, v in points)
    low, high = (low - 1, high + 1) if low == high else (low, high)
    span = max((days[-1] - days[0]).days, 1)

    def x(day: dt.date) -> float:
        return PAD_LEFT + (INNER_WIDTH / 2 if len(days) == 1 else INNER_WIDTH * (day - days[0]).days / span)

    def y(value: float) -> float:
        return PAD_TOP + INNER_HEIGHT * (1 - (value - low) / (high - low))

    chart.y_labels = [(f"{y(value) + 4:.1f}", _fmt(value)) for value in (low, (low + high) / 2, high)]
    chart.x_labels = [(f"{x(day):.1f}", f"{day:%m-%d}") for day in days[:: max(1, len(days) // 6)]]
    for index, (label, values) in enumerate(sorted(series.items())):
        if values:
            coords = " ".join(f"{x(d):.1f},{y(v):.1f}" for d, v in sorted(values))
            dots = [(f"{x(d):.1f}", f"{y(v):.1f}") for d, v in values]
            chart.lines.append(Line(label, PALETTE[index % len(PALETTE)], coords, dots))
    for index, line in enumerate(chart.lines[:8]):
        left, base = PAD_LEFT + (index % 4) * (INNER_WIDTH / 4), HEIGHT - PAD_BOTTOM + 28 + (index // 4) * 13
        chart.legend.append((f"{left:.0f}", base - 8, line.colour, f"{left + 11:.0f}", base, line.label[:14]))
    return chart


def _fmt(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.4g}"


def _label(column: str) -> str:
    return LABELS.get(column, column.replace("_", " "))


@dataclass
class Figure:
    """One chart of a district page with its caption (table.column)."""

    chart: Chart
    table: str
    column: str


def _figures(tables: list[KpiTable], members: list[Community]) -> list[Figure]:
    figures = []
    for t in tables:
        by_code: dict[str, list[tuple[dt.date, dict[str, float | None]]]] = defaultdict(list)
        for (code, d), values in t.rows.items():  # once per table, not once per community and KPI
            by_code[code].append((d, values))
        for k in t.kpis:
            series = {c.name: [(d, v[k]) for d, v in by_code.get(c.code, ()) if v[k] is not None] for c in members}
            figures.append(Figure(_chart(_label(k), series), t.name, k))
    return figures


def _page(title: str, body: str) -> str:
    """A whole page around a rendered body, its font slot left for render (grassroots.reports.webfont:
    the vendored CJK font cut to the pages' characters, so chart labels are not boxes on a machine
    without a CJK font)."""
    style = webfont.FONT_SLOT + CSS.replace("font-family:", f"font-family:{webfont.FAMILY!r},", 1)
    return templating.page(title, style, body)


def render(tables: list[KpiTable], communities: list[Community], ds: dt.date) -> dict[str, str]:
    """Every page by file name: index.html and <district code>.html."""
    env = templating.environment()
    districts = sorted({c.district: c.district_name for c in communities}.items())
    common = {"ds": ds, "districts": districts, "tables": tables, "label": _label, "fmt": _fmt, "svg": SVG}
    pages = {}
    for district, name in districts:
        mine = [c for c in communities if c.district == district]
        streets: dict[str, list[Community]] = defaultdict(list)
        for c in mine:
            streets[c.street].append(c)
        # The communities' trends are their lines in the district charts (one figure per community
        # made the report take minutes with fifteen KPI tables on two cores).
        body = env.get_template("kpi_district.html.j2").render(
            district=district, name=name, communities=mine, streets=streets, figures=_figures(tables, mine), **common
        )
        pages[f"{district}.html"] = _page(f"{name} KPI {ds}", body)
    pages["index.html"] = _page(f"KPI {ds}", env.get_template("kpi_index.html.j2").render(**common))
    return webfont.embed_font(pages)


def build(dsn: str, ds: dt.date, out_dir: Path) -> dict[str, object]:
    """Write index.html and one page per district into out_dir (replaced whole); return counts."""
    with psycopg.connect(dsn) as conn:
        tables = read_tables(conn, ds)
        communities = read_geography(conn)
    staging = out_dir.with_name(out_dir.name + ".building")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    pages = render(tables, communities, ds)
    for name, text in pages.items():
        (staging / name).write_text(text, encoding="utf-8")
    scorecards = scorecard.build(dsn, ds, staging / "scorecard")
    shutil.rmtree(out_dir, ignore_errors=True)
    staging.rename(out_dir)
    charts = sum(text.count('<svg class="chart"') for text in pages.values())
    districts = len(pages) - 1
    log.info("KPI report %s: %d tables, %d districts, %d charts in %s", ds, len(tables), districts, charts, out_dir)
    return {"ds": ds.isoformat(), "tables": len(tables), "districts": districts, "charts": charts, **scorecards}
