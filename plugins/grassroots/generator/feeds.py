"""What each department delivers on a day: its records (clean, typed) and its habits."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

from grassroots.generator.events import DayEvents, day_events, resources
from grassroots.generator.world import Resident, reference_geography

LATE_MAX_DAYS = 3
SUPPLEMENT_SHARE = 0.08
Record = tuple[Resident | None, str | None, dict[str, object]]  # (person, event key, values by column)


@dataclass(frozen=True)
class Spec:
    """A department's habits: date form, header style, which dirt its files get."""

    style: str  # iso | slash | compact | chinese | json (the department's date habit)
    headers: str  # alias: the contract's first alias (Chinese header); name: the contract column name
    quarantine: bool  # may rows be planted so that they are quarantined?
    supplement: str | None = None  # whole-file defect planted on a supplementary file (a Dirt field)
    events: str | None = None  # DayEvents attribute for event (delta) feeds
    key: str | None = None  # the column that identifies an event


SPECS: dict[str, Spec] = {
    "population_registry": Spec("iso", "alias", quarantine=False),
    "social_assistance": Spec("slash", "alias", quarantine=True),
    "pension_insurance": Spec("json", "alias", quarantine=True),
    "health_records": Spec("compact", "alias", quarantine=True),
    "disability_registry": Spec("chinese", "alias", quarantine=True),
    "service_applications": Spec("json", "alias", True, events="cases", key="case_id"),
    "approval_steps": Spec("json", "name", True, "empty_file", events="steps", key="case_id"),
    "grid_incidents": Spec("iso", "alias", True, "drifted_column", events="incidents", key="incident_id"),
    "hotline_complaints": Spec("json", "name", True, events="complaints", key="complaint_id"),
    "satisfaction_surveys": Spec("slash", "alias", True, "truncated_file", events="surveys", key="survey_id"),
    "community_participation": Spec(
        "chinese", "alias", True, "wrong_encoding", events="participation", key="record_id"
    ),
    "community_resources": Spec("iso", "alias", quarantine=False),
}
COMMUNITY_NAMES = {c.code: c.name for c in reference_geography()}


def _population(residents: list[Resident], ds: dt.date) -> Iterator[Record]:
    for r in residents:
        building = int(r.household_id[-6:])
        yield (
            r,
            None,
            {
                "id_number": r.id_number,
                "name": r.name,
                "gender": r.gender,
                "birth_date": r.birth_date,
                "phone": r.phone,
                "address": f"{COMMUNITY_NAMES[r.community]}{building % 40 + 1}幢{building % 700 + 101}室",
                "community_code": r.community,
                "grid_code": r.grid,
                "household_id": r.household_id,
                "residence_type": r.residence_type,
                "attention_level": r.attention_level,
                "lives_alone": r.lives_alone,
                "extract_date": ds,
            },
        )


def _assistance(residents: list[Resident], ds: dt.date) -> Iterator[Record]:
    for r in residents:
        if r.on_assistance:
            yield (
                r,
                None,
                {
                    "assistance_id": f"SA{r.index:08d}",
                    "id_number": r.id_number,
                    "name": r.name,
                    "assistance_type": r.assistance_type,
                    "status": "在保",
                    "monthly_amount": r.assistance_amount,
                    "household_size": 1 if r.lives_alone else 2 + r.index % 4,
                    "start_date": r.assistance_start,
                    "end_date": None,
                    "extract_date": ds,
                },
            )


def _pension(residents: list[Resident], ds: dt.date) -> Iterator[Record]:
    for r in residents:
        if r.pension_monthly is not None:
            yield (
                r,
                None,
                {
                    "id_number": r.id_number,
                    "pension_monthly": r.pension_monthly,
                    "medical_insurance_status": r.medical_insurance_status,
                    "certification_date": r.certification_date,
                    "extract_date": ds,
                },
            )


def _health(residents: list[Resident], ds: dt.date) -> Iterator[Record]:
    for r in residents:
        if r.age >= 65 or r.chronic_disease or r.birth_registration_date:
            yield (
                r,
                None,
                {
                    "id_number": r.id_number,
                    "name": r.name,
                    "community_code": r.community,
                    "chronic_disease": r.chronic_disease,
                    "elderly_checkup_date": r.checkup_date,
                    "family_doctor_signed": r.family_doctor,
                    "birth_registration_date": r.birth_registration_date,
                    "extract_date": ds,
                },
            )


def _disability(residents: list[Resident], ds: dt.date) -> Iterator[Record]:
    for r in residents:
        if r.disability_type:
            yield (
                r,
                None,
                {
                    "disability_card_no": f"DC{r.index:09d}",
                    "id_number": r.id_number,
                    "name": r.name,
                    "community_code": r.community,
                    "disability_type": r.disability_type,
                    "disability_grade": r.disability_grade,
                    "issued_date": r.disability_issued,
                    "extract_date": ds,
                },
            )


SNAPSHOT_SOURCES = {
    "population_registry": _population,
    "social_assistance": _assistance,
    "pension_insurance": _pension,
    "health_records": _health,
    "disability_registry": _disability,
}


def resource_records(groups: dict[str, list[Resident]], seed: int, ds: dt.date) -> list[Record]:
    """community_resources rows for the day (no person behind them)."""
    return [(None, None, {**row, "extract_date": ds}) for row in resources(groups, seed, ds)]


class EventSource:
    """Event feeds for a delivery day: the day's on-time events plus late ones from up to three days before."""

    def __init__(self, groups: dict[str, list[Resident]], seed: int, late_rate: float) -> None:
        self.groups = groups
        self.seed = seed
        self.late_rate = late_rate
        self.events = lru_cache(maxsize=8)(lambda day: day_events(self.groups, self.seed, day))

    def day(self, day: dt.date) -> DayEvents:
        """All events of a day (cached)."""
        return self.events(day)

    def _delays(self, feed: str, day: dt.date, count: int) -> list[int]:
        rng = random.Random(f"{self.seed}|{day.isoformat()}|{feed}|late")
        return [rng.randrange(1, LATE_MAX_DAYS + 1) if rng.random() < self.late_rate else 0 for _ in range(count)]

    def records(self, feed: str, day: dt.date, delay: int) -> list[tuple[Record, dt.date]]:
        """Records of events of `day` that reach the department's delivery `delay` days later."""
        spec = SPECS[feed]
        events = self.day(day)
        rows = getattr(events, spec.events)
        delays = self._delays(feed, day, len(rows))
        out = []
        for row, late in zip(rows, delays, strict=True):
            if late == delay:
                key = f"{row['case_id']}/{row['step_no']}" if feed == "approval_steps" else row[spec.key]
                out.append(((events.person[key], key, dict(row)), day))
        return out

    def delivery(self, feed: str, ds: dt.date) -> tuple[list[Record], list[tuple[Record, dt.date]]]:
        """(on-time records of ds, late records of earlier days delivered on ds)."""
        on_time = [record for record, _ in self.records(feed, ds, 0)]
        late = []
        for delay in range(1, LATE_MAX_DAYS + 1) if self.late_rate else ():
            late += self.records(feed, ds - dt.timedelta(days=delay), delay)
        return on_time, late


def split_supplement(records: list[Record], seed: int, ds: dt.date, feed: str) -> tuple[list[Record], list[Record]]:
    """(main, supplementary) records: a few of the day's records arrive in a separate file."""
    if not records:
        return records, []
    rng = random.Random(f"{seed}|{ds.isoformat()}|{feed}|supplement")
    chosen = {i for i in range(len(records)) if rng.random() < SUPPLEMENT_SHARE} or {rng.randrange(len(records))}
    main = [r for i, r in enumerate(records) if i not in chosen]
    return main, [r for i, r in enumerate(records) if i in chosen]
