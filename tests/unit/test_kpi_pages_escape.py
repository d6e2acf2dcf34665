"""The KPI pages show what departments and the reference data name as text, never as markup."""

from __future__ import annotations

import datetime as dt
from html.parser import HTMLParser

from grassroots.reports import kpi_pages

DAY = dt.date(2026, 11, 24)
SCRIPT, IMAGE = "<script>alert(1)</script>", '<img src=x onerror="alert(2)">'


class Tags(HTMLParser):
    """Every start tag and attribute name the browser would build."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.attributes: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.add(tag)
        self.attributes.update(name for name, _ in attrs)


def test_hostile_names_in_every_text_field_stay_text() -> None:
    community = kpi_pages.Community(
        f"330102001001{SCRIPT}", f"社区{IMAGE}", f"330102001{IMAGE}", "330102", f"上城区{SCRIPT}"
    )
    table = kpi_pages.KpiTable(f"kpi_{IMAGE}", "kpi_date", [f"rate{SCRIPT}", "incidents"])
    table.rows[(community.code, DAY)] = {f"rate{SCRIPT}": 0.5, "incidents": 3.0}
    table.rows[(community.code, DAY - dt.timedelta(days=1))] = {f"rate{SCRIPT}": 0.25, "incidents": 1.0}
    pages = kpi_pages.render([table], [community], DAY)
    assert set(pages) == {"330102.html", "index.html"}

    for page in pages.values():
        parsed = Tags()
        parsed.feed(page)
        assert not parsed.tags & {"script", "img"}, parsed.tags
        assert "onerror" not in parsed.attributes
        assert "&lt;script&gt;" in page and "&lt;img src=x onerror=" in page
    assert "<svg" in pages["330102.html"] and "<circle" in pages["330102.html"], (
        "the chart is drawn from the hostile series too"
    )
