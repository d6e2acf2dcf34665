"""Seeded synthetic department feeds for any number of residents and days, with their truth.

The world (geography, residents, their circumstances) depends only on the seed and the
number of residents; each day's deliveries depend on the seed and the day, so generating
the same day twice writes the same bytes.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import random
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from grassroots.identity import check_digit

AREA_CODES = ("330102", "330105", "330106")  # three districts of one city
DISTRICTS = ("上城区", "拱墅区", "西湖区")
STREETS_PER_DISTRICT = 2
COMMUNITIES_PER_STREET = 3
GRIDS_PER_COMMUNITY = 4
PROACTIVE_SOURCES = ("ai_camera", "iot_sensor", "grid_patrol")
INCIDENT_SOURCES = (*PROACTIVE_SOURCES, "resident_report", "hotline_12345")
INCIDENT_CATEGORIES = ("垃圾堆积", "井盖缺失", "占道经营", "违章停车", "路灯损坏", "噪音扰民")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国志红玉梅文斌宇浩凯鑫婷雪琳晨䶮"


@dataclass(frozen=True)
class Community:
    code: str
    name: str
    street: str
    district: str
    grids: tuple[str, ...]


@dataclass
class Resident:
    id_number: str
    name: str
    gender: str
    birth_date: dt.date
    phone: str
    community: str
    grid: str
    household_id: str
    residence_type: str
    attention_level: int
    lives_alone: bool
    on_assistance: bool
    assistance_type: str | None
    assistance_amount: int
    pension_monthly: int | None


def geography() -> list[Community]:
    """District ▸ street ▸ community ▸ grid reference data (fixed)."""
    result = []
    for d_index, (area, district) in enumerate(zip(AREA_CODES, DISTRICTS, strict=True)):
        for s in range(1, STREETS_PER_DISTRICT + 1):
            street = f"{area}{s:03d}"
            for c in range(1, COMMUNITIES_PER_STREET + 1):
                code = f"{street}{c:03d}"
                grids = tuple(f"{code}{g:02d}" for g in range(1, GRIDS_PER_COMMUNITY + 1))
                result.append(Community(code, f"{district}第{d_index * 10 + s}街道{c}社区", street, area, grids))
    return result


def _id_number(rng: random.Random, area: str, birth: dt.date, male: bool) -> str:
    order = rng.randrange(500) * 2 + (1 if male else 0)
    first17 = f"{area}{birth:%Y%m%d}{order:03d}"
    return first17 + check_digit(first17)


def build_world(n_residents: int, seed: int) -> list[Resident]:
    """Residents with consistent attributes across every department."""
    rng = random.Random(seed)
    communities = geography()
    residents: list[Resident] = []
    used: set[str] = set()
    reference = dt.date(2026, 1, 1)
    for _ in range(n_residents):
        community = communities[rng.randrange(len(communities))]
        age = min(int(rng.triangular(0, 100, 38)), 99)
        birth = reference - dt.timedelta(days=age * 365 + rng.randrange(365))
        male = rng.random() < 0.5
        id_number = _id_number(rng, community.district, birth, male)
        while id_number in used:
            id_number = _id_number(rng, community.district, birth, male)
        used.add(id_number)
        elderly = age >= 65
        lives_alone = rng.random() < (0.35 if elderly else 0.08)
        on_assistance = rng.random() < (0.18 if elderly else 0.05)
        residents.append(
            Resident(
                id_number=id_number,
                name=rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2)))),
                gender="男" if male else "女",
                birth_date=birth,
                phone=f"1{rng.choice('3589')}{rng.randrange(10**9):09d}",
                community=community.code,
                grid=rng.choice(community.grids),
                household_id=f"H{community.code}{rng.randrange(10**5):05d}",
                residence_type=rng.choices(("户籍", "常住", "流动"), (0.7, 0.2, 0.1))[0],
                attention_level=rng.choices((0, 1, 2, 3), (0.8, 0.12, 0.06, 0.02))[0],
                lives_alone=lives_alone,
                on_assistance=on_assistance,
                assistance_type=rng.choice(("低保", "特困", "临时救助")) if on_assistance else None,
                assistance_amount=rng.randrange(600, 1500) if on_assistance else 0,
                pension_monthly=(rng.randrange(900, 6000) if age >= 60 else None),
            )
        )
    return residents


def _csv_bytes(header: list[str], rows: list[list[object]], encoding: str) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode(encoding)


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _day_rng(seed: int, ds: dt.date, feed: str) -> random.Random:
    return random.Random(f"{seed}|{ds.isoformat()}|{feed}")


def population_registry(residents: list[Resident]) -> bytes:
    """公安 snapshot in GBK with Chinese headers."""
    header = ["公民身份号码", "姓名", "性别", "出生日期", "联系电话", "住址", "社区编码", "网格编码",
              "户号", "人口类型", "关注等级", "独居"]  # fmt: skip
    rows = [
        [r.id_number, r.name, r.gender, f"{r.birth_date:%Y-%m-%d}", r.phone, f"{r.community}号楼",
         r.community, r.grid, r.household_id, r.residence_type, r.attention_level, "是" if r.lives_alone else "否"]
        for r in residents
    ]  # fmt: skip
    return _csv_bytes(header, rows, "gb18030")


def social_assistance(residents: list[Resident], ds: dt.date, seed: int) -> bytes:
    """民政 delta: the cases whose record changed that day, UTF-8 with BOM.

    In the thin generator every case is re-sent each day (a delta of everything).
    """
    header = ["救助编号", "身份证号", "姓名", "救助类型", "状态", "月救助金额", "家庭人口数", "开始日期", "结束日期"]
    rng = _day_rng(seed, ds, "social_assistance")
    rows = [
        [f"SA{i:07d}", r.id_number, r.name, r.assistance_type, "在保", r.assistance_amount,
         1 if r.lives_alone else rng.randrange(2, 5), "2025/1/1", ""]
        for i, r in enumerate(residents) if r.on_assistance
    ]  # fmt: skip
    return _csv_bytes(header, rows, "utf-8-sig")


def pension_pages(residents: list[Resident], page_size: int = 500) -> list[bytes]:
    """人社 API pages (JSON), as the bureau's endpoint serves them."""
    records = [
        {"sfzh": r.id_number, "ylj": r.pension_monthly, "ybzt": "参保", "rzrq": "2026-03-01"}
        for r in residents
        if r.pension_monthly is not None
    ]
    pages = [records[i : i + page_size] for i in range(0, len(records), page_size)] or [[]]
    return [
        json.dumps({"page": n + 1, "pages": len(pages), "data": page}, ensure_ascii=False, sort_keys=True).encode()
        for n, page in enumerate(pages)
    ]


def grid_incidents(residents: list[Resident], ds: dt.date, seed: int) -> tuple[bytes, list[dict]]:
    """网格 delta: incidents reported that day, with their lifecycle so far."""
    rng = _day_rng(seed, ds, "grid_incidents")
    communities = geography()
    incidents = []
    for community in communities:
        for n in range(rng.randrange(2, 9)):
            source = rng.choices(INCIDENT_SOURCES, (0.3, 0.15, 0.2, 0.2, 0.15))[0]
            reported = dt.datetime.combine(ds, dt.time(rng.randrange(7, 20), rng.randrange(60)))
            resolved = reported + dt.timedelta(minutes=rng.randrange(30, 60 * 72))
            incidents.append({
                "incident_id": f"GI{ds:%Y%m%d}{community.code}{n:03d}",
                "source": source,
                "category": rng.choice(INCIDENT_CATEGORIES),
                "community_code": community.code,
                "grid_code": rng.choice(community.grids),
                "reported_at": reported,
                "dispatched_at": reported + dt.timedelta(minutes=rng.randrange(5, 90)),
                "resolved_at": resolved,
            })  # fmt: skip
    header = ["事件编号", "来源", "类别", "社区编码", "网格编码", "上报时间", "派遣时间", "处置时间"]
    rows = [
        [i["incident_id"], i["source"], i["category"], i["community_code"], i["grid_code"],
         f"{i['reported_at']:%Y-%m-%d %H:%M:%S}", f"{i['dispatched_at']:%Y-%m-%d %H:%M:%S}",
         f"{i['resolved_at']:%Y-%m-%d %H:%M:%S}"]
        for i in incidents
    ]  # fmt: skip
    return _csv_bytes(header, rows, "utf-8"), incidents


def day_truth(residents: list[Resident], incidents: list[dict], ds: dt.date) -> dict:
    """What the warehouse must show for this day, computed from the clean world."""
    by_community: dict[str, Counter] = defaultdict(Counter)
    for incident in incidents:
        counts = by_community[incident["community_code"]]
        counts["incidents"] += 1
        counts["proactive"] += incident["source"] in PROACTIVE_SOURCES
    kpis = {
        code: {
            "incidents": c["incidents"],
            "proactive_incidents": c["proactive"],
            "proactive_discovery_rate": round(c["proactive"] / c["incidents"], 4),
        }
        for code, c in sorted(by_community.items())
    }
    return {
        "ds": ds.isoformat(),
        "residents": len(residents),
        "rows": {
            "population_registry": len(residents),
            "social_assistance": sum(r.on_assistance for r in residents),
            "pension_insurance": sum(r.pension_monthly is not None for r in residents),
            "grid_incidents": len(incidents),
        },
        "kpi_proactive_discovery": kpis,
    }


def generate_day(out_dir: Path, ds: dt.date, n_residents: int, seed: int) -> dict:
    """Write one day's deliveries under out_dir/<ds>/ and its truth file; return the truth."""
    residents = build_world(n_residents, seed)
    day_dir = out_dir / ds.isoformat()
    stamp = f"{ds:%Y%m%d}"
    _write(day_dir / "population_registry" / f"population_registry_{stamp}.csv", population_registry(residents))
    _write(day_dir / "social_assistance" / f"social_assistance_{stamp}.csv", social_assistance(residents, ds, seed))
    for n, page in enumerate(pension_pages(residents), start=1):
        _write(day_dir / "_api" / "pension_insurance" / f"page-{n:04d}.json", page)
    incidents_csv, incidents = grid_incidents(residents, ds, seed)
    _write(day_dir / "grid_incidents" / f"grid_incidents_{stamp}.csv", incidents_csv)
    truth = day_truth(residents, incidents, ds)
    _write(out_dir / "_truth" / f"{ds.isoformat()}.json", json.dumps(truth, ensure_ascii=False, indent=1).encode())
    return truth


def generate(out_dir: Path, start: dt.date, days: int, n_residents: int, seed: int) -> list[dict]:
    """Generate `days` consecutive days from `start`."""
    return [generate_day(out_dir, start + dt.timedelta(days=i), n_residents, seed) for i in range(days)]
