"""docker-compose.yml is a valid Compose file for the whole stack, and no secret is written into it.

grassroots' own secrets (person-key HMAC secret, warehouse DSN and password, BI password) are
files under ./secrets/, mounted with Compose `secrets:` into the task-running services only;
Airflow's own secrets, which every Airflow process needs, come from `.env`.

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
    "airflow-worker": ["python", "-m", "grassroots.orchestration.task_host", "celery", "worker"],
}
PROJECT_FOLDERS = ("dags", "plugins", "dbt", "expectations")
SECRET_KEY = re.compile(r"PASSWORD|SECRET|FERNET")
# the services that run task code, and the secret each *_FILE variable there names
TASK_SERVICES = ("airflow-worker", "airflow-cli")
TASK_SECRETS = {
    "GRASSROOTS_HMAC_SECRET_FILE": "grassroots_hmac_secret",
    "GRASSROOTS_BI_PASSWORD_FILE": "grassroots_bi_password",
    "WAREHOUSE_DSN_FILE": "warehouse_dsn",
}
# secret → the file under ./secrets/ that docker/init-env.sh writes
SECRET_FILES = {
    "grassroots_hmac_secret": "hmac_secret",
    "grassroots_bi_password": "bi_password",
    "warehouse_dsn": "warehouse_dsn",
    "warehouse_password": "warehouse_password",
}
# what an old .env held before ./secrets/ existed: compose must no longer read any of it
OLD_SECRET_VARIABLES = ("GRASSROOTS_HMAC_SECRET", "GRASSROOTS_BI_PASSWORD", "WAREHOUSE_PASSWORD")
GUARD = ROOT / "docker" / "require-secrets.sh"
GUARD_IN_CONTAINER = "/opt/grassroots/docker/require-secrets.sh"


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
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True, check=False).returncode == 0:
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


def run_config(env_file: Path, compose_file: Path = COMPOSE_FILE) -> subprocess.CompletedProcess[str]:
    """`config` of docker-compose.yml with only env_file's variables (plus PATH and HOME)."""
    client = compose_client()
    fmt = ["--format", "json"] if client[-1] == "compose" else []
    env = {key: os.environ[key] for key in ("PATH", "HOME", "DOCKER_CONFIG") if key in os.environ}
    return subprocess.run(
        [*client, "--env-file", str(env_file), "-f", str(compose_file), "config", *fmt],
        capture_output=True,
        check=False,
        text=True,
        cwd=compose_file.parent,
        env=env,
        timeout=120,
    )


def parse_config(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert result.returncode == 0, f"compose config failed:\n{result.stderr}"
    return json.loads(result.stdout) if result.stdout.lstrip().startswith("{") else yaml.safe_load(result.stdout)


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
    return parse_config(run_config(env_file))


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


def secrets(svc: dict[str, Any]) -> dict[str, str]:
    """Secret name → its path in the container (Compose's default target is /run/secrets/<name>)."""
    result = {}
    for item in svc.get("secrets") or []:
        source = item if isinstance(item, str) else item["source"]
        target = "" if isinstance(item, str) else str(item.get("target") or "")
        result[source] = target if target.startswith("/") else f"/run/secrets/{target or source}"
    return result


def secret_file(config: dict[str, Any], name: str) -> Path:
    """The host file a top-level secret is read from."""
    definition = (config.get("secrets") or {}).get(name)
    assert definition and definition.get("file"), f"secret {name!r} is not a file in docker-compose.yml"
    return Path(definition["file"])


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
    for entry in svc.get("ports") or []:
        port = entry
        if isinstance(entry, str):  # docker-compose 1.x: "[host_ip:]published:target[/proto]"
            *host, published, target = entry.split("/")[0].split(":")
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
    assert "POSTGRES_PASSWORD" not in wenv, "the warehouse password is in warehouse-db's environment"
    assert wenv["POSTGRES_PASSWORD_FILE"] == secrets(warehouse)["warehouse_password"]
    assert secret_file(config, "warehouse_password") == ROOT / "secrets" / "warehouse_password"
    for name in TASK_SERVICES:
        svc = service(config, name)
        assert environment(svc)["WAREHOUSE_DSN_FILE"] == secrets(svc)["warehouse_dsn"], name
    assert secret_file(config, "warehouse_dsn") == ROOT / "secrets" / "warehouse_dsn"
    # what the DSN file holds (host, port, login, password) is checked where init-env.sh writes it
    for name in AIRFLOW_SERVICES:
        metadata_conn = environment(service(config, name))["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
        metadata_conn = metadata_conn.replace("postgresql+psycopg2", "postgresql", 1)
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
    assert {"AIRFLOW_DB_PASSWORD", "AIRFLOW_FERNET_KEY", "AIRFLOW_JWT_SECRET"} <= set(sentinels)
    secret_values = set(sentinels.values())
    checked = 0
    for name, svc in config["services"].items():
        for key, value in environment(svc).items():
            if SECRET_KEY.search(key) and key.endswith("_FILE"):
                assert value in secrets(svc).values(), f"{name}: {key} names {value}, not a secret mounted there"
            elif SECRET_KEY.search(key):
                assert value in secret_values, f"{name}: {key} is written in docker-compose.yml, not taken from .env"
                checked += 1
            if "://" in value:
                password = conninfo_to_dict(re.sub(r"^[\w+]+://", "postgresql://", value)).get("password")
                assert not password or password in secret_values, f"{name}: {key} has a password written in the file"
    assert checked >= len(AIRFLOW_SERVICES) * 3
    feed_api = service(config, "feed-api")
    assert not secrets(feed_api) and not any(SECRET_KEY.search(key) for key in environment(feed_api)), (
        "feed-api needs no secrets"
    )


def test_grassroots_secrets_are_in_no_environment(tmp_path: Path, sentinels: dict[str, str]) -> None:
    """Neither the HMAC secret, the BI password nor the warehouse DSN/password is in any service's
    environment: not even a stale .env that still holds them gets them interpolated anywhere."""
    stale = {name: f"stale{name.lower().replace('_', '')}{uuid.uuid4().hex[:8]}" for name in OLD_SECRET_VARIABLES}
    result = run_config(write_env(tmp_path / "stale.env", {**sentinels, **stale}))
    parsed = parse_config(result)
    for name, value in stale.items():
        assert value not in result.stdout, f"docker-compose.yml still reads {name} from .env"
    for name, svc in parsed["services"].items():
        env = environment(svc)
        for key in (*OLD_SECRET_VARIABLES, "WAREHOUSE_DSN"):
            assert not any(k == key or k.startswith(f"{key}_") and k != f"{key}_FILE" for k in env), (
                f"{name}: {key} is in the environment"
            )
        for key, value in env.items():
            if "warehouse-db" in value:
                assert "@" not in value, f"{name}: {key} carries warehouse credentials"


def test_only_the_task_running_services_have_the_secrets(config: dict[str, Any]) -> None:
    mounted = {name: secrets(svc) for name, svc in config["services"].items()}
    for name, secret_paths in mounted.items():
        if name in TASK_SERVICES:
            assert set(secret_paths) == set(TASK_SECRETS.values()), f"{name}: {sorted(secret_paths)}"
            env = environment(config["services"][name])
            for variable, secret in TASK_SECRETS.items():
                assert env[variable] == secret_paths[secret], f"{name}: {variable} is not where {secret} is mounted"
        elif name == "warehouse-db":
            assert set(secret_paths) == {"warehouse_password"}, f"{name}: {sorted(secret_paths)}"
        else:
            assert not secret_paths, f"{name} runs no task code but has the secrets {sorted(secret_paths)}"
            assert not set(environment(config["services"][name])) & set(TASK_SECRETS), name
    for secret, file in SECRET_FILES.items():
        assert secret_file(config, secret) == ROOT / "secrets" / file


def test_task_services_start_through_the_secret_guard(config: dict[str, Any]) -> None:
    for name in TASK_SERVICES:
        svc = service(config, name)
        entrypoint = svc.get("entrypoint") or []
        entrypoint = shlex.split(entrypoint) if isinstance(entrypoint, str) else list(entrypoint)
        # dumb-init and /entrypoint are what the Airflow image's own ENTRYPOINT runs
        assert entrypoint == ["/usr/bin/dumb-init", "--", "sh", GUARD_IN_CONTAINER, "/entrypoint"], name
        assert Path(mounts(svc)[str(Path(GUARD_IN_CONTAINER).parent)]) == GUARD.parent, name
    assert command(service(config, "airflow-worker")) == COMMANDS["airflow-worker"]


def _run_guard(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", str(GUARD), "sh", "-c", "echo started"],
        capture_output=True,
        check=False,
        text=True,
        env={"PATH": os.environ["PATH"], **env},
        timeout=30,
    )


def _secret_dir(tmp_path: Path) -> dict[str, str]:
    env = {}
    for variable in TASK_SECRETS:
        path = tmp_path / variable.lower()
        path.write_text(f"value of {variable} {uuid.uuid4().hex}\n", encoding="utf-8")
        env[variable] = str(path)
    return env


def test_secret_guard_starts_the_service_when_every_file_is_there(tmp_path: Path) -> None:
    result = _run_guard(_secret_dir(tmp_path))
    assert result.returncode == 0 and result.stdout.strip() == "started", result.stderr


@pytest.mark.parametrize("variable", sorted(TASK_SECRETS))
@pytest.mark.parametrize("fault", ["missing", "empty", "directory", "unset"])
def test_secret_guard_refuses_to_start_without_a_secret_file(tmp_path: Path, variable: str, fault: str) -> None:
    """A missing host file becomes an error or an empty directory at /run/secrets/: both stop the service."""
    env = _secret_dir(tmp_path)
    path = Path(env[variable])
    contents = {key: Path(value).read_text(encoding="utf-8").strip() for key, value in env.items()}
    path.unlink()
    if fault == "empty":
        path.write_text("", encoding="utf-8")
    elif fault == "directory":
        path.mkdir()
    elif fault == "unset":
        del env[variable]
    result = _run_guard(env)
    assert result.returncode != 0 and "started" not in result.stdout, f"started without {variable} ({fault})"
    assert variable in result.stderr and "init-env.sh" in result.stderr
    assert not any(value in result.stderr for value in contents.values()), "the guard printed a secret"


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


def _init_env_copy(tmp_path: Path) -> Path:
    """A copy of what docker/init-env.sh needs (and the compose file), where it can write."""
    (tmp_path / "docker").mkdir()
    shutil.copy(ROOT / "docker" / "init-env.sh", tmp_path / "docker" / "init-env.sh")
    shutil.copy(ENV_EXAMPLE, tmp_path / ".env.example")
    shutil.copy(COMPOSE_FILE, tmp_path / "docker-compose.yml")
    return tmp_path


def _env_values(env_file: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in env_file.read_text().splitlines() if re.match(r"\w+=", line))


def test_init_env_script_writes_a_working_private_env(tmp_path: Path) -> None:
    root = _init_env_copy(tmp_path)
    subprocess.run(["sh", str(root / "docker" / "init-env.sh")], check=True, capture_output=True)
    env_file = root / ".env"
    written = {env_file: env_file.read_text()}
    for path in [env_file, *(root / "secrets" / file for file in SECRET_FILES.values())]:
        assert path.stat().st_mode & 0o077 == 0, f"{path.name} is readable by others"
        written[path] = path.read_text()
    assert (root / "secrets" / ".gitignore").read_text().strip() == "*", "git could commit secrets/"
    values = _env_values(env_file)
    assert not set(values) & set(OLD_SECRET_VARIABLES), "grassroots secrets written into .env"
    files = {file: (root / "secrets" / file).read_text().strip() for file in SECRET_FILES.values()}
    random_values = [values[name] for name in required_variables()]
    random_values += [files[name] for name in ("hmac_secret", "bi_password", "warehouse_password")]
    assert all(len(value) >= 32 for value in random_values) and len(set(random_values)) == len(random_values)
    config = parse_config(run_config(env_file, root / "docker-compose.yml"))
    for secret, file in SECRET_FILES.items():
        assert secret_file(config, secret) == root / "secrets" / file, "compose does not read what init-env wrote"
    # the DSN the tasks get reaches the warehouse-db service with the login and password it is created with
    wenv = environment(service(config, "warehouse-db"))
    dsn = conninfo_to_dict(files["warehouse_dsn"])
    assert dsn["host"] == "warehouse-db" and str(dsn.get("port", "5432")) == "5432"
    assert (dsn["dbname"], dsn["user"], dsn["password"]) == (
        wenv["POSTGRES_DB"],
        wenv["POSTGRES_USER"],
        files["warehouse_password"],
    ), "the warehouse DSN does not match the warehouse-db credentials"
    again = subprocess.run(["sh", str(root / "docker" / "init-env.sh")], capture_output=True, check=False)
    assert again.returncode != 0, "a second run must say there is nothing to do"
    assert all(path.read_text() == text for path, text in written.items()), "a second run replaced a secret"


def test_init_env_script_moves_an_old_env_files_secrets_into_files(tmp_path: Path) -> None:
    """A .env from before ./secrets/ keeps its HMAC secret and passwords: the person keys and the
    existing warehouse volume go on working."""
    root = _init_env_copy(tmp_path)
    old = {name: f"old{name.lower().replace('_', '')}{uuid.uuid4().hex}" for name in OLD_SECRET_VARIABLES}
    write_env(root / ".env", {"AIRFLOW_UID": "4242", **old})
    before = (root / ".env").read_text()
    subprocess.run(["sh", str(root / "docker" / "init-env.sh")], check=True, capture_output=True)
    assert (root / ".env").read_text() == before, "an existing .env was rewritten"
    read = {file: (root / "secrets" / file).read_text().strip() for file in SECRET_FILES.values()}
    assert read["hmac_secret"] == old["GRASSROOTS_HMAC_SECRET"]
    assert read["bi_password"] == old["GRASSROOTS_BI_PASSWORD"]
    assert read["warehouse_password"] == old["WAREHOUSE_PASSWORD"]
    assert conninfo_to_dict(read["warehouse_dsn"])["password"] == old["WAREHOUSE_PASSWORD"]


def test_image_is_the_airflow_version_requirements_pin() -> None:
    base = re.search(r"apache/airflow:([\d.]+)-python([\d.]+)", DOCKERFILE.read_text(encoding="utf-8"))
    pinned = re.search(r"^apache-airflow==([\d.]+)$", (ROOT / "requirements.txt").read_text(), re.MULTILINE)
    assert base and pinned and base.group(1) == pinned.group(1), "docker/Dockerfile and requirements.txt disagree"
    assert base.group(2) == "3.11"
