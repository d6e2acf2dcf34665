"""The end-of-run summary's checksums cost what the day changed: staging partitions and scored days
are summed part by part from a cache, and the sums equal the whole-table checksum of every table."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from grassroots.loading.contracts import get_contract
from grassroots.loading.identity import check_digit
from grassroots.loading.loader import load_day
from grassroots.local import summary
from grassroots.scoring import store
from grassroots.warehouse.bootstrap import bootstrap

DAYS = [dt.date(2026, 11, 24) + dt.timedelta(days=n) for n in range(3)]
SECRET = b"summary-test-secret"
HEADER = "公民身份号码,姓名,性别,出生日期,联系电话,住址,社区编码,网格编码,户号,人口类型,关注等级,独居"
REGISTRY = "staging.population_registry"
RISK = "scoring.resident_detail"
QUARANTINED = "quarantine.rows"


def _registry_file(folder: Path, ds: dt.date, people: int) -> Path:
    """A day's registry delivery of `people` residents and one line whose ID number fails its check digit."""
    lines = [HEADER]
    for order in range(1, people + 2):
        first17 = f"33010619500304{order:03d}"
        digit = check_digit(first17) if order <= people else "X" if check_digit(first17) != "X" else "0"
        lines.append(
            f"{first17}{digit},王芳,女,1950-03-04,13800001111,某路1号,330106001001,33010600100101,H1,户籍,1,是"
        )
    path = folder / ds.isoformat() / f"population_registry_{ds:%Y%m%d}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(("\n".join(lines) + "\n").encode("gb18030"))
    return path


def _load(dsn: str, folder: Path, ds: dt.date, people: int) -> None:
    load_day(dsn, get_contract("population_registry"), ds, [_registry_file(folder, ds, people)], SECRET)


_LITERALS = {"date": None, "text": "x", "integer": 0, "jsonb": "{}", "char(64)": "k", "text[]": []}


def _score(conn: psycopg.Connection, ds: dt.date, cluster: int) -> None:
    """Replace a scored day the way scoring.store does: the day's model_run row and residents' detail in
    one transaction."""
    conn.execute("delete from scoring.model_run where ds = %s", (ds,))
    conn.execute("delete from scoring.resident_detail where ds = %s", (ds,))
    for name, rows in (("model_run", 1), ("resident_detail", 3)):
        columns = store.COLUMNS[name]
        for n in range(rows):
            values = [
                ds
                if c == "ds"
                else f"p{n}"
                if c == "person_key"
                else cluster
                if c == "cluster_label"
                else _LITERALS.get(t.removesuffix(" not null"), 0)
                for c, t in columns
            ]
            conn.execute(
                sql.SQL("insert into {} values ({})").format(
                    sql.Identifier("scoring", name), sql.SQL(", ").join(sql.Placeholder() * len(values))
                ),
                values,
            )
    conn.commit()


def _whole(dsn: str, stats: dict[str, dict[str, object]]) -> dict[str, dict[str, object]]:
    """The whole-table checksum_query of every table the summary reports."""
    with psycopg.connect(dsn) as conn:
        figures = {}
        for name in stats:
            rows, checksum = conn.execute(summary.checksum_query(*name.split("."))).fetchone()
            figures[name] = {"rows": rows, "checksum": checksum}
    return figures


@pytest.fixture
def dsn(warehouse_dsn: str) -> str:
    bootstrap(warehouse_dsn)
    with psycopg.connect(warehouse_dsn) as conn:
        store.ensure_schema(conn)
    return warehouse_dsn


def _read(cache: summary.Cache, relation: str) -> list[str]:
    """The parts of `relation` a table_stats call read."""
    return sorted(part.removeprefix(f"{relation}/") for part in cache.misses if part.startswith(f"{relation}/"))


def _batches(dsn: str, ds: dt.date) -> list[str]:
    """The registry's load batches of a day, superseded ones too."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "select batch_id::text from meta.load_batch where feed = 'population_registry' and ds = %s", (ds,)
        ).fetchall()
    return sorted(row[0] for row in rows)


def _stats(dsn: str) -> tuple[dict[str, dict[str, object]], summary.Cache]:
    cache = summary.Cache()
    stats = summary.table_stats(dsn, cache)
    assert stats == _whole(dsn, stats), "the sums of the parts are the whole tables' checksums"
    return stats, cache


def test_cached_parts_add_up_to_the_whole_tables_and_a_changed_part_is_read_again(dsn: str, tmp_path: Path) -> None:
    _load(dsn, tmp_path, DAYS[0], 3)
    _load(dsn, tmp_path, DAYS[1], 4)
    with psycopg.connect(dsn) as conn:
        _score(conn, DAYS[0], 0)
        _score(conn, DAYS[1], 0)
    first, cache = _stats(dsn)
    assert first[REGISTRY]["rows"] == 7 and first[RISK]["rows"] == 6 and first[QUARANTINED]["rows"] == 2
    assert _read(cache, REGISTRY) == ["population_registry__20261124", "population_registry__20261125"]
    assert _read(cache, RISK) == ["2026-11-24", "2026-11-25"]
    assert _read(cache, QUARANTINED) == sorted(_batches(dsn, DAYS[0]) + _batches(dsn, DAYS[1]))
    assert "meta.summary_checksum" not in first, "the cache is the summary's bookkeeping, not a run's table"

    again, cache = _stats(dsn)
    assert again == first and cache.misses == [] and len(cache.hits) == 6

    # An unchanged rerun of the day (the same file) loads nothing: the same figures, nothing read.
    _load(dsn, tmp_path, DAYS[0], 3)
    rerun, cache = _stats(dsn)
    assert rerun == first and cache.misses == []

    # A new delivery replaces the day: its partition is read again and the figure changes.
    _load(dsn, tmp_path, DAYS[0], 2)
    reloaded, cache = _stats(dsn)
    assert _read(cache, REGISTRY) == ["population_registry__20261124"] and _read(cache, RISK) == []
    # the day's new batch, and its superseded one (its ledger row changed): the day's batches only
    assert _read(cache, QUARANTINED) == _batches(dsn, DAYS[0]) and len(_batches(dsn, DAYS[0])) == 2
    assert reloaded[REGISTRY]["rows"] == 6 and reloaded[REGISTRY]["checksum"] != first[REGISTRY]["checksum"]
    assert reloaded[QUARANTINED]["rows"] == 3, "evidence is kept: the superseded batch's rows stay"

    # A rescored day with other clusters: that day is read again, the figure changes.
    with psycopg.connect(dsn) as conn:
        _score(conn, DAYS[1], 1)
    rescored, cache = _stats(dsn)
    assert cache.misses == [f"{RISK}/2026-11-25"]
    assert rescored[RISK]["rows"] == 6 and rescored[RISK]["checksum"] != first[RISK]["checksum"]

    # The same rows written again by another scoring transaction: read again, the same figure.
    with psycopg.connect(dsn) as conn:
        _score(conn, DAYS[1], 1)
    same, cache = _stats(dsn)
    assert cache.misses == [f"{RISK}/2026-11-25"] and same == rescored


def test_the_cost_follows_the_day_another_day_reads_only_its_own_parts(dsn: str, tmp_path: Path) -> None:
    for ds in DAYS[:2]:
        _load(dsn, tmp_path, ds, 3)
        with psycopg.connect(dsn) as conn:
            _score(conn, ds, 0)
    _stats(dsn)
    _load(dsn, tmp_path, DAYS[2], 3)
    with psycopg.connect(dsn) as conn:
        _score(conn, DAYS[2], 0)
    third, cache = _stats(dsn)
    assert _read(cache, REGISTRY) == ["population_registry__20261126"] and _read(cache, RISK) == ["2026-11-26"]
    assert _read(cache, QUARANTINED) == _batches(dsn, DAYS[2]) and len(cache.misses) == 3
    assert len(cache.hits) == 6
    assert third[REGISTRY]["rows"] == 9


def test_no_bi_role_reads_the_cache(dsn: str) -> None:
    summary.table_stats(dsn)
    with psycopg.connect(dsn) as conn:
        readers = conn.execute(
            "select rolname from pg_roles where rolname in ('bi_reader', 'bi_login', 'area_user') "
            "and has_table_privilege(rolname, 'meta.summary_checksum', 'select')"
        ).fetchall()
    assert readers == []


def test_a_part_nothing_proves_is_read_every_time(dsn: str, tmp_path: Path) -> None:
    _load(dsn, tmp_path, DAYS[0], 3)
    with psycopg.connect(dsn) as conn:
        _score(conn, DAYS[0], 0)
        # a partition and a scored day written around the pipeline: no ledger row, no model_run row
        partition = conn.execute("select staging.day_partition('population_registry', %s)", (DAYS[1],)).fetchone()[0]
        conn.execute(
            sql.SQL("insert into staging.{} (_ds, _batch_id, _row_no) values (%s, 0, 1)").format(
                sql.Identifier(partition)
            ),
            (DAYS[1],),
        )
        conn.execute(
            "insert into scoring.resident_detail select %s, person_key, cluster_label, risk_score, reason_set "
            "from scoring.resident_detail",
            (DAYS[1],),
        )
        conn.commit()
    first, _ = _stats(dsn)
    again, cache = _stats(dsn)
    assert again == first and first[REGISTRY]["rows"] == 4 and first[RISK]["rows"] == 6
    assert sorted(cache.misses) == [f"{RISK}/2026-11-25", f"{REGISTRY}/population_registry__20261125"]
    assert len(cache.hits) == 3
