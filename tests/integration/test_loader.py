"""The loader against real PostgreSQL: every planted defect ends up where it should, nothing is lost."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from pathlib import Path

import psycopg
import psycopg.rows
import pytest

from grassroots.loading.contracts import Column, get_contract
from grassroots.loading.identity import check_digit, person_key
from grassroots.loading.loader import load_day
from grassroots.warehouse.bootstrap import bootstrap

DAY = dt.date(2026, 11, 24)
SECRET = b"loader-test-secret"
HEADER = "公民身份号码,姓名,性别,出生日期,联系电话,住址,社区编码,网格编码,户号,人口类型,关注等级,独居"


def make_id(birth: str, order: int) -> str:
    """A synthetic 18-digit ID number with a valid check digit."""
    first17 = f"330106{birth}{order:03d}"
    return first17 + check_digit(first17)


def population_line(id_number: str, birth: str = "1950-03-04", community: str = "330106001001") -> str:
    return f"{id_number},王芳,女,{birth},13800001111,某路1号,{community},{community}01,H1,户籍,1,是"


def write(path: Path, lines: list[str], encoding: str = "gb18030", final_newline: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "\n".join(lines) + ("\n" if final_newline else "")
    path.write_bytes(text.encode(encoding))
    return path


@pytest.fixture
def dsn(warehouse_dsn: str) -> str:
    bootstrap(warehouse_dsn)
    return warehouse_dsn


def load(dsn: str, feed: str, files: list[Path], **kwargs: object):
    return load_day(dsn, get_contract(feed), DAY, files, SECRET, **kwargs)


def quarantined_rows(dsn: str) -> list[tuple]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(
            "select file_name, line_no, column_name, rule from quarantine.rows order by 1, 2"
        ).fetchall()


def staged(dsn: str, feed: str = "population_registry") -> list[dict]:
    with psycopg.connect(dsn, row_factory=psycopg.rows.dict_row) as conn:
        return conn.execute(
            psycopg.sql.SQL(
                "select s.* from staging.{} s join meta.load_batch b on b.batch_id = s._batch_id "
                "order by b.file_name, s._row_no"
            ).format(psycopg.sql.Identifier(feed))
        ).fetchall()


def test_id_number_defects_are_normalised_or_quarantined_with_rule_and_line(dsn: str, tmp_path: Path) -> None:
    clean = make_id("19500304", 12)
    x_id = next(make_id("19500304", n) for n in range(100) if make_id("19500304", n).endswith("X"))
    legacy_source = make_id("19450102", 31)
    legacy = legacy_source[:6] + legacy_source[8:17]
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in make_id("19600708", 44))
    bad_check = clean[:17] + str((int(clean[17]) + 1) % 10 if clean[17] != "X" else 0)
    lines = [
        HEADER,
        population_line(clean),
        population_line(x_id.lower()),
        population_line(legacy, birth="1945/1/2"),
        population_line(full_width, birth="19600708"),
        population_line(bad_check),
        population_line(make_id("19700809", 5), birth="1970年8月9日"),
        population_line(make_id("19800910", 6), birth="09/10/1980"),
    ]
    path = write(tmp_path / "population_registry_20261124.csv", lines)

    result = load(dsn, "population_registry", [path])

    assert (result.rows_received, result.rows_loaded, result.rows_quarantined) == (7, 5, 2)
    assert quarantined_rows(dsn) == [
        (path.name, 6, "id_number", "id_check_digit"),
        (path.name, 8, "birth_date", "date_format"),
    ]
    rows = staged(dsn)
    ids = [row["id_number"] for row in rows]
    assert ids == [clean, x_id, legacy_source, make_id("19600708", 44), make_id("19700809", 5)]
    assert rows[2]["birth_date"] == dt.date(1945, 1, 2) and rows[4]["birth_date"] == dt.date(1970, 8, 9)
    assert [row["person_key"] for row in rows] == [person_key(SECRET, i) for i in ids]
    assert [row["_row_no"] for row in rows] == [2, 3, 4, 5, 7]  # the file's line number


def test_renamed_column_alias_loads_and_unknown_header_quarantines_the_file(dsn: str, tmp_path: Path) -> None:
    aliased = write(
        tmp_path / "a" / "population_registry_a.csv",
        [HEADER.replace("公民身份号码", "身份证号"), population_line(make_id("19500304", 1))],
    )
    drifted = write(
        tmp_path / "b" / "population_registry_b.csv",
        [HEADER.replace("关注等级", "关注级别"), population_line(make_id("19500304", 2))],
    )
    result = load(dsn, "population_registry", [aliased, drifted])

    by_file = {f.file_name: f for f in result.files}
    assert by_file[aliased.name].status == "loaded" and by_file[aliased.name].rows_loaded == 1
    assert by_file[drifted.name].status == "rejected" and by_file[drifted.name].rule == "unknown_column"
    assert by_file[drifted.name].rows_quarantined == 1
    with psycopg.connect(dsn) as conn:
        files = conn.execute("select file_name, line_no, rule, detail from quarantine.files").fetchall()
    # The header's text is not repeated (in a file without its header line it is a resident's data);
    # the position and the contract columns the header lacks are.
    detail = "header 11 is not in the contract (contract columns not in the header: attention_level, extract_date)"
    assert files == [(drifted.name, 1, "unknown_column", detail)]
    with psycopg.connect(dsn) as conn:
        present = dict(conn.execute("select file_name, columns_present from meta.load_batch").fetchall())
    contract = get_contract("population_registry").column_names
    assert present == {aliased.name: contract[:-1], drifted.name: [c for c in contract if c != "attention_level"][:-1]}


def test_whole_file_defects_are_quarantined_and_counted(dsn: str, tmp_path: Path) -> None:
    good = [HEADER, population_line(make_id("19500304", 1)), population_line(make_id("19500304", 2))]
    truncated = write(
        tmp_path / "t" / "p_truncated.csv", [*good, population_line(make_id("19500304", 3))[:30]], final_newline=False
    )
    utf8_declared_gbk = tmp_path / "g" / "incidents_gbk.csv"
    write(
        utf8_declared_gbk,
        [
            "事件编号,来源,类别,社区编码,上报时间",
            "GI1,grid_patrol,垃圾堆积,330106001001,2026-11-24 08:00:00",
            "GI2,ai_camera,井盖缺失,330106001001,2026-11-24 09:00:00",
        ],
        encoding="gb18030",
    )
    empty = tmp_path / "e" / "p_empty.csv"
    empty.parent.mkdir()
    empty.write_bytes(b"")

    population = load(dsn, "population_registry", [truncated, empty])
    incidents = load(dsn, "grid_incidents", [utf8_declared_gbk])

    rules = {f.file_name: (f.status, f.rule, f.rows_received, f.rows_quarantined) for f in population.files}
    assert rules[truncated.name] == ("rejected", "truncated_file", 3, 3)
    assert rules[empty.name] == ("rejected", "empty_file", 0, 0)
    assert incidents.files[0].rule == "encoding" and incidents.rows_received == incidents.rows_quarantined == 2
    with psycopg.connect(dsn) as conn:
        lines = dict(conn.execute("select rule, line_no from quarantine.files").fetchall())
        staged_rows = conn.execute("select count(*) from staging.population_registry").fetchone()[0]
        ledger = conn.execute("select rows_received, rows_loaded, rows_quarantined from meta.load_batch").fetchall()
    assert lines == {"truncated_file": 4, "empty_file": 0, "encoding": 1}
    assert staged_rows == 0, "a rejected file must leave no rows behind"
    assert all(received == loaded + quarantined for received, loaded, quarantined in ledger)


def test_duplicate_delivery_is_recorded_once_and_a_rerun_changes_nothing(dsn: str, tmp_path: Path) -> None:
    lines = [HEADER, population_line(make_id("19500304", 1)), population_line(make_id("19500304", 2))]
    original = write(tmp_path / "population_registry_20261124.csv", lines)
    copy = write(tmp_path / "population_registry_20261124 (1).csv", lines)
    later = original.stat().st_mtime + 60
    os.utime(copy, (later, later))  # delivered a minute after the original

    first = load(dsn, "population_registry", [original, copy])
    snapshot = staged(dsn)
    second = load(dsn, "population_registry", [original, copy])

    statuses = sorted((f.file_name, f.status, f.rule) for f in first.files)
    assert statuses == [(copy.name, "duplicate", "duplicate_delivery"), (original.name, "loaded", None)]
    assert first.rows_loaded == 2 and first.rows_quarantined == 2
    assert second.unchanged and staged(dsn) == snapshot
    with psycopg.connect(dsn) as conn:
        loaded = conn.execute("select count(*) from meta.load_batch where status = 'loaded'").fetchone()[0]
    assert loaded == 1


def test_a_new_delivery_for_the_day_replaces_the_day(dsn: str, tmp_path: Path) -> None:
    first = write(tmp_path / "v1" / "population_registry.csv", [HEADER, population_line(make_id("19500304", 1))])
    load(dsn, "population_registry", [first])
    second = write(
        tmp_path / "v2" / "population_registry.csv",
        [HEADER, population_line(make_id("19500304", 2)), population_line(make_id("19500304", 3))],
    )
    result = load(dsn, "population_registry", [second])

    assert not result.unchanged and result.rows_loaded == 2
    assert [row["id_number"] for row in staged(dsn)] == [make_id("19500304", 2), make_id("19500304", 3)]
    with psycopg.connect(dsn) as conn:
        statuses = conn.execute("select status from meta.load_batch order by batch_id").fetchall()
    assert statuses == [("superseded",), ("loaded",)]


def _big_population_file(path: Path, rows: int) -> Path:
    start = dt.date(1930, 1, 1)
    lines = [HEADER]
    for n in range(rows):
        birth = start + dt.timedelta(days=n // 500)
        lines.append(population_line(make_id(f"{birth:%Y%m%d}", n % 500), birth=birth.isoformat()))
    return write(path, lines)


def _data_columns(dsn: str) -> list[tuple]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(
            "select s.id_number, s.name, s.birth_date, s.person_key, b.file_name, s._row_no "
            "from staging.population_registry s join meta.load_batch b on b.batch_id = s._batch_id order by s._row_no"
        ).fetchall()


def test_a_loader_killed_mid_copy_leaves_nothing_and_the_rerun_equals_a_clean_run(
    dsn: str, server_dsn: str, tmp_path: Path
) -> None:
    import signal
    import subprocess
    import sys
    import time

    from grassroots.warehouse import db

    path = _big_population_file(tmp_path / "population_registry_20261124.csv", 150_000)
    script = (
        "import datetime as dt, sys; from pathlib import Path; from grassroots.loading.contracts import get_contract; "
        "from grassroots.loading.loader import load_day; "
        "load_day(sys.argv[1], get_contract('population_registry'), dt.date(2026, 11, 24), [Path(sys.argv[2])], b'k')"
    )
    child = subprocess.Popen([sys.executable, "-c", script, dsn, str(path)])
    dbname = psycopg.conninfo.conninfo_to_dict(dsn)["dbname"]
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            for _ in range(600):
                copying = conn.execute(
                    "select coalesce(max(tuples_processed), 0) from pg_stat_progress_copy p "
                    "join pg_database d on d.oid = p.datid where d.datname = %s",
                    (dbname,),
                ).fetchone()[0]
                if copying > 1000 or child.poll() is not None:
                    break
                time.sleep(0.05)
            assert child.poll() is None and copying > 1000, "the load finished before it could be killed"
            child.send_signal(signal.SIGKILL)
            child.wait(10)
            for _ in range(100):  # the server notices the dead client and rolls back
                busy = conn.execute(
                    "select count(*) from pg_stat_activity where datname = %s and pid <> pg_backend_pid()", (dbname,)
                ).fetchone()[0]
                if not busy:
                    break
                time.sleep(0.1)
            staged_rows = conn.execute("select count(*) from staging.population_registry").fetchone()[0]
            batches = conn.execute("select count(*) from meta.load_batch").fetchone()[0]
    finally:
        child.kill()
    assert copying > 1000 and staged_rows == 0 and batches == 0

    rerun = load_day(dsn, get_contract("population_registry"), DAY, [path], b"k")
    clean_dsn = db.with_database(server_dsn, f"{dbname}_clean")
    db.ensure_database(server_dsn, f"{dbname}_clean")
    try:
        bootstrap(clean_dsn)
        clean = load_day(clean_dsn, get_contract("population_registry"), DAY, [path], b"k")
        assert rerun.rows_loaded == clean.rows_loaded == 150_000
        assert _data_columns(dsn) == _data_columns(clean_dsn)
    finally:
        db.drop_database(server_dsn, f"{dbname}_clean")


def test_person_keys_are_stable_change_with_the_secret_and_are_not_plain_sha256(dsn: str, tmp_path: Path) -> None:
    import hashlib

    path = write(tmp_path / "population_registry.csv", [HEADER, population_line(make_id("19500304", 1))])
    keys = []
    for secret in (b"first", b"first", b"second"):
        load_day(dsn, get_contract("population_registry"), DAY, [path], secret, force=True)
        with psycopg.connect(dsn) as conn:
            keys.append(conn.execute("select person_key from staging.population_registry").fetchone()[0])
    assert keys[0] == keys[1] != keys[2]
    # A new key version reloads an unchanged day by itself, and the ledger says which key was used.
    rotated = load_day(dsn, get_contract("population_registry"), DAY, [path], b"third", key_version=2)
    assert not rotated.unchanged
    with psycopg.connect(dsn) as conn:
        versions = conn.execute("select key_version from meta.load_batch where status = 'loaded'").fetchall()
    assert versions == [(2,)]
    assert keys[0] != hashlib.sha256(make_id("19500304", 1).encode()).hexdigest()


def _partitions(dsn: str, feed: str = "population_registry") -> list[tuple[str, str]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(
            "select c.relname, pg_get_expr(c.relpartbound, c.oid) from pg_inherits i "
            "join pg_class c on c.oid = i.inhrelid where i.inhparent = %s::regclass order by 1",
            (f"staging.{feed}",),
        ).fetchall()


def test_each_load_day_is_a_partition_and_a_reload_replaces_only_its_day(dsn: str, tmp_path: Path) -> None:
    day_before = DAY - dt.timedelta(days=1)
    write(tmp_path / "a" / "population_registry.csv", [HEADER, population_line(make_id("19500304", 1))])
    write(tmp_path / "b" / "population_registry.csv", [HEADER, population_line(make_id("19500304", 2))])
    load_day(dsn, get_contract("population_registry"), day_before, [tmp_path / "a" / "population_registry.csv"], SECRET)
    load(dsn, "population_registry", [tmp_path / "b" / "population_registry.csv"])
    assert _partitions(dsn) == [
        ("population_registry__20261123", "FOR VALUES IN ('2026-11-23')"),
        ("population_registry__20261124", "FOR VALUES IN ('2026-11-24')"),
    ]
    replacement = write(tmp_path / "c" / "population_registry.csv", [HEADER, population_line(make_id("19500304", 3))])
    load(dsn, "population_registry", [replacement])
    by_day = sorted((row["_ds"], row["id_number"]) for row in staged(dsn))
    assert by_day == [(day_before, make_id("19500304", 1)), (DAY, make_id("19500304", 3))]


def test_a_contract_that_gains_a_column_adds_it_to_staging_and_earlier_days_keep_null(dsn: str, tmp_path: Path) -> None:
    """A department adds 微信号 to its file and its contract: the next bootstrap adds the column to
    staging.population_registry (every partition), the day's values land in it, earlier days hold null."""
    contract = get_contract("population_registry")
    day_before = DAY - dt.timedelta(days=1)
    before = write(tmp_path / "a" / "population_registry.csv", [HEADER, population_line(make_id("19500304", 1))])
    load_day(dsn, contract, day_before, [before], SECRET)

    gained = dataclasses.replace(
        contract, columns=(*contract.columns, Column(name="wechat_id", type="text", aliases=("微信号",)))
    )
    bootstrap(dsn, {"population_registry": gained})
    bootstrap(dsn, {"population_registry": gained})  # a second bootstrap adds nothing
    after = write(
        tmp_path / "b" / "population_registry.csv",
        [HEADER + ",微信号", population_line(make_id("19500304", 2)) + ",wx-0002"],
    )
    result = load_day(dsn, gained, DAY, [after], SECRET)
    assert [(f.rows_received, f.rows_loaded, f.rows_quarantined) for f in result.files] == [(1, 1, 0)]

    with psycopg.connect(dsn) as conn:
        columns = conn.execute(
            "select c.relname, count(*) filter (where a.attname = 'wechat_id') from pg_class c "
            "join pg_namespace n on n.oid = c.relnamespace join pg_attribute a on a.attrelid = c.oid "
            "where n.nspname = 'staging' and c.relname like 'population_registry%' group by 1 order by 1"
        ).fetchall()
    assert columns == [
        ("population_registry", 1),
        ("population_registry__20261123", 1),
        ("population_registry__20261124", 1),
    ]
    by_day = sorted((row["_ds"], row["id_number"], row["wechat_id"]) for row in staged(dsn))
    assert by_day == [(day_before, make_id("19500304", 1), None), (DAY, make_id("19500304", 2), "wx-0002")]
