"""KPI pages: static HTML per district (street and community drill-down) with matplotlib charts over time.

Every table in schema `marts` whose name starts with `kpi_` is read; its first date column is the
time axis, its community rows (`area_level = 'community'` with `area_code`, or a `community_code`
column) the grain, and every other numeric column a KPI that gets a chart.
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


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _draw(ax, title: str, series: dict[str, list[tuple[dt.date, float]]]) -> None:
    for label, points in sorted(series.items()):
        if points:
            xs, ys = zip(*sorted(points), strict=True)
            ax.plot(xs, ys, marker="o", markersize=3, linewidth=1.4, label=label)
    from matplotlib.dates import AutoDateLocator, DateFormatter

    ax.xaxis.set_major_locator(AutoDateLocator(minticks=2, maxticks=8))
    ax.xaxis.set_major_formatter(DateFormatter("%m-%d"))
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.tick_params(labelsize=7)
    for tick in ax.get_xticklabels():
        tick.set_rotation(30)
    if 1 < len(series) <= 8:
        ax.legend(fontsize=6, loc="best")


def _chart(path: Path, title: str, series: dict[str, list[tuple[dt.date, float]]]) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.2, 2.8), dpi=90)
    _draw(ax, title, series)
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)


def _fonts() -> None:
    """Use a CJK font when one is installed so that Chinese titles render."""
    import matplotlib
    from matplotlib import font_manager

    names = {f.name for f in font_manager.fontManager.ttflist}
    cjk = [n for n in ("Noto Sans CJK SC", "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "AR PL UMing CN") if n in names]
    matplotlib.rcParams["font.sans-serif"] = [*cjk, "DejaVu Sans"]


def _fmt(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.4g}"


def _label(column: str) -> str:
    return LABELS.get(column, column.replace("_", " "))


def _latest_table(tables: list[KpiTable], communities: list[Community], ds: dt.date) -> str:
    head = "".join(f"<th>{html.escape(_label(k))}</th>" for t in tables for k in t.kpis)
    body = []
    for c in communities:
        cells = "".join(f"<td>{_fmt(t.rows.get((c.code, ds), {}).get(k))}</td>" for t in tables for k in t.kpis)
        body.append(f'<tr><td><a href="#c{c.code}">{html.escape(c.name)}</a></td>{cells}</tr>')
    return f"<table><tr><th>社区 community ({ds})</th>{head}</tr>{''.join(body)}</table>"


def _charts(out: Path, prefix: str, tables: list[KpiTable], members: list[Community]) -> str:
    figures = []
    for t in tables:
        for k in t.kpis:
            series = {c.name: [(d, v[k]) for (code, d), v in t.rows.items() if code == c.code and v[k] is not None]
                      for c in members}  # fmt: skip
            name = f"{prefix}__{t.name}__{k}.png"
            _chart(out / name, _label(k), series)
            figures.append(f'<figure><img src="{name}" alt="{html.escape(_label(k))}" width="468">'
                           f"<figcaption>{html.escape(t.name)}.{html.escape(k)}</figcaption></figure>")  # fmt: skip
    return f'<div class="charts">{"".join(figures)}</div>'


def _district_page(out: Path, district: str, tables: list[KpiTable], communities: list[Community], ds: dt.date,
                   nav: str) -> str:  # fmt: skip
    mine = [c for c in communities if c.district == district]
    streets: dict[str, list[Community]] = defaultdict(list)
    for c in mine:
        streets[c.street].append(c)
    parts = [f"<h1>{html.escape(mine[0].district_name)} KPI ({district})</h1>", nav,
             f"<p>数据截至 data as of <b>{ds}</b> · 街道 streets: "
             + " ".join(f'<a href="#s{s}">{s}</a>' for s in streets) + "</p>",
             "<h2>最新一天 latest day</h2>", _latest_table(tables, mine, ds),
             "<h2>趋势 trends (one line per community)</h2>", _charts(out, district, tables, mine)]  # fmt: skip
    for street, members in streets.items():
        parts.append(f'<section id="s{street}"><h2>街道 street {street}</h2>')
        parts.append(_latest_table(tables, members, ds))
        for c in members:
            parts.append(f'<section id="c{c.code}"><h3>社区 community {html.escape(c.name)} ({c.code})</h3>')
            # The community's trends are its line in the district charts above (one figure per
            # community made the report take minutes with fifteen KPI tables on two cores).
            parts.append(_latest_table(tables, [c], ds) + "</section>")
        parts.append("</section>")
    return "".join(parts)


def _page(title: str, body: str) -> str:
    return (f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{CSS}</style></head><body>{body}</body></html>\n")  # fmt: skip


def build(dsn: str, ds: dt.date, out_dir: Path) -> dict[str, object]:
    """Write index.html and one page per district into out_dir (replaced whole); return counts."""
    _fonts()
    with psycopg.connect(dsn) as conn:
        tables = read_tables(conn, ds)
        communities = read_geography(conn)
    staging = out_dir.with_name(out_dir.name + ".building")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    districts = sorted({c.district: c.district_name for c in communities}.items())
    nav = "<nav>" + "".join(f'<a href="{d}.html">{html.escape(n)}</a>' for d, n in districts) + \
          '<a href="index.html">总览 index</a></nav>'  # fmt: skip
    for district, name in districts:
        body = _district_page(staging, district, tables, communities, ds, nav)
        (staging / f"{district}.html").write_text(_page(f"{name} KPI {ds}", body), encoding="utf-8")
    listing = "".join(f"<li>{html.escape(t.name)}: {', '.join(html.escape(_label(k)) for k in t.kpis)}</li>"
                      for t in tables)  # fmt: skip
    index = (f"<h1>社区治理 KPI grassroots KPI pages</h1>{nav}<p>数据截至 data as of <b>{ds}</b></p>"
             f"<h2>KPI tables (marts)</h2><ul>{listing}</ul>")  # fmt: skip
    (staging / "index.html").write_text(_page(f"KPI {ds}", index), encoding="utf-8")
    shutil.rmtree(out_dir, ignore_errors=True)
    staging.rename(out_dir)
    charts = len(list(out_dir.glob("*.png")))
    log.info(
        "KPI report %s: %d tables, %d districts, %d charts in %s", ds, len(tables), len(districts), charts, out_dir
    )
    return {"ds": ds.isoformat(), "tables": len(tables), "districts": len(districts), "charts": charts}
