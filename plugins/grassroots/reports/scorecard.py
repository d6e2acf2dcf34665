"""KPI scorecard: one offline HTML page per district, street and community with the plan's KPIs (design.md §6.1).

For its area, a page shows each KPI for the run's day and month: the value, the change from the
previous day or month (arrow and delta) and a sparkline of the last 30 days; a period that
publication held (marts.kpi_period_status) is shown as held with its reason, never as a number.
District and street pages rank their communities on a KPI chosen from a list (a few lines of
inline JS only show one ranking table; without JS every table shows). Pages link district →
streets → communities and back; every area of warehouse.dim_geography has its page (one where the
city has no residents shows its KPIs as no data: their ratios are null). Text is escaped; Chinese
renders without a CJK font installed, from a subset of the vendored font embedded in the page
(grassroots.reports.webfont). Nothing loads from
a network or a file other than the sibling pages. The markup is in templates
(grassroots/reports/templates/scorecard_*), rendered by grassroots.reports.templating.

Elderly breakdown: where the KPI allows it, the row of the KPI is followed by the same KPI for
elderly residents (老年人, 60 or older on the day of the survey or application, from the
population registry) with its own value, change and trend: satisfaction (mean score, share
scoring 4–5) from marts.kpi_satisfaction_by_age_* and digital channel share from
marts.kpi_digital_channel_by_age_*, published and held like every KPI table.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

from grassroots.reports import templating, webfont

log = logging.getLogger(__name__)
TREND_DAYS = 30
SCHEMA = "marts"
FONT_SLOT = webfont.FONT_SLOT
SPARK = {"width": 132, "height": 30, "pad": 3}  # a sparkline's size and margin, for the template


@dataclass(frozen=True)
class Kpi:
    """One KPI of the plan: where it lives, its labels, how it is formatted and which way is better."""

    table: str  # kpi_<table>_daily / _monthly
    column: str
    zh: str
    en: str
    kind: str  # share | hours | score | rate | ratio
    better: int  # +1 higher is better, -1 lower is better, 0 neither
    per_service_type: bool = False
    age_group: str | None = None  # the age group's rows of a kpi_<table> broken down by age_group


ELDERLY_ZH = "老年人(60岁及以上)"
ELDERLY_EN = "elderly residents (60+)"


KPIS = (
    Kpi("proactive_discovery", "proactive_discovery_rate", "问题发现率", "proactive discovery rate", "share", 1),
    Kpi(
        "incident_handling",
        "median_hours_to_resolve",
        "处理效率·处置时长中位数(小时)",
        "handling: median hours report→resolved",
        "hours",
        -1,
    ),
    Kpi(
        "incident_handling",
        "within_sla_share",
        "处理效率·按时处置率",
        "handling: share resolved within SLA",
        "share",
        1,
    ),
    Kpi("satisfaction", "mean_score", "群众满意度·平均分", "satisfaction: mean score (1–5)", "score", 1),
    Kpi(
        "satisfaction_by_age",
        "mean_score",
        f"群众满意度·平均分·{ELDERLY_ZH}",
        f"satisfaction: mean score, {ELDERLY_EN}",
        "score",
        1,
        age_group="elderly",
    ),
    Kpi("satisfaction", "satisfied_share", "群众满意度·满意率(4–5分)", "satisfaction: share scoring 4–5", "share", 1),
    Kpi(
        "satisfaction_by_age",
        "satisfied_share",
        f"群众满意度·满意率(4–5分)·{ELDERLY_ZH}",
        f"satisfaction: share scoring 4–5, {ELDERLY_EN}",
        "share",
        1,
        age_group="elderly",
    ),
    Kpi(
        "service_duration",
        "median_hours_to_complete",
        "办事时长中位数(小时)",
        "service duration: median hours submitted→completed",
        "hours",
        -1,
        per_service_type=True,
    ),
    Kpi("service_cases", "one_visit_completion_rate", "一次办结率", "one-visit completion", "share", 1),
    Kpi(
        "service_cases", "complaints_per_1000_residents", "投诉率(每千人)", "complaints per 1,000 residents", "rate", -1
    ),
    Kpi("service_cases", "complaints_per_100_cases", "投诉率(每百件)", "complaints per 100 cases", "rate", -1),
    Kpi("community_resources", "fund_utilisation", "资金使用效率", "fund utilisation (spent / allocated)", "share", 1),
    Kpi(
        "community_resources",
        "residents_per_staff",
        "人员配置合理性(居民/工作人员)",
        "residents per staff member",
        "ratio",
        0,
    ),
    Kpi("community_engagement", "participation_rate", "参与率", "participation rate", "share", 1),
    Kpi(
        "community_engagement", "deliberation_resolution_rate", "协商事项解决率", "deliberation resolution", "share", 1
    ),
    Kpi("service_cases", "digital_channel_share", "平台使用率", "digital channel share (app)", "share", 1),
    Kpi(
        "digital_channel_by_age",
        "digital_channel_share",
        f"平台使用率·{ELDERLY_ZH}",
        f"digital channel share (app), {ELDERLY_EN}",
        "share",
        1,
        age_group="elderly",
    ),
)
GRAINS = {"day": ("daily", "kpi_date"), "month": ("monthly", "kpi_month")}
CSS = """body{font-family:"GrassrootsSC","Noto Sans CJK SC","WenQuanYi Micro Hei",sans-serif;margin:24px;color:#222}
nav a,.children a{margin-right:12px}table{border-collapse:collapse;margin:8px 0 20px}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:right;vertical-align:middle}th{background:#f0f3f7}
th:first-child,td.label{text-align:left}td.label small{color:#666;display:block}td.sub{padding-left:22px}
.held{color:#a15c00;text-align:left}
.good{color:#1a7f37}.bad{color:#c62828}.flat{color:#666}.note{color:#555;font-size:13px}
svg.spark polyline{fill:none;stroke:#1f77b4;stroke-width:1.3}svg.spark circle{fill:#1f77b4}"""
JS = (
    "(function(){var s=document.getElementById('rank-kpi');if(!s)return;function show(){"
    "document.querySelectorAll('div.rank').forEach(function(d){d.hidden=d.dataset.kpi!==s.value;});}"
    "s.addEventListener('change',show);show();})();"
)


@dataclass
class Area:
    """A district, street or community with its name, parent and children codes."""

    level: str
    code: str
    name: str
    parent: str | None = None
    children: list[str] = field(default_factory=list)


@dataclass
class Data:
    """What the pages show: areas, KPI rows and publication status, as read for one day."""

    ds: dt.date
    areas: dict[str, Area]
    # (grain, table, level, code, period, service_type or age_group) → {column: value}
    rows: dict[tuple[str, str, str, str, dt.date, str | None], dict[str, float | None]]
    # (relation, grain, period) → (status, reason)
    status: dict[tuple[str, str, dt.date], tuple[str, str | None]]
    tables: set[str] = field(default_factory=set)  # relations that exist
    _slots: dict[tuple[str, str], set[str]] | None = field(default=None, repr=False)

    def slots(self, relation: str, code: str) -> set[str]:
        """The service types (or age groups) a relation has rows of for an area (indexed on first use,
        once the rows are read: a scan of every row per area made the pages quadratic in areas)."""
        if self._slots is None:
            self._slots = defaultdict(set)
            for key in self.rows:
                if key[5]:
                    self._slots[(key[1], key[3])].add(key[5])
        return self._slots.get((relation, code), set())


def relation(kpi: Kpi, grain: str) -> str:
    return f"kpi_{kpi.table}_{GRAINS[grain][0]}"


def format_value(kpi: Kpi, value: float) -> str:
    """A KPI value as the page shows it (shares in per cent, hours and rates with fixed decimals)."""
    if kpi.kind == "share":
        return f"{value * 100:.1f}%"
    if kpi.kind in ("score", "rate"):
        return f"{value:.2f}"
    if kpi.kind == "hours":
        return f"{value:.1f}"
    return f"{value:,.0f}"


def format_delta(kpi: Kpi, delta: float) -> str:
    if kpi.kind == "share":
        return f"{abs(delta) * 100:.1f} pp"
    return format_value(kpi, abs(delta))


# ---------------------------------------------------------------- reading


def read_areas(conn: psycopg.Connection) -> dict[str, Area]:
    """Districts, streets and communities, with their names, from warehouse.dim_geography."""
    rows = conn.execute(
        "select community_code, community_name, street_code, street_name, district_code, district_name "
        "from warehouse.dim_geography order by district_code, street_code, community_code"
    ).fetchall()
    areas: dict[str, Area] = {}
    for community, name, street, street_name, district, district_name in rows:
        areas.setdefault(district, Area("district", district, district_name))
        if street not in areas:
            areas[street] = Area("street", street, street_name or "", district)
            areas[district].children.append(street)
        areas[community] = Area("community", community, name, street)
        areas[street].children.append(community)
    return areas


def read(conn: psycopg.Connection, ds: dt.date) -> Data:
    """Areas, the KPI rows of the last TREND_DAYS days and 13 months up to `ds`, and their publication status."""
    data = Data(ds, read_areas(conn), {}, {})
    existing = {
        r[0]
        for r in conn.execute(
            "select table_name from information_schema.tables where table_schema = %s and table_name like 'kpi%%'",
            (SCHEMA,),
        )
    }
    data.tables = existing
    columns: dict[str, set[str]] = defaultdict(set)
    groups: dict[str, set[str]] = defaultdict(set)
    for kpi in KPIS:
        columns[kpi.table].add(kpi.column)
        if kpi.age_group:
            groups[kpi.table].add(kpi.age_group)
    since = {"day": ds - dt.timedelta(days=TREND_DAYS), "month": (ds.replace(day=1) - dt.timedelta(days=400))}
    for table, wanted in sorted(columns.items()):
        for grain, (suffix, period) in GRAINS.items():
            name = f"kpi_{table}_{suffix}"
            if name not in existing:
                log.warning("scorecard: marts.%s does not exist; its KPIs show no data", name)
                continue
            _read_table(
                conn,
                data,
                grain,
                name,
                period,
                sorted(wanted),
                since[grain],
                table == "service_duration",
                sorted(groups.get(table, ())),
            )
    if "kpi_period_status" in existing:
        for rel, grain, start, status, reason in conn.execute(
            "select relation, period_grain, period_start, status, reason from marts.kpi_period_status "
            "where period_start <= %s",
            (ds,),
        ):
            data.status[(rel, grain, start)] = (status, reason)
    return data


def _read_table(
    conn: psycopg.Connection,
    data: Data,
    grain: str,
    name: str,
    period: str,
    wanted: list[str],
    since: dt.date,
    by_type: bool,
    age_groups: list[str],
) -> None:
    """Rows of one table into data.rows; the key's last slot is the service type, or the age group
    (only `age_groups` are read from a table broken down by age)."""
    slot = sql.Identifier("service_type") if by_type else sql.SQL("null::text")
    if age_groups:
        slot = sql.Identifier("age_group")
    query = sql.SQL(
        "select area_level, area_code, {period}, {slot}, {cols} from {table} where {period} between %s and %s{groups}"
    ).format(
        period=sql.Identifier(period),
        slot=slot,
        cols=sql.SQL(", ").join(map(sql.Identifier, wanted)),
        table=sql.Identifier(SCHEMA, name),
        groups=sql.SQL(" and age_group = any(%s)") if age_groups else sql.SQL(""),
    )
    params = (since, data.ds, age_groups) if age_groups else (since, data.ds)
    for level, code, start, stype, *values in conn.execute(query, params):
        data.rows[(grain, name, level, code, start, stype)] = {
            c: None if v is None else float(v) for c, v in zip(wanted, values, strict=True)
        }


# ---------------------------------------------------------------- rendering


def _period(grain: str, ds: dt.date, back: int = 0) -> dt.date:
    if grain == "day":
        return ds - dt.timedelta(days=back)
    month = ds.replace(day=1)
    for _ in range(back):
        month = (month - dt.timedelta(days=1)).replace(day=1)
    return month


@dataclass
class Cell:
    """One KPI value of one area and period: a number, or why there is none."""

    value: float | None = None
    held: str | None = None  # reason, when publication held the period
    missing: str | None = None


def cell(data: Data, kpi: Kpi, grain: str, area: Area, period: dt.date, stype: str | None = None) -> Cell:
    """The published value of KPI for the area and period, or held (with reason) or missing."""
    rel = relation(kpi, grain)
    if rel not in data.tables:
        return Cell(missing="无数据表 no table")
    status, reason = data.status.get((rel, grain, period), (None, None))
    if status == "held":
        return Cell(held=reason or "")
    if status != "published":
        return Cell(missing="未发布 not published")
    row = data.rows.get((grain, rel, area.level, area.code, period, stype))
    value = None if row is None else row.get(kpi.column)
    return Cell(value=value) if value is not None else Cell(missing="无数据 no data")


@dataclass
class Shown:
    """One cell as the page shows it: its class (held, flat, value, good, bad) and text (a held
    period's text is the reason)."""

    css: str
    text: str


def _shown(kpi: Kpi, c: Cell) -> Shown:
    if c.held is not None:
        return Shown("held", c.held)
    if c.value is None:
        return Shown("flat", c.missing or "–")
    return Shown("value", format_value(kpi, c.value))


def _change(kpi: Kpi, now: Cell, before: Cell) -> Shown:
    if now.value is None or before.value is None:
        return Shown("flat", "–")
    delta = now.value - before.value
    if abs(delta) < 1e-9:
        return Shown("flat", "＝ 0")
    arrow = "▲" if delta > 0 else "▼"
    tone = "flat" if kpi.better == 0 else ("good" if delta * kpi.better > 0 else "bad")
    return Shown(tone, f"{arrow} {format_delta(kpi, delta)}")


@dataclass
class Spark:
    """A sparkline laid out for the template: its label, the line's points and a dot per point (x, y)."""

    label: str
    points: str = ""
    dots: list[tuple[str, str]] = field(default_factory=list)


def sparkline(points: list[tuple[dt.date, float]], first: dt.date, last: dt.date, label: str) -> Spark:
    """A 30-day trend: one dot per published day, a line through them; empty days are gaps in x."""
    spark = Spark(label)
    if not points:
        return spark
    low, high = min(v for _, v in points), max(v for _, v in points)
    low, high = (low - 1, high + 1) if low == high else (low, high)
    span = max((last - first).days, 1)
    width, height, pad = SPARK["width"], SPARK["height"], SPARK["pad"]
    for day, value in sorted(points):
        x = pad + (width - 2 * pad) * (day - first).days / span
        y = pad + (height - 2 * pad) * (1 - (value - low) / (high - low))
        spark.dots.append((f"{x:.1f}", f"{y:.1f}"))
    spark.points = " ".join(f"{x},{y}" for x, y in spark.dots)
    return spark


def _trend(data: Data, kpi: Kpi, area: Area, stype: str | None) -> Spark:
    first = data.ds - dt.timedelta(days=TREND_DAYS - 1)
    points = []
    for back in range(TREND_DAYS):
        day = data.ds - dt.timedelta(days=back)
        c = cell(data, kpi, "day", area, day, stype)
        if c.value is not None:
            points.append((day, c.value))
    return sparkline(points, first, data.ds, f"{kpi.zh} {kpi.en}: {TREND_DAYS} 天趋势 trend")


def _service_types(data: Data, kpi: Kpi, area: Area) -> list[str]:
    return sorted(set().union(*(data.slots(relation(kpi, grain), area.code) for grain in GRAINS)))


@dataclass
class Row:
    """One KPI row of a scorecard: day value and change, trend, month value and change (no cells:
    the KPI is per service type and none has data)."""

    key: str
    label_css: str
    label: str
    en: str
    cells: list[Shown] = field(default_factory=list)
    trend: Spark | None = None


def _kpi_rows(data: Data, area: Area) -> list[Row]:
    rows = []
    for kpi in KPIS:
        for stype in _service_types(data, kpi, area) if kpi.per_service_type else [kpi.age_group]:
            # Service types are named after the label; an age group's label already names it.
            suffix = f" · {stype}" if stype and kpi.per_service_type else ""
            cells = []
            for grain in GRAINS:
                now = cell(data, kpi, grain, area, _period(grain, data.ds), stype)
                before = cell(data, kpi, grain, area, _period(grain, data.ds, 1), stype)
                cells += [_shown(kpi, now), _change(kpi, now, before)]
            key = kpi.column + (f"/{stype}" if stype else "")
            css = "label sub" if kpi.age_group else "label"
            rows.append(Row(key, css, kpi.zh + suffix, kpi.en, cells, _trend(data, kpi, area, stype)))
        if kpi.per_service_type and not _service_types(data, kpi, area):
            rows.append(Row(kpi.column, "label", kpi.zh, kpi.en))
    return rows


def _communities(data: Data, area: Area) -> list[Area]:
    if area.level == "community":
        return []
    codes = area.children if area.level == "street" else [c for s in area.children for c in data.areas[s].children]
    return [data.areas[c] for c in codes]


@dataclass
class Ranking:
    """An area's communities ranked on one KPI: (rank, community, month value, day value) each."""

    kpi: Kpi
    rows: list[tuple[str, Area, Shown, Shown]]


def _rankings(data: Data, area: Area) -> list[Ranking]:
    """Communities of the area ranked on each KPI by the month's value (day value beside it)."""
    members = _communities(data, area)
    if not members:
        return []
    # Communities rank on the area-wide KPIs: an age group's value rests on few events per community.
    kpis = [k for k in KPIS if not k.per_service_type and not k.age_group]
    month, day = _period("month", data.ds), data.ds
    rankings = []
    for kpi in kpis:
        scored = [(m, cell(data, kpi, "month", m, month), cell(data, kpi, "day", m, day)) for m in members]
        direction = -1 if kpi.better >= 0 else 1
        scored.sort(key=lambda t: (t[1].value is None, direction * (t[1].value or 0), t[0].code))
        rows = [
            (str(rank) if m_cell.value is not None else "–", m, _shown(kpi, m_cell), _shown(kpi, d_cell))
            for rank, (m, m_cell, d_cell) in enumerate(scored, start=1)
        ]
        rankings.append(Ranking(kpi, rows))
    return rankings


def _title(area: Area) -> str:
    kind = {"district": "区 district", "street": "街道 street", "community": "社区 community"}[area.level]
    return f"{area.name or area.code} ({area.code}) · {kind}"


def _trail(data: Data, area: Area) -> list[Area]:
    """The area's parents, the district first."""
    trail, up = [], area.parent
    while up:
        trail.insert(0, data.areas[up])
        up = data.areas[up].parent
    return trail


def _common(data: Data) -> dict[str, object]:
    """What every scorecard template reads beside its own page's values."""
    return {
        "ds": data.ds,
        "month": f"{_period('month', data.ds):%Y-%m}",
        "areas": data.areas,
        "title": _title,
        "trend_days": TREND_DAYS,
        "spark": SPARK,
        "elderly_zh": ELDERLY_ZH,
        "elderly_en": ELDERLY_EN,
    }


def page(data: Data, area: Area) -> str:
    """The scorecard page of one area (font slot not yet filled)."""
    body = (
        templating.environment()
        .get_template("scorecard_area.html.j2")
        .render(
            area=area,
            trail=_trail(data, area),
            rows=_kpi_rows(data, area),
            rankings=_rankings(data, area),
            **_common(data),
        )
    )
    return templating.page(f"{_title(area)} KPI {data.ds}", FONT_SLOT + CSS, body, script=JS)


def index(data: Data) -> str:
    districts = [a for a in data.areas.values() if a.level == "district"]
    body = templating.environment().get_template("scorecard_index.html.j2").render(districts=districts, **_common(data))
    return templating.page(f"KPI 记分卡 {data.ds}", FONT_SLOT + CSS, body)


def render(data: Data) -> dict[str, str]:
    """Every page by file name: index.html and <area code>.html, with the font subset they use embedded."""
    pages = {"index.html": index(data)}
    pages.update({f"{area.code}.html": page(data, area) for area in data.areas.values()})
    return webfont.embed_font(pages)


def write(data: Data, out_dir: Path) -> dict[str, int]:
    """Write the pages into out_dir (created); return counts."""
    out_dir.mkdir(parents=True, exist_ok=True)
    pages = render(data)
    for name, text in pages.items():
        (out_dir / name).write_text(text, encoding="utf-8")
    return {"scorecard_pages": len(pages)}


def build(dsn: str, ds: dt.date, out_dir: Path) -> dict[str, int]:
    """Read the KPIs of day `ds` and write the scorecard pages into out_dir."""
    with psycopg.connect(dsn) as conn:
        data = read(conn, ds)
    counts = write(data, out_dir)
    log.info("KPI scorecard %s: %d pages in %s", ds, counts["scorecard_pages"], out_dir)
    return counts
