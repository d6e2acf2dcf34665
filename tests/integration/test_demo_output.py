"""`python -m grassroots demo` prints a short console: a line per stage with counts and seconds, the
summary, no Airflow log lines and no warnings; the Airflow logs are in the file whose path it prints."""

from __future__ import annotations

import io
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from grassroots.local import console
from tests.conftest import DEMO_DAY

ROOT = Path(__file__).resolve().parents[2]
STAGE = re.compile(r"^  (setup|generate|ingest|warehouse|scoring) +(.+)  \((\d+\.\d)s\)$")
LOG_LINE = re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d|\b(DEBUG|INFO|WARNING|ERROR)\b|\[DAG TEST\]|Traceback")


def test_the_demo_prints_one_line_per_stage_and_sends_airflow_logs_to_a_file(
    warehouse_dsn: str, airflow_db: None, tmp_path: Path
) -> None:
    env = dict(
        os.environ,
        WAREHOUSE_DSN=warehouse_dsn,
        GRASSROOTS_STATE_DIR=str(tmp_path / "state"),
        PYTHONPATH=str(ROOT / "plugins"),
        PYTHONWARNINGS="default",
    )
    for key in ("GRASSROOTS_LANDING_DIR", "GRASSROOTS_REPORTS_DIR", "GRASSROOTS_API_URL"):
        env.pop(key, None)
    done = subprocess.run(
        [sys.executable, "-m", "grassroots", "demo", "--residents", "300", "--date", DEMO_DAY.isoformat()],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    lines = done.stdout.splitlines()
    assert done.returncode == 0, done.stdout

    stages = [m.groups() for line in lines if (m := STAGE.match(line))]
    assert [s[0] for s in stages] == ["setup", "generate", "ingest", "warehouse", "scoring"], lines
    results = {name: result for name, result, _ in stages}
    assert re.fullmatch(
        r"success: 12/12 feeds loaded, rows [\d,]+ received, [\d,]+ loaded, [\d,]+ quarantined", results["ingest"]
    ), results
    assert re.match(r"success: dbt [\d,]+ nodes .*checks .*0 stale feed\(s\), published", results["warehouse"])
    assert re.fullmatch(r"success: 300 residents scored, \d+ KPI pages", results["scoring"]), results

    assert not [line for line in lines if LOG_LINE.search(line)], "Airflow or Python log lines on the console"
    assert not [line for line in lines if "warn" in line.lower()], "a warning on the console"
    assert len(lines) < 45, f"{len(lines)} lines: the console is not short"

    log_path = Path(re.search(r"Airflow/dbt/GX logs: (\S+\.log)", lines[0]).group(1))
    log = log_path.read_text(encoding="utf-8")
    assert log_path.parent == tmp_path / "state" / "logs"
    assert "[DAG TEST] starting task_id=load_population_registry" in log
    assert "circuit_breaker" in log and "build_kpi_report" in log


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_long_stage_ticks_on_a_terminal_and_stays_silent_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(console, "QUIET_SECONDS", 0.0)
    monkeypatch.setattr(console, "TICK_SECONDS", 0.01)
    dag_test = logging.getLogger(console.DAG_TEST_LOGGER)
    monkeypatch.setattr(dag_test, "level", logging.INFO)
    outputs = {}
    for stream in (_Terminal(), io.StringIO()):
        out = console.Console(stream)
        stage = out.begin("warehouse", tasks=9)
        dag_test.info("[DAG TEST] starting task_id=%s map_index=%s", "dbt_build", -1)
        seen = 0
        while stream.isatty() and "dbt_build" not in stream.getvalue() and seen < 10_000:
            seen += 1
            stage._stop.wait(0.01)
        stage.finish("success: 9 tasks")
        outputs[stream.isatty()] = stream.getvalue()
    assert "\r\x1b[K  warehouse  task 1/9 dbt_build … " in outputs[True]
    # The ticking line is wiped and replaced by the result line.
    assert re.search(r"\r\x1b\[K  warehouse  success: 9 tasks  \(\d+\.\ds\)\n$", outputs[True]), outputs[True]
    assert re.fullmatch(r"  warehouse  success: 9 tasks  \(\d+\.\ds\)\n", outputs[False]), outputs[False]
