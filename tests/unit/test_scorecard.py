"""The KPI scorecard pages, rendered from data made here: escaping, held periods, changes, ranking, font."""

from __future__ import annotations

import base64
import datetime as dt
import io
import re
from html.parser import HTMLParser

from fontTools.ttLib import TTFont
from markupsafe import escape

from grassroots.reports import scorecard
from grassroots.reports.scorecard import Area, Data

DS = dt.date(2026, 11, 24)
MONTH = DS.replace(day=1)
HOSTILE = '<script>alert("x")</script>社区'
HOSTILE_REASON = '<img src=x onerror="alert(1)"> feed health 2026-11-24 failed'


def _data() -> Data:
    areas = {
        "D": Area("district", "D", "上城区<u>", children=["S"]),
        "S": Area("street", "S", "上城区第1街道", "D", ["C1", "C2"]),
        "C1": Area("community", "C1", HOSTILE, "S"),
        "C2": Area("community", "C2", "望江社区", "S"),
    }
    rows = {}
    status = {}
    for day, value in ((DS, 0.25), (DS - dt.timedelta(days=1), 0.2), (DS - dt.timedelta(days=5), 0.4)):
        rows[("day", "kpi_proactive_discovery_daily", "community", "C1", day, None)] = {
            "proactive_discovery_rate": value
        }
        status[("kpi_proactive_discovery_daily", "day", day)] = ("published", None)
    rows[("month", "kpi_proactive_discovery_monthly", "community", "C1", MONTH, None)] = {
        "proactive_discovery_rate": 0.3141
    }
    status[("kpi_proactive_discovery_monthly", "month", MONTH)] = ("held", HOSTILE_REASON)
    for code, share in (("C1", 0.5), ("C2", 0.9)):
        rows[("month", "kpi_satisfaction_monthly", "community", code, MONTH, None)] = {
            "mean_score": 4.0,
            "satisfied_share": share,
        }
    status[("kpi_satisfaction_monthly", "month", MONTH)] = ("published", None)
    # Elderly breakdown: the by-age tables' `all` rows must not be shown as the elderly value.
    for day, group, share in ((DS, "elderly", 0.625), (DS - dt.timedelta(days=1), "elderly", 0.75), (DS, "all", 0.1)):
        rows[("day", "kpi_digital_channel_by_age_daily", "community", "C1", day, group)] = {
            "digital_channel_share": share
        }
        status[("kpi_digital_channel_by_age_daily", "day", day)] = ("published", None)
    tables = {scorecard.relation(k, g) for k in scorecard.KPIS for g in scorecard.GRAINS}
    return Data(DS, areas, rows, status, tables)


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append(tag)
        self._in_script = tag == "script"
        if any(name.startswith("on") for name, _ in attrs):
            self.tags.append("event-handler")

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts.append(data)
            self._in_script = False


def _row(page: str, key: str) -> str:
    match = re.search(rf'<tr data-kpi="{re.escape(key)}">(.*?)</tr>', page)
    assert match, f"no row for {key}"
    return match.group(1)


def test_pages_escape_names_and_reasons_and_run_only_their_own_script() -> None:
    pages = scorecard.render(_data())
    assert set(pages) == {"index.html", "D.html", "S.html", "C1.html", "C2.html"}
    for name, text in pages.items():
        tags = _Tags()
        tags.feed(text)
        assert "img" not in tags.tags and "u" not in tags.tags and "event-handler" not in tags.tags, name
        assert all(script == scorecard.JS for script in tags.scripts), f"{name}: a script that is not ours"
        assert tags.tags.count("script") == (0 if name == "index.html" else 1), name
    assert escape(HOSTILE) in pages["C1.html"] and escape(HOSTILE) in pages["S.html"]
    assert escape(HOSTILE_REASON) in pages["C1.html"]


def test_day_value_change_and_held_month() -> None:
    page = scorecard.render(_data())["C1.html"]
    row = _row(page, "proactive_discovery_rate")
    assert "25.0%" in row and '<td class="good">▲ 5.0 pp</td>' in row
    assert "暂停发布 held" in row and "31.4%" not in row, "a held month shows as held, never as its number"
    assert row.count("<circle") == 3, "the sparkline has a dot per published day of the last 30"
    # A KPI with no status row for the day is not shown as a number either.
    assert "未发布 not published" in _row(page, "within_sla_share")


def test_communities_ranked_on_each_kpi_with_drill_down() -> None:
    pages = scorecard.render(_data())
    street = pages["S.html"]
    ranking = re.search(r'<div class="rank" data-kpi="satisfied_share">(.*?)</div>', street).group(1)
    assert ranking.index("望江社区") < ranking.index(escape(HOSTILE)), "90% ranks above 50%"
    assert '<a href="C2.html">' in ranking and '<option value="satisfied_share">' in street
    # Drill-down: district → street → communities, and back up from each.
    assert '<a href="S.html">' in pages["D.html"] and '<a href="C2.html">' in street
    assert '<a href="D.html">' in street and '<a href="S.html">' in pages["C2.html"]
    assert all(f'href="{code}.html"' in pages["index.html"] for code in ("D", "S", "C1", "C2"))


def test_elderly_breakdown_beside_its_kpi_with_value_change_and_trend() -> None:
    page = scorecard.render(_data())["C1.html"]
    keys = re.findall(r'<tr data-kpi="([^"]+)">', page)
    assert keys.index("digital_channel_share/elderly") == keys.index("digital_channel_share") + 1
    assert keys.index("mean_score/elderly") == keys.index("mean_score") + 1
    row = _row(page, "digital_channel_share/elderly")
    assert "平台使用率·老年人(60岁及以上)" in row and "62.5%" in row and "10.0%" not in row
    assert '<td class="bad">▼ 12.5 pp</td>' in row, "the change from the previous day"
    assert row.count("<circle") == 2, "the sparkline has a dot per published elderly day"
    # The month's elderly value was not published: no number, and the area-wide value is not shown instead.
    assert "未发布 not published" in row
    ranking = scorecard.render(_data())["S.html"].split('id="rank-kpi"', 1)[1]
    assert ranking.count('class="rank" data-kpi="digital_channel_share"') == 1
    assert "老年人" not in ranking, "communities rank on area-wide KPIs only"


def test_embedded_font_covers_every_chinese_character_and_nothing_loads_from_outside() -> None:
    page = scorecard.render(_data())["C1.html"]
    encoded = re.search(r"url\(data:font/woff2;base64,([A-Za-z0-9+/=]+)\)", page).group(1)
    font = TTFont(io.BytesIO(base64.b64decode(encoded)))
    cmap = font.getBestCmap()
    chinese = {c for c in page if "\u4e00" <= c <= "\u9fff"}
    assert chinese and all(ord(c) in cmap for c in chinese), sorted(c for c in chinese if ord(c) not in cmap)
    assert not re.search(r"(src|href)=\"(https?:)?//", page) and "http://" not in page.replace(
        'xmlns="http://www.w3.org/2000/svg"', ""
    )
