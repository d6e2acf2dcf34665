"""The synthetic city: geography and residents with consistent circumstances across departments."""

from __future__ import annotations

import csv
import datetime as dt
import functools
import itertools
import math
import random
from collections import defaultdict
from dataclasses import dataclass

from grassroots import settings
from grassroots.loading.identity import check_digit

RESIDENTS_PER_COMMUNITY = 6_500  # a community (社区) of a few thousand residents: ~150 for 1M
MIN_COMMUNITIES = 30  # a small (test, demo) city still spreads over every street of every district
REFERENCE_DAY = dt.date(2026, 1, 1)  # ages are counted from here; the world does not age
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国志红玉梅文斌宇浩凯鑫婷雪琳晨䶮"
CHRONIC_DISEASES = ("高血压", "糖尿病", "冠心病", "慢阻肺", "脑卒中")
DISABILITY_TYPES = ("视力", "听力", "言语", "肢体", "智力", "精神", "多重")
ASSISTANCE_TYPES = ("低保", "特困", "临时救助")
VULNERABLE_SHARE = 0.04


@dataclass(frozen=True)
class Community:
    """One community (社区) with its street, district and grids."""

    code: str
    name: str
    street: str
    district: str
    grids: tuple[str, ...]


@dataclass(slots=True)
class Resident:
    """One person as every department would know them (the clean truth)."""

    index: int
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
    assistance_start: dt.date | None
    pension_monthly: int | None
    medical_insurance_status: str
    certification_date: dt.date | None
    chronic_disease: str | None
    checkup_date: dt.date | None
    family_doctor: bool
    birth_registration_date: dt.date | None
    disability_type: str | None
    disability_grade: int | None
    disability_issued: dt.date | None
    vulnerable: bool

    @property
    def age(self) -> int:
        """Whole years on the reference day."""
        years = REFERENCE_DAY.year - self.birth_date.year
        return years - ((REFERENCE_DAY.month, REFERENCE_DAY.day) < (self.birth_date.month, self.birth_date.day))


@functools.cache
def reference_geography() -> tuple[Community, ...]:
    """The city's administrative divisions district ▸ street ▸ community ▸ grid: the dbt seed
    `geography` (the reference data warehouse.dim_geography is built from), in code order."""
    with (settings.dbt_project_dir() / "seeds" / "geography.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return tuple(
        Community(
            r["community_code"],
            r["community_name"],
            r["street_code"],
            r["district_code"],
            tuple(f"{r['community_code']}{g:02d}" for g in range(1, int(r["grid_count"]) + 1)),
        )
        for r in sorted(rows, key=lambda r: r["community_code"])
    )


def community_count(residents: int) -> int:
    """How many communities a city of `residents` lives in: one per RESIDENTS_PER_COMMUNITY, at
    least MIN_COMMUNITIES, at most the reference's (a bigger city has bigger communities)."""
    return min(len(reference_geography()), max(MIN_COMMUNITIES, math.ceil(residents / RESIDENTS_PER_COMMUNITY)))


def _round_robin(groups: list[list[Community]]) -> list[Community]:
    """One of each group in turn, skipping the groups used up."""
    return [c for layer in itertools.zip_longest(*groups) for c in layer if c is not None]


def geography(residents: int) -> list[Community]:
    """The communities a city of `residents` lives in (in code order): the first community_count of
    the reference taken districts in turn, and within a district its streets in turn, so a small
    city keeps every district and street and the largest holds every community."""
    streets: dict[str, dict[str, list[Community]]] = defaultdict(lambda: defaultdict(list))
    for community in reference_geography():
        streets[community.district][community.street].append(community)
    order = _round_robin([_round_robin(list(by_street.values())) for by_street in streets.values()])
    return sorted(order[: community_count(residents)], key=lambda c: c.code)


class _Builder:
    """Draws residents one by one; keeps ID numbers unique and dates interned (1M residents fit in memory)."""

    def __init__(self, seed: int, n_residents: int) -> None:
        self.rng = random.Random(seed)
        self.communities = geography(n_residents)
        self.orders: dict[tuple[str, dt.date, bool], int] = {}
        self.dates: dict[int, dt.date] = {}

    def date(self, ordinal: int) -> dt.date:
        found = self.dates.get(ordinal)
        if found is None:
            found = self.dates[ordinal] = dt.date.fromordinal(ordinal)
        return found

    def day_of(self, start: dt.date, span_days: int) -> dt.date:
        return self.date(start.toordinal() + self.rng.randrange(span_days))

    def id_number(self, area: str, birth: dt.date, male: bool) -> str:
        key = (area, birth, male)
        order = self.orders.get(key)
        order = self.rng.randrange(300) if order is None else order + 1
        self.orders[key] = order
        first17 = f"{area}{birth:%Y%m%d}{(order * 2 + male) % 1000:03d}"
        return first17 + check_digit(first17)

    def resident(self, index: int) -> Resident:
        rng = self.rng
        community = self.communities[rng.randrange(len(self.communities))]
        vulnerable = rng.random() < VULNERABLE_SHARE
        age = rng.randrange(72, 96) if vulnerable else min(int(rng.triangular(0, 100, 38)), 99)
        birth = self.date(REFERENCE_DAY.toordinal() - age * 365 - rng.randrange(1, 365))
        male = rng.random() < 0.5
        elderly = age >= 65
        lives_alone = vulnerable or rng.random() < (0.15 if elderly else 0.04)
        on_assistance = (vulnerable and rng.random() < 0.85) or rng.random() < 0.025
        chronic = (vulnerable and rng.random() < 0.9) or rng.random() < (0.3 if age >= 60 else 0.03)
        disabled = (vulnerable and rng.random() < 0.45) or rng.random() < 0.025
        if vulnerable:
            pension = rng.randrange(0, 1500) or None
        else:
            pension = rng.randrange(1800, 7000) if age >= 60 else None
        return Resident(
            index=index,
            id_number=self.id_number(community.district, birth, male),
            name=rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2)))),
            gender="男" if male else "女",
            birth_date=birth,
            phone=f"1{rng.choice('3589')}{rng.randrange(10**9):09d}",
            community=community.code,
            grid=rng.choice(community.grids),
            household_id=f"H{community.code}{rng.randrange(10**6):06d}",
            residence_type=rng.choices(("户籍", "常住", "流动"), (0.7, 0.2, 0.1))[0],
            attention_level=rng.choice((1, 2, 3)) if vulnerable else rng.choices((0, 1, 2), (0.88, 0.09, 0.03))[0],
            lives_alone=lives_alone,
            on_assistance=on_assistance,
            assistance_type=(("低保", "特困")[rng.random() < 0.4] if vulnerable else rng.choice(ASSISTANCE_TYPES))
            if on_assistance
            else None,
            assistance_amount=rng.randrange(600, 1500) if on_assistance else 0,
            assistance_start=self.day_of(dt.date(2019, 1, 1), 2500) if on_assistance else None,
            pension_monthly=pension,
            medical_insurance_status=rng.choices(("参保", "未参保", "暂停"), (0.93, 0.05, 0.02))[0],
            certification_date=self.day_of(dt.date(2025, 1, 1), 360) if pension else None,
            chronic_disease=rng.choice(CHRONIC_DISEASES) if chronic else None,
            checkup_date=self.day_of(dt.date(2025, 3, 1), 300) if elderly and rng.random() < 0.7 else None,
            family_doctor=rng.random() < (0.8 if elderly or chronic else 0.2),
            birth_registration_date=self.day_of(dt.date(2025, 1, 1), 360)
            if not male and 22 <= age <= 40 and rng.random() < 0.06
            else None,
            disability_type=rng.choice(DISABILITY_TYPES) if disabled else None,
            disability_grade=rng.randrange(1, 5) if disabled else None,
            disability_issued=self.day_of(dt.date(2008, 1, 1), 6000) if disabled else None,
            vulnerable=vulnerable,
        )


def build_world(n_residents: int, seed: int) -> list[Resident]:
    """Residents with consistent attributes across every department (depends on seed and size only)."""
    builder = _Builder(seed, n_residents)
    return [builder.resident(i) for i in range(n_residents)]


def by_community(residents: list[Resident]) -> dict[str, list[Resident]]:
    """Residents grouped by community code, every community of the city (geography(len(residents))) present."""
    groups: dict[str, list[Resident]] = {c.code: [] for c in geography(len(residents))}
    for resident in residents:
        groups[resident.community].append(resident)
    return groups


def population(groups: dict[str, list[Resident]]) -> dict[str, int]:
    """Residents per community of the reference, 0 where the city has none: the warehouse lists every
    reference community (dim_geography), so the truth does too."""
    return {community.code: len(groups.get(community.code, ())) for community in reference_geography()}
