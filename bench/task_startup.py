"""What an Airflow task pays before its work starts: DAG parse and imports.

    .venv/bin/python bench/task_startup.py [--repeat 3]

Under the CeleryExecutor (and the LocalExecutor) every task is a fresh process that parses
its DAG file and imports what its callable needs. Each figure is measured in a fresh Python
process (`--repeat` times, the median printed):
  * importing Airflow's Task SDK, then parsing each DAG file (what the task runner does);
  * importing what each kind of task needs on top of it (loader, dbt, Great Expectations, scikit-learn).
Prints figures only; the machine should be otherwise idle (the load average is printed).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PLUGINS = ROOT / "plugins"

TIMER = """
import time
started = time.perf_counter()
{body}
print(time.perf_counter() - started)
"""
PARSE = """
import time
from airflow.dag_processing.dagbag import DagBag
started = time.perf_counter()
bag = DagBag(dag_folder={path!r})
elapsed = time.perf_counter() - started
assert not bag.import_errors, bag.import_errors
print(elapsed)
"""
AFTER_SDK = """
import airflow.sdk
import time
started = time.perf_counter()
{body}
print(time.perf_counter() - started)
"""
IMPORTS = {
    "load task: grassroots.loading.ingest (loader, Arrow)": "import grassroots.loading.ingest",
    "dbt task: dbt.cli.main": "import dbt.cli.main, grassroots.warehouse.dbt_runner",
    "validate task: Great Expectations": "import great_expectations, grassroots.quality.checks",
    "scoring task: scikit-learn": "import sklearn.cluster, grassroots.scoring",
}


def _seconds(code: str, env: dict[str, str]) -> float:
    out = subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True)
    return float(out.stdout.strip().splitlines()[-1])


def _median(code: str, env: dict[str, str], repeat: int) -> tuple[float, list[float]]:
    runs = [_seconds(code, env) for _ in range(repeat)]
    return statistics.median(runs), runs


def _line(label: str, median: float, runs: list[float]) -> None:
    print(f"  {label:<64} {median:7.2f} s   ({', '.join(f'{r:.2f}' for r in runs)})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in (str(PLUGINS), os.environ.get("PYTHONPATH", "")) if p),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW_HOME": os.environ.get("AIRFLOW_HOME", tempfile.mkdtemp(prefix="grassroots-bench-airflow-")),
    }
    print(f"task start-up, median of {args.repeat} fresh processes (load average {os.getloadavg()[0]:.2f})")
    print("imports:")
    median, runs = _median(TIMER.format(body="import airflow.sdk"), env, args.repeat)
    _line("airflow.sdk (every task)", median, runs)
    for label, code in IMPORTS.items():
        median, runs = _median(AFTER_SDK.format(body=code), env, args.repeat)
        _line(f"{label}, after it", median, runs)
    print("DAG parse (per file, after Airflow's import):")
    for path in sorted((ROOT / "dags").glob("*.py")):
        median, runs = _median(PARSE.format(path=str(path)), env, args.repeat)
        _line(path.name, median, runs)
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
