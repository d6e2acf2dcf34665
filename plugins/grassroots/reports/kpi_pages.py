"""KPI pages: static HTML per district (street and community drill-down) with inline SVG charts over time.

Every table in schema `marts` whose name starts with `kpi_` is read; its first date column is the
time axis, its community rows (`area_level = 'community'` with `area_code`, or a `community_code`
column) the grain, and every other numeric column a KPI that gets a chart. Tables broken down by
age group (`age_group`: kpi_satisfaction_by_age_*, kpi_digital_channel_by_age_*) are left to the
scorecard, which shows their elderly rows beside their KPI: here their groups would share a
community's cell, and their `all` rows repeat the plain KPI tables.
Rates are not averaged across communities (an average of rates is not the area's rate): district
charts draw one line per community. Rows after the run day are ignored, so a rerun of a day
writes the same files.
"""

from __future__ import annotations

import datetime as dt
import html
import logging
import shutil
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

from grassroots.reports import scorecard, webfont

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
    """Communities with street and district, from the warehouse's reference data."""
    rows = conn.execute(
        "select community_code, community_name, street_code, district_code, district_name "
        "from warehouse.geography order by district_code, street_code, community_code"
    ).fetchall()
    return [Community(*row) for row in rows]


PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22")
WIDTH, HEIGHT, PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 468, 250, 52, 12, 26, 58


def _svg_chart(title: str, series: dict[str, list[tuple[dt.date, float]]]) -> str:
    """One line chart as inline SVG (no image files, no fonts baked in: the browser sets the text).

    One polyline (with a dot per point) per series; x is the day, y the value with its range on
    the axis; a single day is one dot with that day as its only tick. Every label is escaped.
    """
    points = [(d, v) for values in series.values() for d, v in values]
    esc = html.escape
    head = (
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{esc(title)}">'
        f'<text x="{WIDTH / 2:.0f}" y="16" text-anchor="middle" font-size="12">{esc(title)}</text>'
    )
    if not points:
        return (
            head + f'<text x="{WIDTH / 2:.0f}" y="{HEIGHT / 2:.0f}" text-anchor="middle" font-size="11">'
            "无数据 no data</text></svg>"
        )
    days = sorted({d for d, _ in points})
    low, high = min(v for _, v in points), max(v for _, v in points)
    low, high = (low - 1, high + 1) if low == high else (low, high)
    inner_w, inner_h = WIDTH - PAD_LEFT - PAD_RIGHT, HEIGHT - PAD_TOP - PAD_BOTTOM
    span = max((days[-1] - days[0]).days, 1)

    def x(day: dt.date) -> float:
        return PAD_LEFT + (inner_w / 2 if len(days) == 1 else inner_w * (day - days[0]).days / span)

    def y(value: float) -> float:
        return PAD_TOP + inner_h * (1 - (value - low) / (high - low))

    parts = [
        head,
        f'<rect x="{PAD_LEFT}" y="{PAD_TOP}" width="{inner_w}" height="{inner_h}" fill="none" stroke="#bbb"/>',
    ]
    for value in (low, (low + high) / 2, high):
        parts.append(
            f'<text x="{PAD_LEFT - 4}" y="{y(value) + 4:.1f}" text-anchor="end" font-size="9">{esc(_fmt(value))}</text>'
        )
    step = max(1, len(days) // 6)
    for day in days[::step]:
        parts.append(
            f'<text x="{x(day):.1f}" y="{HEIGHT - PAD_BOTTOM + 12}" text-anchor="middle" font-size="9">'
            f"{day:%m-%d}</text>"
        )
    for index, (label, values) in enumerate(sorted(series.items())):
        if not values:
            continue
        colour = PALETTE[index % len(PALETTE)]
        coords = " ".join(f"{x(d):.1f},{y(v):.1f}" for d, v in sorted(values))
        parts.append(
            f'<g><title>{esc(label)}</title><polyline points="{coords}" fill="none" stroke="{colour}" '
            'stroke-width="1.4"/>'
            + "".join(f'<circle cx="{x(d):.1f}" cy="{y(v):.1f}" r="2" fill="{colour}"/>' for d, v in values)
            + "</g>"
        )
    legend = [label for label, values in sorted(series.items()) if values]
    for index, label in enumerate(legend[:8]):
        lx, ly = PAD_LEFT + (index % 4) * (inner_w / 4), HEIGHT - PAD_BOTTOM + 28 + (index // 4) * 13
        colour = PALETTE[sorted(series).index(label) % len(PALETTE)]
        parts.append(
            f'<rect x="{lx:.0f}" y="{ly - 8}" width="8" height="8" fill="{colour}"/>'
            f'<text x="{lx + 11:.0f}" y="{ly}" font-size="9">{esc(label[:14])}</text>'
        )
    return "".join(parts) + "</svg>"


def _fmt(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.4g}"


def _label(column: str) -> str:
    return LABELS.get(column, column.replace("_", " "))


def esc(value: object) -> str:
    """Text for HTML, in element content and in quoted attributes alike."""
    return html.escape(str(value), quote=True)


def _latest_table(tables: list[KpiTable], communities: list[Community], ds: dt.date) -> str:
    head = "".join(f"<th>{html.escape(_label(k))}</th>" for t in tables for k in t.kpis)
    body = []
    for c in communities:
        cells = "".join(f"<td>{_fmt(t.rows.get((c.code, ds), {}).get(k))}</td>" for t in tables for k in t.kpis)
        body.append(f'<tr><td><a href="#c{esc(c.code)}">{esc(c.name)}</a></td>{cells}</tr>')
    return f"<table><tr><th>社区 community ({ds})</th>{head}</tr>{''.join(body)}</table>"


def _charts(tables: list[KpiTable], members: list[Community]) -> str:
    figures = []
    for t in tables:
        for k in t.kpis:
            series = {
                c.name: [(d, v[k]) for (code, d), v in t.rows.items() if code == c.code and v[k] is not None]
                for c in members
            }
            figures.append(
                f"<figure>{_svg_chart(_label(k), series)}"
                f"<figcaption>{html.escape(t.name)}.{html.escape(k)}</figcaption></figure>"
            )
    return f'<div class="charts">{"".join(figures)}</div>'


def _district_page(district: str, tables: list[KpiTable], communities: list[Community], ds: dt.date, nav: str) -> str:
    mine = [c for c in communities if c.district == district]
    streets: dict[str, list[Community]] = defaultdict(list)
    for c in mine:
        streets[c.street].append(c)
    parts = [f"<h1>{esc(mine[0].district_name)} KPI ({esc(district)})</h1>", nav,
             f"<p>数据截至 data as of <b>{ds}</b> · 街道 streets: "
             + " ".join(f'<a href="#s{esc(s)}">{esc(s)}</a>' for s in streets) + "</p>",
             "<h2>最新一天 latest day</h2>", _latest_table(tables, mine, ds),
             "<h2>趋势 trends (one line per community)</h2>", _charts(tables, mine)]  # fmt: skip
    for street, members in streets.items():
        parts.append(f'<section id="s{esc(street)}"><h2>街道 street {esc(street)}</h2>')
        parts.append(_latest_table(tables, members, ds))
        for c in members:
            parts.append(f'<section id="c{esc(c.code)}"><h3>社区 community {esc(c.name)} ({esc(c.code)})</h3>')
            # The community's trends are its line in the district charts above (one figure per
            # community made the report take minutes with fifteen KPI tables on two cores).
            parts.append(_latest_table(tables, [c], ds) + "</section>")
        parts.append("</section>")
    return "".join(parts)


def _page(title: str, body: str) -> str:
    # The page's own characters from the vendored CJK font (grassroots.reports.webfont): chart labels are
    # not boxes on a machine without a CJK font.
    font = webfont.font_face_css(title + body)
    return (
        f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{font}{CSS.replace('font-family:', f'font-family:{webfont.FAMILY!r},', 1)}</style></head>"
        f"<body>{body}</body></html>\n"
    )


def build(dsn: str, ds: dt.date, out_dir: Path) -> dict[str, object]:
    """Write index.html and one page per district into out_dir (replaced whole); return counts."""
    with psycopg.connect(dsn) as conn:
        tables = read_tables(conn, ds)
        communities = read_geography(conn)
    staging = out_dir.with_name(out_dir.name + ".building")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    districts = sorted({c.district: c.district_name for c in communities}.items())
    nav = "<nav>" + "".join(f'<a href="{esc(d)}.html">{esc(n)}</a>' for d, n in districts) + \
          '<a href="index.html">总览 index</a></nav>'  # fmt: skip
    for district, name in districts:
        body = _district_page(district, tables, communities, ds, nav)
        (staging / f"{district}.html").write_text(_page(f"{name} KPI {ds}", body), encoding="utf-8")
    listing = "".join(
        f"<li>{html.escape(t.name)}: {', '.join(html.escape(_label(k)) for k in t.kpis)}</li>" for t in tables
    )
    index = (
        f"<h1>社区治理 KPI grassroots KPI pages</h1>{nav}<p>数据截至 data as of <b>{ds}</b></p>"
        '<p><a href="scorecard/index.html">KPI 记分卡 scorecard (district ▸ street ▸ community)</a></p>'
        f"<h2>KPI tables (marts)</h2><ul>{listing}</ul>"
    )
    (staging / "index.html").write_text(_page(f"KPI {ds}", index), encoding="utf-8")
    scorecards = scorecard.build(dsn, ds, staging / "scorecard")
    shutil.rmtree(out_dir, ignore_errors=True)
    staging.rename(out_dir)
    charts = sum(p.read_text(encoding="utf-8").count('<svg class="chart"') for p in out_dir.glob("*.html"))
    log.info(
        "KPI report %s: %d tables, %d districts, %d charts in %s", ds, len(tables), len(districts), charts, out_dir
    )
    return {"ds": ds.isoformat(), "tables": len(tables), "districts": len(districts), "charts": charts, **scorecards}
