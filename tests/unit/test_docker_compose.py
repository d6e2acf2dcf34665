"""docker-compose.yml is a valid Compose file for the whole stack, and no secret is written into it.

The file is checked by the Compose client itself (`docker compose config`, which needs no
Docker engine), fed a throw-away env file so a developer's own `.env` and shell never leak
in. Debian's `docker-compose` (1.29, from `apt-get install docker-compose`) is accepted
where Docker's compose plugin is missing; with neither, every test here fails and says so.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from psycopg.conninfo import conninfo_to_dict

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERFILE = ROOT / "docker" / "Dockerfile"

AIRFLOW_SERVICES = (
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
    "airflow-init",
)
COMMANDS = {
    "airflow-apiserver": ["api-server"],
    "airflow-scheduler": ["scheduler"],
    "airflow-dag-processor": ["dag-processor"],
    "airflow-triggerer": ["triggerer"],
    "airflow-worker": ["celery", "worker"],
}
PROJECT_FOLDERS = ("dags", "plugins", "dbt", "expectations")
SECRET_KEY = re.compile(r"PASSWORD|SECRET|FERNET")


def compose_source() -> str:
    """docker-compose.yml without its comment lines."""
    lines = COMPOSE_FILE.read_text(encoding="utf-8").splitlines()
    return "\n".join(line for line in lines if not line.lstrip().startswith("#"))


def required_variables() -> list[str]:
    """Variables the compose file refuses to run without (`${VAR:?message}`)."""
    return sorted(set(re.findall(r"(?<!\$)\$\{(\w+):\?", compose_source())))


def compose_client() -> list[str]:
    """`docker compose`, else Debian's `docker-compose`; fail, naming both, when neither works."""
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    if legacy:
        return [legacy]
    found = f"`docker` is {docker}, but it has no compose plugin" if docker else "`docker` is not on PATH"
    pytest.fail(
        f"no Docker Compose client to validate docker-compose.yml: {found}, and `docker-compose` is not on "
        "PATH either. Install Docker's compose plugin (docker-compose-plugin) or Debian's docker-compose "
        "(`apt-get install docker-compose`).",
        pytrace=False,
    )


def run_config(env_file: Path) -> subprocess.CompletedProcess[str]:
    """`config` of docker-compose.yml with only env_file's variables (plus PATH and HOME)."""
    client = compose_client()
    fmt = ["--format", "json"] if client[-1] == "compose" else []
    env = {key: os.environ[key] for key in ("PATH", "HOME", "DOCKER_CONFIG") if key in os.environ}
    return subprocess.run(
        [*client, "--env-file", str(env_file), "-f", str(COMPOSE_FILE), "config", *fmt],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )


def write_env(path: Path, values: dict[str, str]) -> Path:
    path.write_text("".join(f"{key}={value}\n" for key, value in values.items()), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def sentinels() -> dict[str, str]:
    """A unique, recognisable value for every required variable."""
    return {name: f"sentinel{name.lower().replace('_', '')}{uuid.uuid4().hex[:8]}" for name in required_variables()}


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory, sentinels: dict[str, str]) -> dict[str, Any]:
    """The resolved compose model, as the Compose client prints it."""
    env_file = write_env(tmp_path_factory.mktemp("compose") / "test.env", {**sentinels, "AIRFLOW_UID": "4242"})
    result = run_config(env_file)
    assert result.returncode == 0, f"compose config failed:\n{result.stderr}"
    return json.loads(result.stdout) if result.stdout.lstrip().startswith("{") else yaml.safe_load(result.stdout)


def service(config: dict[str, Any], name: str) -> dict[str, Any]:
    assert name in config["services"], f"no service {name!r} in docker-compose.yml"
    return config["services"][name]


def environment(svc: dict[str, Any]) -> dict[str, str]:
    env = svc.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def command(svc: dict[str, Any]) -> list[str]:
    value = svc.get("command") or []
    return shlex.split(value) if isinstance(value, str) else list(value)


def mounts(svc: dict[str, Any]) -> dict[str, str]:
    """Container path → host path (bind) or volume name, whichever syntax the client printed."""
    result = {}
    for volume in svc.get("volumes") or []:
        if isinstance(volume, str):
            source, target = volume.split(":")[:2]
        else:
            source, target = volume.get("source", ""), volume["target"]
        result[target] = source
    return result


def depends_on(svc: dict[str, Any]) -> dict[str, str]:
    deps = svc.get("depends_on") or {}
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {name: spec.get("condition", "service_started") for name, spec in deps.items()}


def test_compose_file_declares_the_whole_stack(config: dict[str, Any]) -> None:
    names = set(config["services"])
    expected = {*AIRFLOW_SERVICES, "redis", "metadata-db", "warehouse-db", "feed-api"}
    assert expected <= names, f"missing services: {sorted(expected - names)}"
    for name, argv in COMMANDS.items():
        assert command(service(config, name)) == argv, name
    for name in ("redis", "metadata-db", "warehouse-db", "feed-api", *COMMANDS):
        assert service(config, name).get("healthcheck", {}).get("test"), f"{name} has no healthcheck"


def test_every_airflow_process_uses_celery_through_redis(config: dict[str, Any]) -> None:
    for name in AIRFLOW_SERVICES:
        env = environment(service(config, name))
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        broker = conninfo_to_dict(env["AIRFLOW__CELERY__BROKER_URL"].replace("redis://", "postgresql://", 1))
        assert broker["host"] == "redis", f"{name}: broker is not the redis service"
        assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/", name
        assert env["AIRFLOW__CORE__LOAD_EXAMPLES"].lower() == "false", name
    assert "8080" in {str(port.get("target")) for port in _ports(service(config, "airflow-apiserver"))}


def _ports(svc: dict[str, Any]) -> list[dict[str, str]]:
    ports = []
    for port in svc.get("ports") or []:
        if isinstance(port, str):  # docker-compose 1.x: "[host_ip:]published:target[/proto]"
            *host, published, target = port.split("/")[0].split(":")
            port = {"host_ip": host[0] if host else "", "published": published, "target": target}
        ports.append({key: str(value) for key, value in port.items()})
    return ports


def test_project_folders_are_mounted_where_grassroots_looks(config: dict[str, Any]) -> None:
    for name in AIRFLOW_SERVICES:
        svc = service(config, name)
        env, mounted = environment(svc), mounts(svc)
        home = env["GRASSROOTS_HOME"]
        for folder in PROJECT_FOLDERS:
            target = f"{home}/{folder}"
            assert target in mounted, f"{name}: {folder}/ is not mounted at {target}"
            assert Path(mounted[target]) == ROOT / folder, f"{name}: {target} is not the repository's {folder}/"
        assert env["GRASSROOTS_DBT_DIR"] == f"{home}/dbt", name
        state = env["GRASSROOTS_STATE_DIR"]
        assert mounted.get(state), f"{name}: state folder {state} is not shared (landing files, dbt target)"
    pythonpath = re.search(r"PYTHONPATH=\"?([^$\s\":]+)", DOCKERFILE.read_text(encoding="utf-8"))
    assert pythonpath and pythonpath.group(1) == "/opt/airflow/plugins", "the image cannot import grassroots"


def test_warehouse_is_its_own_postgres_and_the_dsn_reaches_it(config: dict[str, Any]) -> None:
    warehouse, metadata = service(config, "warehouse-db"), service(config, "metadata-db")
    assert warehouse["image"].startswith("postgres:") and metadata["image"].startswith("postgres:")
    data = "/var/lib/postgresql/data"
    assert mounts(warehouse)[data] != mounts(metadata)[data], "warehouse and metadata share a data volume"
    wenv = environment(warehouse)
    for name in AIRFLOW_SERVICES:
        env = environment(service(config, name))
        dsn = conninfo_to_dict(env["WAREHOUSE_DSN"])
        assert dsn["host"] == "warehouse-db", f"{name}: WAREHOUSE_DSN does not point at the warehouse-db service"
        assert str(dsn.get("port", "5432")) == "5432", name
        assert (dsn["dbname"], dsn["user"], dsn["password"]) == (
            wenv["POSTGRES_DB"],
            wenv["POSTGRES_USER"],
            wenv["POSTGRES_PASSWORD"],
        ), f"{name}: WAREHOUSE_DSN does not match the warehouse-db credentials"
        metadata_conn = env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].replace("postgresql+psycopg2", "postgresql", 1)
        assert conninfo_to_dict(metadata_conn)["host"] == "metadata-db", name
    published = _ports(warehouse)
    assert published and all(port.get("host_ip") == "127.0.0.1" for port in published), "warehouse open beyond loopback"


def test_services_start_in_order(config: dict[str, Any]) -> None:
    for name in COMMANDS:
        deps = depends_on(service(config, name))
        assert deps.get("airflow-init") == "service_completed_successfully", f"{name} may start before migrations"
        assert deps.get("metadata-db") == "service_healthy", name
    worker = depends_on(service(config, "airflow-worker"))
    assert worker.get("warehouse-db") == "service_healthy"
    assert worker.get("feed-api") == "service_healthy"
    assert environment(service(config, "airflow-init")).get("_AIRFLOW_DB_MIGRATE") == "true"


def test_every_secret_comes_from_the_env_file(config: dict[str, Any], sentinels: dict[str, str]) -> None:
    assert {"GRASSROOTS_HMAC_SECRET", "WAREHOUSE_PASSWORD", "AIRFLOW_JWT_SECRET"} <= set(sentinels)
    secret_values = set(sentinels.values())
    checked = 0
    for name, svc in config["services"].items():
        for key, value in environment(svc).items():
            if SECRET_KEY.search(key):
                assert value in secret_values, f"{name}: {key} is written in docker-compose.yml, not taken from .env"
                checked += 1
            if "://" in value:
                password = conninfo_to_dict(re.sub(r"^[\w+]+://", "postgresql://", value)).get("password")
                assert not password or password in secret_values, f"{name}: {key} has a password written in the file"
    assert checked >= len(AIRFLOW_SERVICES) * 3
    worker = environment(service(config, "airflow-worker"))
    assert worker["GRASSROOTS_HMAC_SECRET"] == sentinels["GRASSROOTS_HMAC_SECRET"]
    assert environment(service(config, "feed-api")).keys().isdisjoint({"GRASSROOTS_HMAC_SECRET", "WAREHOUSE_DSN"}), (
        "feed-api needs no secrets"
    )


@pytest.mark.parametrize("missing", required_variables())
def test_compose_refuses_to_run_without_each_secret(tmp_path: Path, sentinels: dict[str, str], missing: str) -> None:
    env_file = write_env(tmp_path / "partial.env", {k: v for k, v in sentinels.items() if k != missing})
    result = run_config(env_file)
    assert result.returncode != 0, f"compose has a default for {missing}"
    assert missing in result.stderr, result.stderr


def test_env_example_documents_every_variable_without_secrets() -> None:
    example = dict(
        line.split("=", 1) for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines() if re.match(r"\w+=", line)
    )
    used = set(re.findall(r"(?<!\$)\$\{(\w+)", compose_source()))  # `$${X}` is the container's
    assert used <= set(example), f"not in .env.example: {sorted(used - set(example))}"
    for name in required_variables():
        assert example[name] == "", f".env.example carries a value for the secret {name}"


def test_init_env_script_writes_a_working_private_env(tmp_path: Path) -> None:
    (tmp_path / "docker").mkdir()
    shutil.copy(ROOT / "docker" / "init-env.sh", tmp_path / "docker" / "init-env.sh")
    shutil.copy(ENV_EXAMPLE, tmp_path / ".env.example")
    subprocess.run(["sh", str(tmp_path / "docker" / "init-env.sh")], check=True, capture_output=True)
    env_file = tmp_path / ".env"
    assert env_file.stat().st_mode & 0o077 == 0, ".env is readable by others"
    values = dict(line.split("=", 1) for line in env_file.read_text().splitlines() if re.match(r"\w+=", line))
    secrets = [values[name] for name in required_variables()]
    assert all(len(value) >= 32 for value in secrets) and len(set(secrets)) == len(secrets)
    result = run_config(env_file)
    assert result.returncode == 0, result.stderr
    written = env_file.read_text()
    again = subprocess.run(["sh", str(tmp_path / "docker" / "init-env.sh")], capture_output=True)
    assert again.returncode != 0 and env_file.read_text() == written, "a second run must not replace the secrets"


def test_image_is_the_airflow_version_requirements_pin() -> None:
    base = re.search(r"apache/airflow:([\d.]+)-python([\d.]+)", DOCKERFILE.read_text(encoding="utf-8"))
    pinned = re.search(r"^apache-airflow==([\d.]+)$", (ROOT / "requirements.txt").read_text(), re.MULTILINE)
    assert base and pinned and base.group(1) == pinned.group(1), "docker/Dockerfile and requirements.txt disagree"
    assert base.group(2) == "3.11"
