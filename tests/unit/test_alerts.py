"""What an alert says, and which failures alert (the rest is in tests/integration/test_alerts.py)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from grassroots.orchestration import alerts
from grassroots.quality.publish import PublicationHeld
from grassroots.quality.tasks import DeliveriesIncomplete

DAGS = Path(__file__).resolve().parents[2] / "dags"


def test_the_projects_decisions_are_sent_whole_and_other_errors_masked_and_cut() -> None:
    held = "marts for 2026-11-24 held: kpi_x 2026-11-24: grid_incidents delivery.loaded"
    assert alerts.reason_of(PublicationHeld(held)) == held
    assert alerts.reason_of(DeliveriesIncomplete("1 feed(s) not usable")) == "1 feed(s) not usable"
    leaked = alerts.reason_of(ValueError("duplicate key (id)=(11010119900307777X) phone 13912345678\nDETAIL: row"))
    assert leaked == "ValueError: duplicate key (id)=([…]X) phone […]"
    assert len(alerts.reason_of(PublicationHeld("x" * 5000))) == alerts.MAX_REASON


@pytest.fixture(scope="module")
def dags() -> dict:
    from grassroots.local import pipeline

    return pipeline.load_dags(DAGS)


@pytest.mark.parametrize(
    ("dag_id", "task_id", "left_to_decision"),
    [
        ("grassroots_ingest", "load_grid_incidents", True),
        ("grassroots_ingest", "validate_grid_incidents", True),
        ("grassroots_ingest", "all_feeds_loaded", False),
        ("grassroots_warehouse", "dbt_build", True),
        ("grassroots_warehouse", "circuit_breaker", False),
        ("grassroots_warehouse", "announce", False),
        ("grassroots_scoring", "build_kpi_report", False),
    ],
)
def test_a_failure_upstream_of_the_days_decision_is_left_to_it(
    dags: dict, dag_id: str, task_id: str, left_to_decision: bool
) -> None:
    task = dags[dag_id].get_task(task_id)
    assert alerts.decided_downstream({"task": task}) is left_to_decision
    assert any(isinstance(cb, alerts.DayAlert) for cb in task.on_failure_callback), "no alert on this task"


def test_with_no_destination_the_alert_is_only_logged(monkeypatch, caplog, dags: dict) -> None:
    for key in (alerts.WEBHOOK_ENV, alerts.SMTP_ENV):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setattr(alerts, "send_webhook", lambda *a: pytest.fail("webhook called"))
    monkeypatch.setattr(alerts, "send_mail", lambda *a: pytest.fail("mail sent"))
    task = dags["grassroots_warehouse"].get_task("circuit_breaker")
    context = {
        "task": task,
        "dag": task.dag,
        "run_id": "manual__x",
        "params": {"ds": "2026-11-24"},
        "exception": PublicationHeld("marts for 2026-11-24 held: reasons"),
    }
    with caplog.at_level("ERROR", logger=alerts.__name__):
        alerts.DayAlert()(context)
    assert "grassroots_warehouse failed for 2026-11-24 at circuit_breaker: marts for 2026-11-24 held" in caplog.text
    assert alerts.alert_payload(context)["ds"] == dt.date(2026, 11, 24).isoformat()
