"""Deliveries departments send, and worse, through `ingest`: nothing stops a day, nothing is lost, no value leaks."""

from __future__ import annotations

import bz2
import dataclasses
import datetime as dt
import gzip
import io
import json
import logging
import os
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psycopg
import pytest

from grassroots.loading import contracts as contracts_module
from grassroots.loading.contracts import Limits, get_contract
from grassroots.loading.identity import check_digit
from grassroots.loading.ingest import FeedMissing, LoadFailed, ingest
from grassroots.loading.readers import MAX_RAW_CHARS
from grassroots.warehouse.bootstrap import bootstrap

DAY = dt.date(2026, 11, 24)
HEADER = "公民身份号码,姓名,性别,出生日期,联系电话,住址,社区编码,网格编码,户号,人口类型,关注等级,独居"
INCIDENT_HEADER = "事件编号,来源,类别,社区编码,上报时间"


def make_id(birth: str, order: int) -> str:
    first17 = f"330106{birth}{order:03d}"
    return first17 + check_digit(first17)


def person(n: int, address: str = "某路1号") -> str:
    id_number = make_id(f"{1950 + n // 1000}0304", n % 1000)
    return f"{id_number},王芳,女,1950-03-04,13800001111,{address},330106001001,33010600100101,H1,户籍,1,是"


def incident(n: int) -> str:
    return f"GI{n},grid_patrol,垃圾堆积,330106001001,2026-11-24 08:00:00"


@pytest.fixture
def landing(tmp_path: Path, warehouse_dsn: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GRASSROOTS_LANDING_DIR", str(tmp_path / "landing"))
    bootstrap(warehouse_dsn)
    return tmp_path / "landing"


def deliver(landing: Path, feed: str, name: str, data: bytes, day: dt.date = DAY, age: float = 0) -> Path:
    path = landing / day.isoformat() / feed / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    stamp = time.time() - 1000 + age  # delivery order: older files first
    os.utime(path, (stamp, stamp))
    return path


def csv_bytes(lines: list[str], encoding: str = "gb18030", newline: str = "\n") -> bytes:
    return (newline.join(lines) + newline).encode(encoding)


def ledger(dsn: str, feed: str, day: dt.date = DAY) -> list[tuple]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(
            "select file_name, status, rule, rows_received, rows_loaded, rows_quarantined from meta.load_batch "
            "where feed = %s and ds = %s and status <> 'superseded' order by batch_id",
            (feed, day),
        ).fetchall()


def query(dsn: str, sql: str, *params: object) -> list[tuple]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(sql, params).fetchall()


def staged_count(dsn: str, feed: str, day: dt.date = DAY) -> int:
    return query(dsn, f"select count(*) from staging.{feed} where _ds = %s", day)[0][0]  # noqa: S608 (a test's feed)


def test_nul_bytes_in_good_and_bad_rows_quarantine_those_rows_and_load_the_rest(landing: Path, warehouse_dsn: str):
    lines = [HEADER, person(1), person(2, "某路\x001号"), person(3).replace("王芳", "王\x00"), person(4)[:-1] + "\x00"]
    lines.append(make_id("19500304", 5)[:5] + "\x00" + person(5)[5:])  # an ID with a NUL: a bad row
    deliver(landing, "population_registry", "population_registry_20261124.csv", csv_bytes(lines))

    result = ingest("population_registry", DAY, dsn=warehouse_dsn)

    assert (result.rows_received, result.rows_loaded, result.rows_quarantined) == (5, 1, 4)
    rows = query(warehouse_dsn, "select line_no, column_name, rule, raw_line from quarantine.rows order by 1")
    assert [r[:3] for r in rows] == [
        (3, "address", "control_character"),
        (4, "name", "control_character"),
        (5, "lives_alone", "control_character"),
        (6, "id_number", "control_character"),
    ]
    assert all("\x00" not in r[3] and "\ufffd" in r[3] for r in rows), "raw_line keeps the line, NUL as U+FFFD"


@pytest.mark.parametrize(
    ("id_number", "rule"),
    [
        ("".join(chr(0x0660 + int(c)) for c in make_id("19500304", 7)), "id_charset"),  # Arabic-Indic digits
        (make_id("19500304", 7)[:-1].replace("1", "¹") + "1", "id_charset"),  # superscript one
        (make_id("20300101", 7), "id_birth_date"),  # born after the delivery day
        ("330106" + "00010101" + "0071", "id_birth_date"),  # year 1
        ("000000" + "19500304" + "0071", "id_region"),
    ],
)
def test_impossible_id_numbers_get_no_person_key(landing: Path, warehouse_dsn: str, id_number: str, rule: str):
    line = person(7).replace(make_id("19500304", 7), id_number)
    deliver(landing, "population_registry", "population_registry_20261124.csv", csv_bytes([HEADER, person(1), line]))

    result = ingest("population_registry", DAY, dsn=warehouse_dsn)

    assert result.rows_loaded == 1 and result.files[0].rules == {rule: 1}
    assert query(warehouse_dsn, "select count(*) from staging.population_registry where person_key is null") == [(0,)]


def test_a_file_without_its_header_is_rejected_and_no_value_reaches_detail_or_logs(
    landing: Path, warehouse_dsn: str, caplog: pytest.LogCaptureFixture
):
    deliver(landing, "population_registry", "population_registry_20261124.csv", csv_bytes([person(1), person(2)]))
    with caplog.at_level(logging.DEBUG):
        result = ingest("population_registry", DAY, dsn=warehouse_dsn)

    assert [(f.status, f.rule, f.rows_received) for f in result.files] == [("rejected", "missing_header", 1)]
    detail = query(warehouse_dsn, "select detail from quarantine.files")[0][0]
    for value in (make_id("19500304", 1), "王芳", "13800001111", "某路1号"):
        assert value not in detail and value not in caplog.text


def test_a_quoted_line_break_is_one_record(landing: Path, warehouse_dsn: str):
    lines = [HEADER] + [person(n) for n in range(1, 2000)] + [person(2000, '"某路1号\n3单元"')]
    deliver(landing, "population_registry", "population_registry_20261124.csv", csv_bytes(lines))

    result = ingest("population_registry", DAY, dsn=warehouse_dsn)

    assert (result.rows_received, result.rows_loaded, result.rows_quarantined) == (2000, 2000, 0)
    assert query(warehouse_dsn, "select address, _row_no from staging.population_registry where _row_no > 2000") == [
        ("某路1号\n3单元", 2001)
    ]


def _gzip(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("name", "pack", "outcome"),
    [
        ("grid_incidents_20261124.csv.gz", _gzip, ("loaded", None, 3)),
        ("grid_incidents_20261124.csv", _gzip, ("loaded", None, 3)),  # gzip named .csv
        ("grid_incidents_20261124.zip", lambda d: _zip({"incidents.csv": d}), ("loaded", None, 3)),
        ("grid_incidents_20261124.zip", lambda d: _zip({"a.csv": d, "b.csv": d}), ("rejected", "compressed", 0)),
        ("grid_incidents_20261124.csv.bz2.gz", lambda d: _gzip(bz2.compress(d)), ("rejected", "compressed", 0)),
        ("grid_incidents_20261124.csv", bz2.compress, ("rejected", "compressed", 0)),
        ("grid_incidents_20261124.csv.gz", lambda d: _gzip(d)[:-12], ("rejected", "compressed", 0)),  # cut
    ],
)
def test_compressed_deliveries_are_read_or_refused_with_a_rule(landing: Path, warehouse_dsn: str, name, pack, outcome):
    data = csv_bytes([INCIDENT_HEADER, incident(1), incident(2), incident(3)], "utf-8")
    deliver(landing, "grid_incidents", name, pack(data))

    result = ingest("grid_incidents", DAY, dsn=warehouse_dsn)

    status, rule, loaded = outcome
    assert [(f.status, f.rule, f.rows_loaded) for f in result.files] == [(status, rule, loaded)]
    assert staged_count(warehouse_dsn, "grid_incidents") == loaded


def test_a_decompression_bomb_is_quarantined_with_its_own_rule(landing: Path, warehouse_dsn: str):
    bomb = _gzip(INCIDENT_HEADER.encode() + b"\n" + b"\n" * (64 << 20))  # 64 MiB of blank lines from ~64 KiB
    deliver(landing, "grid_incidents", "grid_incidents_20261124.csv.gz", bomb)

    result = ingest("grid_incidents", DAY, dsn=warehouse_dsn)

    assert [(f.status, f.rule) for f in result.files] == [("rejected", "decompression_bomb")]
    assert query(warehouse_dsn, "select rule, line_no from quarantine.files") == [("decompression_bomb", 0)]


def test_the_same_bytes_are_a_duplicate_only_within_one_day(landing: Path, warehouse_dsn: str):
    data = csv_bytes([HEADER, person(1), person(2)])
    deliver(landing, "population_registry", "population_registry_20261123.csv", data, DAY - dt.timedelta(days=1))
    deliver(landing, "population_registry", "population_registry_20261124.csv", data)
    deliver(landing, "population_registry", "population_registry_20261124 (1).csv", data, age=10)

    ingest("population_registry", DAY - dt.timedelta(days=1), dsn=warehouse_dsn)
    ingest("population_registry", DAY, dsn=warehouse_dsn)

    assert [r[1:] for r in ledger(warehouse_dsn, "population_registry")] == [
        ("loaded", None, 2, 2, 0),
        ("duplicate", "duplicate_delivery", 2, 0, 2),
    ]
    assert staged_count(warehouse_dsn, "population_registry") == 2


def test_repeated_records_keep_the_first_and_quarantine_the_others(landing: Path, warehouse_dsn: str):
    # One repeated line inside the snapshot, and the whole snapshot re-sent with CRLF line ends,
    # every field quoted and an ID's X in lower case.
    x_id = next(n for n in range(2, 100) if make_id("19500304", n).endswith("X"))
    lines = [HEADER, person(1), person(x_id), person(1), person(x_id + 1)]
    deliver(landing, "population_registry", "population_registry_20261124.csv", csv_bytes(lines))
    resent = [HEADER] + ['"' + '","'.join(line.split(",")) + '"' for line in lines[1:]]
    resent[2] = resent[2].replace(make_id("19500304", x_id), make_id("19500304", x_id).lower())
    name = "population_registry_20261124_resend.csv"
    deliver(landing, "population_registry", name, csv_bytes(resent, "gb18030", "\r\n"), age=5)

    result = ingest("population_registry", DAY, dsn=warehouse_dsn)

    assert [r[1:] for r in ledger(warehouse_dsn, "population_registry")] == [
        ("loaded", None, 4, 3, 1),
        ("loaded", None, 4, 0, 4),
    ]
    assert result.rows_loaded == 3 and staged_count(warehouse_dsn, "population_registry") == 3
    kept = query(warehouse_dsn, "select file_name, line_no, raw_line from quarantine.rows order by 1, 2")
    assert kept[0] == (
        "population_registry_20261124.csv",
        4,
        "same primary key as population_registry_20261124.csv line 2",
    )
    assert [k[2] for k in kept[1:]] == [
        f"same primary key as population_registry_20261124.csv line {n}" for n in (2, 3, 2, 5)
    ]
    assert query(warehouse_dsn, "select distinct rule, column_name from quarantine.rows") == [("duplicate_row", None)]


def test_a_json_file_resent_with_its_keys_in_another_order_doubles_nothing(landing: Path, warehouse_dsn: str):
    record = {"complaint_id": "C1", "category": "噪音扰民", "community_code": "330106001001"}
    first = json.dumps({**record, "created_at": "2026-11-24T08:00:00+08:00"}, ensure_ascii=False)
    again = json.dumps({"created_at": "2026-11-24 08:00:00", **dict(reversed(record.items()))})
    deliver(landing, "hotline_complaints", "hotline_complaints_20261124.jsonl", first.encode() + b"\n")
    deliver(landing, "hotline_complaints", "hotline_complaints_20261124_2.jsonl", again.encode() + b"\r\n", age=5)

    result = ingest("hotline_complaints", DAY, dsn=warehouse_dsn)

    assert (result.rows_received, result.rows_loaded, result.rows_quarantined) == (2, 1, 1)
    assert result.files[1].rules == {"duplicate_row": 1}


def test_columns_present_lists_the_contract_columns_a_file_carried(landing: Path, warehouse_dsn: str):
    deliver(
        landing, "grid_incidents", "grid_incidents_20261124.csv", csv_bytes([INCIDENT_HEADER, incident(1)], "utf-8")
    )
    records = '{"complaint_id": "C1", "category": "x", "community_code": "c", "created_at": "2026-11-24"}\n'
    records += (
        '{"complaint_id": "C2", "category": "x", "community_code": "c", "created_at": "2026-11-24", "closed_at": ""}\n'
    )
    deliver(landing, "hotline_complaints", "hotline_complaints_20261124.jsonl", records.encode())

    ingest("grid_incidents", DAY, dsn=warehouse_dsn)
    ingest("hotline_complaints", DAY, dsn=warehouse_dsn)

    present = dict(query(warehouse_dsn, "select feed, columns_present from meta.load_batch"))
    assert present == {
        "grid_incidents": ["incident_id", "source", "category", "community_code", "reported_at"],
        "hotline_complaints": ["complaint_id", "category", "community_code", "created_at", "closed_at"],
    }


def test_a_day_without_files_is_recorded_as_missing(landing: Path, warehouse_dsn: str):
    with pytest.raises(FeedMissing, match="grid_incidents"):
        ingest("grid_incidents", DAY, dsn=warehouse_dsn)
    assert ledger(warehouse_dsn, "grid_incidents") == [(None, "missing", "missing", 0, 0, 0)]
    assert staged_count(warehouse_dsn, "grid_incidents") == 0


def test_a_rerun_after_the_files_were_cleaned_up_keeps_the_days_load(landing: Path, warehouse_dsn: str):
    """Re-running a day (a backfill) after its landing folder was archived never erases what it loaded."""
    path = deliver(
        landing, "grid_incidents", "grid_incidents_20261124.csv", csv_bytes([INCIDENT_HEADER, incident(1)], "utf-8")
    )
    ingest("grid_incidents", DAY, dsn=warehouse_dsn)
    before = ledger(warehouse_dsn, "grid_incidents")
    path.unlink()

    result = ingest("grid_incidents", DAY, dsn=warehouse_dsn)

    assert result.unchanged
    assert ledger(warehouse_dsn, "grid_incidents") == before and before[0][1] == "loaded"
    assert staged_count(warehouse_dsn, "grid_incidents") == 1
    statuses = query(warehouse_dsn, "select status from meta.load_batch order by batch_id")
    assert statuses == [("loaded",)]


def test_a_load_that_raises_is_rolled_back_and_recorded_as_failed_without_values(
    landing: Path, warehouse_dsn: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    deliver(
        landing, "grid_incidents", "grid_incidents_20261124.csv", csv_bytes([INCIDENT_HEADER, incident(1)], "utf-8")
    )
    ingest("grid_incidents", DAY, dsn=warehouse_dsn)
    deliver(
        landing,
        "grid_incidents",
        "grid_incidents_20261124_2.csv",
        csv_bytes([INCIDENT_HEADER, incident(2)], "utf-8"),
        age=5,
    )

    def explode(conn: psycopg.Connection, *args: object) -> None:
        row = conn.execute("select incident_id, community_code from staging.grid_incidents").fetchone()
        raise KeyError(" ".join(row))  # an exception whose message holds values

    with monkeypatch.context() as patch, caplog.at_level(logging.DEBUG), pytest.raises(LoadFailed) as failure:
        patch.setattr("grassroots.loading.loader._quarantine_duplicates", explode)
        ingest("grid_incidents", DAY, dsn=warehouse_dsn)

    assert ledger(warehouse_dsn, "grid_incidents") == [(None, "failed", "load_failed", 0, 0, 0)]
    assert query(warehouse_dsn, "select reason from meta.load_batch where status = 'failed'") == [("KeyError",)]
    assert staged_count(warehouse_dsn, "grid_incidents") == 0
    assert "GI2" not in str(failure.value) and "330106001001" not in caplog.text
    assert ingest("grid_incidents", DAY, dsn=warehouse_dsn).rows_loaded == 2, "a rerun loads the day again"


def test_a_field_over_the_limit_is_quarantined_and_its_raw_line_is_capped(landing: Path, warehouse_dsn: str):
    huge = "某" * (10 << 20)  # a 10-million-character address (30 MB in UTF-8)
    lines = [HEADER, person(1), person(2, huge)]
    deliver(landing, "population_registry", "population_registry_20261124.csv", csv_bytes(lines))

    result = ingest("population_registry", DAY, dsn=warehouse_dsn)

    assert (result.rows_loaded, result.files[0].rules) == (1, {"field_too_long": 1})
    [(length,)] = query(warehouse_dsn, "select length(raw_line) from quarantine.rows")
    assert length == MAX_RAW_CHARS


def test_log_lines_escape_control_characters_in_file_names(
    landing: Path, warehouse_dsn: str, caplog: pytest.LogCaptureFixture
):
    deliver(
        landing, "grid_incidents", "grid\nFORGED line\r.csv", csv_bytes([INCIDENT_HEADER, incident(1) + ",x"], "utf-8")
    )
    with caplog.at_level(logging.DEBUG):
        ingest("grid_incidents", DAY, dsn=warehouse_dsn)
    quarantined = [r.getMessage() for r in caplog.records if "quarantined" in r.getMessage()]
    assert quarantined and all("\n" not in m and "\r" not in m for m in quarantined)
    assert any("grid\\nFORGED line\\r.csv" in m for m in quarantined)


def _xlsx_bomb() -> bytes:
    """A workbook whose sheet XML is ~2,000 times its compressed size."""
    rows = "".join(f'<row r="{n}"><c r="A{n}" t="inlineStr"><is><t>x</t></is></c></row>' for n in range(2, 3))
    sheet = (
        '<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        f"<sheetData>{rows}</sheetData>" + " " * (50 << 20) + "</worksheet>"
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/worksheets/sheet1.xml", sheet)
    return buffer.getvalue()


def test_an_xlsx_that_expands_hugely_is_quarantined_with_its_own_rule(landing: Path, warehouse_dsn: str):
    data = _xlsx_bomb()
    assert len(data) < 1 << 20
    deliver(landing, "social_assistance", "social_assistance_20261124.xlsx", data)

    result = ingest("social_assistance", DAY, dsn=warehouse_dsn)

    assert [(f.status, f.rule, f.rows_received) for f in result.files] == [("rejected", "decompression_bomb", 0)]


class _Api(BaseHTTPRequestHandler):
    mode = "endless"

    def do_GET(self) -> None:  # noqa: N802
        page = int(self.path.rsplit("page=", 1)[1])
        if self.mode == "drip":
            self.send_response(200)
            self.send_header("Content-Length", "1000000")
            self.end_headers()
            for _ in range(600):
                self.wfile.write(b" ")
                self.wfile.flush()
                time.sleep(0.05)
            return
        body = b'{"data": [], "page": %d, "pages": %d}' % (page, page + 1)
        if self.mode == "oversized":
            body = b'{"data": [' + b'{"a": 1}, ' * 200_000 + b'{"a": 1}], "pages": 1}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch):
    def start(mode: str, **limits: object) -> None:
        handler = type("Handler", (_Api,), {"mode": mode})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        monkeypatch.setenv("GRASSROOTS_API_URL", f"http://127.0.0.1:{server.server_address[1]}")
        contract = get_contract("service_applications")
        bounded = dataclasses.replace(contract, limits=dataclasses.replace(contract.limits, **limits))
        monkeypatch.setattr("grassroots.loading.ingest.get_contract", lambda feed: bounded)

    servers: list[ThreadingHTTPServer] = []
    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_an_endless_api_stops_at_the_page_cap_and_the_capture_is_rejected(landing: Path, warehouse_dsn: str, api):
    api("endless", api_max_pages=50)

    result = ingest("service_applications", DAY, dsn=warehouse_dsn)

    assert [(f.status, f.rule) for f in result.files] == [("rejected", "api_page_cap")]
    assert query(warehouse_dsn, "select line_no, detail from quarantine.files") == [(51, "more than 50 pages")]


def test_a_page_over_the_byte_cap_rejects_the_capture(landing: Path, warehouse_dsn: str, api):
    api("oversized", api_max_page_bytes=100_000)

    result = ingest("service_applications", DAY, dsn=warehouse_dsn)

    assert [(f.status, f.rule) for f in result.files] == [("rejected", "api_page_too_large")]


def test_a_dripping_api_fails_the_feed_day_at_its_deadline(landing: Path, warehouse_dsn: str, api):
    api("drip", api_deadline_seconds=2, api_timeout_seconds=1)

    started = time.monotonic()
    with pytest.raises(LoadFailed, match="api_deadline"):
        ingest("service_applications", DAY, dsn=warehouse_dsn)

    assert time.monotonic() - started < 10
    [(status, reason)] = query(warehouse_dsn, "select status, reason from meta.load_batch")
    assert status == "failed" and reason.startswith("PullFailed: api_deadline")


def test_contract_limits_are_read_from_yaml_and_checked() -> None:
    assert get_contract("pension_insurance").limits.api_max_pages < Limits().api_max_pages
    with pytest.raises(contracts_module.ContractError):
        Limits.parse({"api_max_pages": 0}, "test")
    with pytest.raises(contracts_module.ContractError):
        Limits.parse({"no_such_limit": 1}, "test")


def _workbook(rows: list[list[object]]) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Sheet1")
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


ASSISTANCE = [["救助编号", "身份证号", "救助类型", "状态"], ["SA1", make_id("19500304", 1), "低保", "在保"]]


@pytest.mark.parametrize(
    ("name", "data", "outcome"),
    [
        ("social_assistance_20261124.xlsx", _workbook(ASSISTANCE), ("loaded", None, 1)),
        ("social_assistance_20261124.xlsx", _workbook(ASSISTANCE)[:-100], ("rejected", "unreadable_file", 0)),
        ("social_assistance_20261124.xlsx.gz", gzip.compress(_workbook(ASSISTANCE)), ("loaded", None, 1)),
        ("social_assistance_20261124.zip", _zip({"a.xlsx": _workbook(ASSISTANCE)}), ("loaded", None, 1)),
        ("social_assistance_20261124.xlsx", b"\x00" * 100, ("rejected", "unreadable_file", 0)),
    ],
)
def test_xlsx_deliveries_broken_or_compressed(landing: Path, warehouse_dsn: str, name: str, data: bytes, outcome):
    deliver(landing, "social_assistance", name, data)

    result = ingest("social_assistance", DAY, dsn=warehouse_dsn)

    assert [(f.status, f.rule, f.rows_loaded) for f in result.files] == [outcome]
