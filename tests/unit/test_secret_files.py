"""Secrets read from files (Compose secrets): the variable first, then the file, never a silent fallback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from grassroots import settings
from grassroots.warehouse import db

DSN = "postgresql://grassroots:filepassword@warehouse-db:5432/grassroots"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("WAREHOUSE_DSN", "WAREHOUSE_DSN_FILE", "GRASSROOTS_BI_PASSWORD", "GRASSROOTS_BI_PASSWORD_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(db.embedded, "start", _no_embedded_server)


def _no_embedded_server(*args: object, **kwargs: object) -> str:
    raise AssertionError("the embedded PostgreSQL was started although a DSN was configured")


def test_warehouse_dsn_is_read_from_the_file_and_not_exported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "warehouse_dsn"
    secret.write_text(f"{DSN}\n", encoding="utf-8")
    monkeypatch.setenv("WAREHOUSE_DSN_FILE", str(secret))
    assert db.warehouse_dsn() == DSN
    assert "password=filepassword" in db.role_dsn("loader")
    assert "WAREHOUSE_DSN" not in os.environ, "the DSN from the file was put into the environment"


def test_warehouse_dsn_variable_wins_over_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "warehouse_dsn"
    secret.write_text(DSN, encoding="utf-8")
    monkeypatch.setenv("WAREHOUSE_DSN_FILE", str(secret))
    monkeypatch.setenv("WAREHOUSE_DSN", "postgresql://other@elsewhere/grassroots")
    assert db.warehouse_dsn() == "postgresql://other@elsewhere/grassroots"


@pytest.mark.parametrize("fault", ["missing", "empty", "directory"])
def test_a_named_dsn_file_that_is_not_there_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fault: str
) -> None:
    """Never fall back to an embedded server inside a worker whose secret did not arrive."""
    secret = tmp_path / "warehouse_dsn"
    if fault == "empty":
        secret.write_text("\n", encoding="utf-8")
    elif fault == "directory":
        secret.mkdir()
    monkeypatch.setenv("WAREHOUSE_DSN_FILE", str(secret))
    with pytest.raises(RuntimeError, match="WAREHOUSE_DSN_FILE") as error:
        db.warehouse_dsn()
    assert str(secret) in str(error.value)


def test_bi_password_from_the_file_after_the_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert settings.bi_password() is None
    secret = tmp_path / "bi_password"
    secret.write_text("frompasswordfile\n", encoding="utf-8")
    monkeypatch.setenv("GRASSROOTS_BI_PASSWORD_FILE", str(secret))
    assert settings.bi_password() == "frompasswordfile"
    monkeypatch.setenv("GRASSROOTS_BI_PASSWORD", "fromvariable")
    assert settings.bi_password() == "fromvariable"
    monkeypatch.delenv("GRASSROOTS_BI_PASSWORD")
    secret.unlink()
    with pytest.raises(RuntimeError, match="GRASSROOTS_BI_PASSWORD_FILE"):
        settings.bi_password()


def test_hmac_secret_file_that_is_missing_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GRASSROOTS_HMAC_SECRET", raising=False)
    secret = tmp_path / "hmac_secret"
    secret.write_text("filesecret\n", encoding="utf-8")
    monkeypatch.setenv("GRASSROOTS_HMAC_SECRET_FILE", str(secret))
    assert settings.hmac_secret() == b"filesecret"
    secret.unlink()
    with pytest.raises(RuntimeError, match="GRASSROOTS_HMAC_SECRET_FILE") as error:
        settings.hmac_secret()
    assert "filesecret" not in str(error.value)
