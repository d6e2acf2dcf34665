"""The fast path and the row parser load the same rows with the same values."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import psycopg
import pytest

from grassroots.loading.columnar import FastPath
from grassroots.loading.contracts import get_contract
from grassroots.loading.identity import check_digit
from grassroots.loading.loader import load_day
from grassroots.warehouse.bootstrap import bootstrap
from tests.copy_text import block_rows

DAY = dt.date(2026, 11, 24)
HEADER = "公民身份号码,姓名,性别,出生日期,联系电话,住址,社区编码,网格编码,户号,人口类型,关注等级,独居"
INCIDENT_HEADER = "事件编号,来源,类别,社区编码,网格编码,上报时间,派遣时间,处置时间"


def _id(n: int, birth: str = "19500304") -> str:
    first17 = f"330106{birth}{n:03d}"
    return first17 + check_digit(first17)


_REGISTRY_ROW = "{id},王芳,女,{birth},13800001111,某路1号,330106001001,33010600100101,H1,户籍,1,是"
# The registry's other date forms (the fast path normalises the first six), dates that are no
# calendar date in them, and forms only the row parser reads or neither does.
_DATE_FORMS = [
    "1950/3/4",
    "19500304",
    "1950年3月4日",
    "1950年03月4",
    "1950.03.4日",
    "2024/2/29",
    "1950/2/30",
    "19500230",
    "0000/1/1",
    "1950年13月1日",
    "1950/3/4 ",
    "１９５０/3/4",
    "1950/3/004",
    "1950-3-4-",
]


def _population_lines() -> list[str]:
    tricky = [
        "{id},王芳,女,1950-03-04,13800001111,某路1号,330106001001,33010600100101,H1,户籍,1,是",
        "{id},王芳,女,1950-03-04,,,330106001001,,,,,",  # optional cells empty
        "{id},Ａ芳,女,1950-03-04,13800001111,某路1号,330106001001,33010600100101,H1,户籍,1,否",  # full-width
        "{id}, 王芳,女,1950-03-04,13800001111,某路1号,330106001001,33010600100101,H1,户籍,1,是",  # leading space
        '{id},王芳,女,1950-03-04,13800001111,"某路1号,3单元",330106001001,33010600100101,H1,户籍,1,是',  # quoted
        "{id},王芳,女,1950-02-30,13800001111,某路1号,330106001001,33010600100101,H1,户籍,1,是",  # no such day
        "{id},王芳,女,2024-02-29,13800001111,某路1号,330106001001,33010600100101,H1,户籍,1,是",  # leap day
        "{id},王芳,女,1950-03-04,13800001111,某路1号,330106001001,33010600100101,H1,户籍,007,1",  # int form
        "{id},王芳,男人,1950-03-04,13800001111,某路1号,330106001001,33010600100101,H1,户籍,1,是",  # not accepted
        "{id},王芳,女,1950-03-04,23800001111,某路1号,330106001001,33010600100101,H1,户籍,1,是",  # bad phone
        "{id},王芳,女,1950-03-04,13800001111,某路1号,330106001001,33010600100101,H1,户籍,1,也许",  # bad bool
        "{id},王芳,女,1950-03-04,13800001111,某路1号,330106001001,33010600100101,H1,户籍,1",  # short row
        "{id},䶮,女,1950-03-04,13800001111,某路\\1号,330106001001,33010600100101,H1,户籍,1,是",  # backslash
        "",  # blank line
        "{id},王\x00芳,女,1950-03-04,13800001111,某路1号,330106001001,33010600100101,H1,户籍,1,是",  # NUL
        "{id},王芳\x1f,女,1950-03-04,13800001111,某路1号,330106001001,33010600100101,H1,户籍,1,是",  # unit separator
        "{id},\u1680王芳,女,1950-03-04,13800001111,某路\u20281号,330106001001,33010600100101,H1,户籍,1,是",
        "{id},王芳,女,1950-03-04,13800001111,某路\x851号,330106001001,33010600100101,H1,户籍,1,是",  # C1 control
        '{id},王芳,女,1950-03-04,13800001111,"某路1号\n3单元",330106001001,33010600100101,H1,户籍,1,是',  # 2 lines
        *(_REGISTRY_ROW.format(id="{id}", birth=birth) for birth in _DATE_FORMS),
    ]
    lines = [HEADER]
    for n in range(300):
        template = tricky[n % len(tricky)]
        id_number = _id(n)
        if n % 17 == 0:
            id_number = id_number[:17] + ("0" if id_number[17] != "0" else "1")
        elif n % 19 == 0:
            id_number = id_number.lower()
        elif n % 23 == 0:
            id_number = _ID_CASES[(n // 23) % len(_ID_CASES)]
        lines.append(template.format(id=id_number))
    return lines


# ID numbers each rule of identity.normalise_id_number turns away (the day is DAY): both paths must agree.
_ID_CASES = [
    "".join(chr(0x0660 + int(c)) if c.isdigit() else c for c in _id(1)),  # Arabic-Indic digits: id_charset
    _id(2)[:3] + "¹" + _id(2)[4:],  # a superscript digit: id_charset
    _id(3, "20261125"),  # born after the delivery day: id_birth_date
    _id(4, "20261124"),  # born on it: loads
    _id(5, "18991231"),  # before 1900: id_birth_date
    "000000" + _id(6)[6:17] + check_digit("000000" + _id(6)[6:17]),  # no province: id_region
    "91" + _id(7)[2:17] + check_digit("91" + _id(7)[2:17]),
]


def _incident_lines() -> list[str]:
    times = [
        "2026-11-24 08:00:00",
        "2026-11-24 24:00:00",
        "2026/11/24 8:05",
        "2026-11-24 23:59:59",
        "",
        "2000-01-01 07:59:59",
        "1999-12-31 23:59:59",
        "1969-07-20 20:17:40",
        "0001-01-01 00:00:00",
        "1988-07-01 12:00:00",
    ]
    lines = [INCIDENT_HEADER]
    for n in range(100):
        stamp = times[n % len(times)]
        lines.append(f"GI{n},grid_patrol,垃圾堆积,330106001001,33010600100101,2026-11-24 07:00:00,{stamp},{stamp}")
    return lines


RESOURCE_HEADER = "类别,社区编码,月份,项目名称,预算金额,支出金额,人员编号,岗位,月薪,培训时长,数据日期"
PARTICIPATION_HEADER = (
    "记录编号,社区编码,活动类型,活动日期,议事会编号,议题编号,议题已解决,服务时长,时间银行积分,姓名,出生日期,联系电话"
)


def _resource_lines() -> list[str]:
    """Amounts in every canonical form PostgreSQL's binary numeric must carry, and some that are not canonical."""
    amounts = [
        "0",
        "0.5",
        "0.05",
        "-12.3",
        "123456789012.99",
        "10000",
        "100000000",
        "1.00",
        "-0",
        "-0.00",
        "99999999.9",
        "20000.01",
        "0.1",
        "-100000000.5",
        "",
        '"12,345.6"',
        "¥100",
        "1e5",
        "007",
        ".5",
        "abc",
        "1e12",
        "999999999999.995",
        "999999999999.994",
    ]
    lines = [RESOURCE_HEADER]
    for n, amount in enumerate(amounts * 3):
        day = ["2026-11-01", "0001-01-01", "1999-12-31", "2000-01-01", "2024-02-29"][n % 5]
        row = f"经费,330106001001,{day},项目{n},{amount},{amounts[(n + 7) % len(amounts)]},,,,,2026-11-24"
        lines.append(row)
    return lines


def _participation_lines() -> list[str]:
    """Integers, booleans and timestamps of every sign and spelling."""
    points = ["0", "-5", "999999999", "-999999999", "12", "", "1000000000", "+3", "2147483648", "x1"]
    flags = ["true", "false", "1", "0", "是", "否", "", "TRUE", "也许"]
    lines = [PARTICIPATION_HEADER]
    for n in range(48):
        point, flag = points[n % len(points)], flags[(n // 3) % len(flags)]
        lines.append(f"R{n},330106001001,议事,2026-11-24,M1,I{n},{flag},1.5,{point},王芳,1950-03-04,13800001111")
    return lines


def _shuffled(lines: list[str]) -> list[str]:
    """The same rows with the columns in another order and two optional ones left out."""
    order = [11, 3, 0, 6, 1, 9, 2, 10, 4, 7]  # 独居 first; 住址 and 户号 missing
    return [",".join(cells[i] for i in order) if len(cells := line.split(",")) == 12 else line for line in lines]


def _staged(dsn: str, feed: str) -> list[tuple]:
    query = psycopg.sql.SQL(
        "select to_jsonb(t) - '_batch_id' - '_loaded_at' from staging.{} t order by _row_no"
    ).format(psycopg.sql.Identifier(feed))
    with psycopg.connect(dsn) as conn:
        return [row[0] for row in conn.execute(query)]


def _quarantined(dsn: str) -> list[tuple]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(
            "select r.line_no, r.column_name, r.rule, r.raw_line from quarantine.rows r "
            "join meta.load_batch b on b.batch_id = r.batch_id where b.status <> 'superseded' order by r.line_no"
        ).fetchall()


@pytest.mark.parametrize(
    ("feed", "lines", "encoding"),
    [
        ("population_registry", _population_lines(), "gb18030"),
        ("population_registry", _shuffled(_population_lines()), "gb18030"),
        ("grid_incidents", _incident_lines(), "utf-8"),
        ("community_resources", _resource_lines(), "gb18030"),
        ("community_participation", _participation_lines(), "utf-8"),
    ],
)
def test_fast_path_and_row_parser_agree(
    warehouse_dsn: str, tmp_path: Path, feed: str, lines: list[str], encoding: str
) -> None:
    path = tmp_path / f"{feed}.csv"
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    bootstrap(warehouse_dsn)
    outcomes = []
    for fastpath in (True, False):
        result = load_day(warehouse_dsn, get_contract(feed), DAY, [path], b"k", force=True, fastpath=fastpath)
        outcomes.append(
            (result.rows_received, result.rows_loaded, _staged(warehouse_dsn, feed), _quarantined(warehouse_dsn))
        )
    fast, rows = outcomes
    assert fast == rows
    assert fast[1] > 0 and fast[3], "the sample must hold rows of both kinds"
    contract = get_contract(feed)
    block = FastPath(contract, [contract.header_map()[h] for h in lines[0].split(",")], b"k", DAY, 1).process(
        lines[1:], 2
    )
    assert block.rows > 0 and block.slow, "both paths must have had rows to compare"


def test_canonical_rows_take_the_fast_path_and_dirty_ones_do_not() -> None:
    contract = get_contract("population_registry")
    header = [contract.header_map()[h] for h in HEADER.split(",")]
    lines = _population_lines()[1:15]  # one of each template, first id clean
    block = FastPath(contract, header, b"k", DAY, 1).process(lines, 2)
    slow_lines = [line_no for line_no, _, _ in block.slow]
    # Line 3 (empty optional cells) and line 8 (a leap day) are canonical. Line 2 has a wrong check
    # digit, line 9 writes 7 as "007", the others hold full-width text, spaces, quotes, impossible
    # dates, unaccepted values, a short row, a backslash or nothing: all go to the row parser.
    assert block.rows == 2
    assert slow_lines == [2, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15]


def test_the_registry_date_forms_take_the_fast_path_when_they_are_dates() -> None:
    contract = get_contract("population_registry")
    header = [contract.header_map()[h] for h in HEADER.split(",")]
    lines = [_REGISTRY_ROW.format(id=_id(1), birth=birth) for birth in _DATE_FORMS]
    fast_path = FastPath(contract, header, b"k", DAY, 1)
    fast = {row[-1]: row[3] for row in block_rows(fast_path, fast_path.process(lines, 2))}
    assert fast == {line: dt.date(1950, 3, 4) for line in range(2, 7)} | {7: dt.date(2024, 2, 29)}
