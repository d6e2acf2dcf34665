"""The KPI pages the scoring DAG builds render in headless Chromium with charts and the latest values."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from grassroots.reports import kpi_pages
from tests.chromium import chromium
from tests.conftest import DEMO_DAY, DemoRun

DAGS = Path(__file__).resolve().parents[2] / "dags"


@pytest.fixture
def report_dir(demo_run: DemoRun) -> Path:
    """The KPI pages the scoring DAG wrote for the session's demo day (tests/conftest.py)."""
    return demo_run.reports / "kpi"


def _latest_values(dsn: str, district: str) -> list[str]:
    """The latest day's rate of a few communities, formatted as the report formats numbers."""
    with psycopg.connect(dsn) as conn:
        query = sql.SQL(
            "select proactive_discovery_rate from {} where area_level = 'community' and kpi_date = %s "
            "and area_code like %s"
        )
        rows = conn.execute(
            query.format(sql.Identifier("marts", "kpi_proactive_discovery_daily")), (DEMO_DAY, f"{district}%")
        ).fetchall()
    return [kpi_pages._fmt(float(r[0])) for r in rows if r[0] is not None]


def test_kpi_report_renders_with_charts_and_latest_values(report_dir: Path, demo_run: DemoRun, tmp_path: Path) -> None:
    pages = sorted(p.name for p in report_dir.glob("*.html"))
    assert "index.html" in pages and len(pages) == 4, pages  # index + three districts
    district = "330102"
    page = report_dir / f"{district}.html"
    assert not list(report_dir.glob("*.png")), "charts are inline SVG, not image files"
    text = page.read_text(encoding="utf-8")
    charts = text.count('<svg class="chart"')
    assert charts >= 10, "charts missing"
    # Every chart with data draws its communities' points (a dot per point, a line through them).
    assert text.count("<circle") >= charts and "<polyline" in text
    assert "@font-face" in text and "data:font/woff2;base64," in text, "Chinese needs the embedded font offline"

    dom = chromium("--dump-dom", page.as_uri())
    assert "问题发现率" in dom and str(DEMO_DAY) in dom
    latest = _latest_values(demo_run.dsn, district)
    assert latest and all(value in dom for value in latest), "latest values are not on the page"
    assert dom.count("<svg") >= charts, "the page does not show its charts"
    assert 'id="s330102001"' in dom and 'id="c330102001001"' in dom, "street/community drill-down missing"

    shot = tmp_path / "kpi.png"
    chromium(f"--screenshot={shot}", "--window-size=1280,1800", page.as_uri())
    from PIL import Image

    image = Image.open(shot).convert("RGB")
    assert image.size == (1280, 1800)
    colours = image.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 200, "the screenshot is (nearly) blank"
    print(f"screenshot: {shot} ({len(colours)} colours), {charts} charts")
