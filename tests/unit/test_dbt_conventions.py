"""The dbt project keeps dbt-project-evaluator's conventions: dbt-bouncer (dbt/dbt-bouncer.yml) over a
fresh `dbt parse` finds nothing, and finds what a model breaking them would do."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from grassroots import settings
from grassroots.warehouse import dbt_runner

DAY = dt.date(2026, 11, 24)
CONFIG = settings.dbt_project_dir() / "dbt-bouncer.yml"


@pytest.fixture(scope="module")
def manifest() -> dict:
    """The project's manifest as `dbt parse` writes it (no database needed)."""
    result = dbt_runner.invoke("parse", DAY, dsn="host=localhost dbname=unused")
    assert result.success, result.exception
    return json.loads(dbt_runner.manifest_path().read_text())


def findings(manifest: dict, work: Path) -> set[tuple[str, str]]:
    """(check, resource) of every check dbt-bouncer fails on `manifest` with the project's config."""
    (work / "target").mkdir(exist_ok=True)
    (work / "target" / "manifest.json").write_text(json.dumps(manifest))
    config = yaml.safe_load(CONFIG.read_text())
    (work / "dbt-bouncer.yml").write_text(yaml.safe_dump({**config, "dbt_artifacts_dir": str(work / "target")}))
    # Beside this interpreter (the venv's bin), else on PATH.
    command = shutil.which("dbt-bouncer", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]))
    assert command, "dbt-bouncer is not installed (requirements.txt)"
    arguments = ["--config-file", str(work / "dbt-bouncer.yml"), "--output-file", str(work / "results.json")]
    done = subprocess.run(
        [command, "run", *arguments, "--output-only-failures"],
        check=False,  # the exit code is checked against the findings below
        cwd=work,
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        timeout=300,
    )
    assert (work / "results.json").exists(), done.stdout + done.stderr
    results = json.loads((work / "results.json").read_text())
    assert done.returncode == (1 if results else 0), done.stdout + done.stderr
    # check_run_id is <check>:<index>[:<resource>] (project-wide checks name no resource)
    return {(r["check_run_id"].split(":")[0], r["check_run_id"].split(":")[-1]) for r in results}


def test_the_project_keeps_every_convention(manifest: dict, tmp_path: Path) -> None:
    assert findings(manifest, tmp_path) == set()


def test_a_model_breaking_the_conventions_is_found(manifest: dict, tmp_path: Path) -> None:
    """Plant what the conventions forbid in a copy of the manifest: each is reported."""
    nodes = manifest["nodes"]
    kpi = nodes["model.grassroots.kpi_incident_handling_daily"]
    kpi["depends_on"]["nodes"].append("seed.grassroots.geography")  # a KPI reading the seed
    intermediate = nodes["model.grassroots.int_grid_incidents_lifecycled"]
    intermediate["depends_on"]["nodes"].append("source.grassroots.grid_incidents.grid_incidents")
    staging = nodes["model.grassroots.stg_grid_incidents__incidents"]
    staging["depends_on"]["nodes"].append("model.grassroots.stg_meta__load_batches")  # joins the ledger back
    named = nodes["model.grassroots.kpi_satisfaction_daily"]
    named["name"] = "satisfaction_daily"  # no kpi_ prefix in marts/kpi
    named["description"] = ""
    for test in nodes.values():  # dim_areas without its primary-key test
        if test["resource_type"] == "test" and "model.grassroots.dim_areas" == test.get("attached_node"):
            test["test_metadata"]["name"] = "not_null_columns"
    manifest["exposures"]["exposure.grassroots.risk_scoring"]["depends_on"]["nodes"].append(
        "model.grassroots.int_registry_daily"
    )
    assert {
        ("check_lineage_seed_cannot_be_used", "kpi_incident_handling_daily"),
        ("check_lineage_source_cannot_be_used", "int_grid_incidents_lifecycled"),
        ("check_lineage_permitted_upstream_models", "stg_grid_incidents__incidents"),
        ("check_model_names", "kpi_satisfaction_daily"),
        ("check_model_description_populated", "kpi_satisfaction_daily"),
        ("check_model_has_unique_test", "dim_areas"),
        ("check_exposure_based_on_non_public_models", "risk_scoring"),
    } <= findings(manifest, tmp_path)
