"""Task logs and XComs of a real run carry counts and rule names, never ID numbers or phones.

The run is the session's `demo_run` (tests/conftest.py), watched as it ran (`watched_output`: what
it wrote to stdout and stderr, every log record), with the task logs under AIRFLOW_HOME and the
XComs of this session's Airflow metadata database.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
from pathlib import Path

from tests.conftest import DEMO_DAY, DemoRun

ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])(?:\d{17}[\dXx]|\d{15})(?![0-9A-Za-z])")
MOBILE = re.compile(r"(?<![0-9A-Za-z])1[3-9]\d{9}(?![0-9A-Za-z])")


def _metadata_db() -> Path:
    return Path(os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].removeprefix("sqlite:///"))


def test_dag_logs_and_xcoms_hold_no_id_numbers_or_phones(demo_run: DemoRun, demo_landing: Path) -> None:
    truth = json.loads((demo_landing / "_truth" / f"{DEMO_DAY}.json").read_text())
    logs = demo_run.output
    log_dir = Path(os.environ["AIRFLOW_HOME"]) / "logs"
    if log_dir.exists():
        logs += "".join(p.read_text(errors="replace") for p in log_dir.rglob("*") if p.is_file())
    with sqlite3.connect(_metadata_db()) as meta:
        xcoms = [str(row[0]) for row in meta.execute("select value from xcom")]

    states = demo_run.states
    assert [state for _, state in states] == ["success"] * len(states) and len(states) >= 3
    assert "id_check_digit" in {defect.get("rule") for defect in truth["defects"]}
    assert "rule id_check_digit" in demo_run.output, "the scan must see the run's task logs (its quarantine decisions)"
    assert len(xcoms) >= 3, "the tasks returned their counts through XCom"
    for name, text in (("logs", logs), ("xcom", "\n".join(xcoms))):
        assert not ID_NUMBER.findall(text), f"ID-number-shaped values in {name}"
        assert not MOBILE.findall(text), f"mobile-number-shaped values in {name}"
