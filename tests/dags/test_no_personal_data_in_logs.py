"""Task logs and XComs of a real run carry counts and rule names, never ID numbers or phones."""

from __future__ import annotations

import json
import logging
import os
import re
import sqlite3
from pathlib import Path

import pytest

from grassroots.generator import feed_server
from grassroots.local import pipeline
from tests.conftest import DEMO_DAY

DAGS = Path(__file__).resolve().parents[2] / "dags"
ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])(?:\d{17}[\dXx]|\d{15})(?![0-9A-Za-z])")
MOBILE = re.compile(r"(?<![0-9A-Za-z])1[3-9]\d{9}(?![0-9A-Za-z])")


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.name} {record.getMessage()} {record.exc_text or ''}")


def _metadata_db() -> Path:
    return Path(os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].removeprefix("sqlite:///"))


def test_dag_logs_and_xcoms_hold_no_id_numbers_or_phones(
    warehouse_dsn: str, demo_landing: Path, airflow_db: None, capfd: pytest.CaptureFixture, monkeypatch
) -> None:
    monkeypatch.setenv("GRASSROOTS_LANDING_DIR", str(demo_landing))
    truth = json.loads((demo_landing / "_truth" / f"{DEMO_DAY}.json").read_text())
    server, url = feed_server.serve(demo_landing)
    monkeypatch.setenv("GRASSROOTS_API_URL", url)
    # Every log record, whichever stream an earlier logging setup bound its handlers to.
    records = _Collect()
    logging.getLogger().addHandler(records)
    try:
        states = pipeline.run_day(DEMO_DAY, DAGS)
    finally:
        logging.getLogger().removeHandler(records)
        server.shutdown()
    captured = capfd.readouterr()
    logs = captured.out + captured.err + "\n".join(records.lines)
    log_dir = Path(os.environ["AIRFLOW_HOME"]) / "logs"
    if log_dir.exists():
        logs += "".join(p.read_text(errors="replace") for p in log_dir.rglob("*") if p.is_file())
    with sqlite3.connect(_metadata_db()) as meta:
        xcoms = [str(row[0]) for row in meta.execute("select value from xcom")]

    assert [state for _, state in states] == ["success"] * len(states) and len(states) >= 3
    assert "id_check_digit" in {defect.get("rule") for defect in truth["defects"]}
    assert "rule id_check_digit" in logs, "the scan must see the run's task logs (its quarantine decisions)"
    assert len(xcoms) >= 3, "the tasks returned their counts through XCom"
    for name, text in (("logs", logs), ("xcom", "\n".join(xcoms))):
        assert not ID_NUMBER.findall(text), f"ID-number-shaped values in {name}"
        assert not MOBILE.findall(text), f"mobile-number-shaped values in {name}"
