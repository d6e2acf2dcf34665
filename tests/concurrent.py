"""Run the same day through the real DAGs in several processes at once (as two schedulers or an
operator's manual run beside the scheduled one would), each with an Airflow home of its own."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = (
    "import datetime as dt, json, pathlib, sys\n"
    "from grassroots.local import project_env\nproject_env.configure()\n"
    "from grassroots.local import pipeline\n"
    "pipeline.migrate_metadata_db()\n"
    "states = pipeline.run_day(dt.date.fromisoformat(sys.argv[1]), pathlib.Path(sys.argv[2]),"
    " only=tuple(sys.argv[3].split(',')))\n"
    "print('RESULT ' + json.dumps(states), flush=True)\n"
)


def run_at_once(
    day: dt.date, dags: Path, work: Path, env: dict[str, str], only: tuple[str, ...], copies: int = 2
) -> list[dict[str, str]]:
    """Start `copies` processes running `day` through `only` at once; wait; return each one's DAG states.

    Each process logs to a file (a full pipe would block the run holding a lock) and must exit 0.
    """
    procs = []
    for n in range(copies):
        environment = {
            **os.environ,
            **env,
            "AIRFLOW_HOME": str(work / f"airflow-{n}"),
            "GRASSROOTS_STATE_DIR": str(work / f"state-{n}"),
        }
        environment.pop("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", None)
        log_path = work / f"concurrent-{n}.log"
        log = log_path.open("w")
        args = [sys.executable, "-c", SCRIPT, day.isoformat(), str(dags), ",".join(only)]
        procs.append((subprocess.Popen(args, env=environment, stdout=log, stderr=subprocess.STDOUT), log, log_path))
    outcomes = []
    for proc, log, log_path in procs:
        proc.wait(timeout=1800)
        log.close()
        lines = log_path.read_text(encoding="utf-8").strip().splitlines()
        assert proc.returncode == 0, lines[-20:]
        outcomes.append(dict(json.loads(next(x for x in reversed(lines) if x.startswith("RESULT "))[7:])))
    return outcomes
