"""Project-local environment for Airflow, dbt and GX: set before Airflow is imported."""

from __future__ import annotations

import os
from pathlib import Path

from grassroots import settings


def airflow_home() -> Path:
    """AIRFLOW_HOME inside the project's state folder unless one is set."""
    return Path(os.environ.get("AIRFLOW_HOME", settings.state_dir() / "airflow"))


def configure() -> dict[str, str]:
    """Set (without overriding) the variables a local run needs; return what was set."""
    home = airflow_home()
    home.mkdir(parents=True, exist_ok=True)
    root = settings.project_root()
    values = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(root / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(root / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "GX_ANALYTICS_ENABLED": "false",
        "NO_COLOR": "1",
    }
    applied = {}
    for key, value in values.items():
        if key not in os.environ:
            os.environ[key] = value
            applied[key] = value
    if not os.environ.get("GRASSROOTS_HMAC_SECRET") and not os.environ.get("GRASSROOTS_HMAC_SECRET_FILE"):
        os.environ["GRASSROOTS_HMAC_SECRET_FILE"] = str(settings.ensure_local_secret())
        applied["GRASSROOTS_HMAC_SECRET_FILE"] = os.environ["GRASSROOTS_HMAC_SECRET_FILE"]
    return applied
