"""One day's events in the synthetic city: incidents, service cases, complaints, surveys, participation."""

from __future__ import annotations

import calendar
import datetime as dt
import random
from dataclasses import dataclass, field

from grassroots.generator.world import Community, Resident, reference_geography

PROACTIVE_SOURCES = ("ai_camera", "iot_sensor", "grid_patrol")
INCIDENT_SOURCES = (*PROACTIVE_SOURCES, "resident_report", "hotline_12345")
INCIDENT_SLA_HOURS = {"垃圾堆积": 24, "井盖缺失": 4, "占道经营": 24, "违章停车": 2, "路灯损坏": 48, "噪音扰民": 12}
SERVICE_HOURS = {  # typical hours submitted → completed per service type (min, max)
    "低保申请": (48, 480),
    "临时救助申请": (4, 96),
    "养老认证": (0.2, 4),
    "生育登记": (0.5, 24),
    "居住证办理": (2, 120),
    "残疾人证办理": (24, 360),
    "医保参保登记": (0.5, 48),
}
CHANNELS = ("window", "app", "proxy_desk")
APPROVAL_DEPARTMENTS = ("民政局", "人社局", "卫健委", "残联", "公安分局", "医保局")
COMPLAINT_CATEGORIES = ("噪音扰民", "物业管理", "市容环境", "办事效率", "市政设施", "其他")
SURVEY_CHANNELS = ("短信", "政务APP", "窗口评价器")
PROJECTS = ("养老服务", "环境整治", "文化活动", "应急储备", "党群服务")
STAFF_ROLES = ("书记", "主任", "委员", "社工", "网格员")


@dataclass
class DayEvents:
    """Everything that happened on one day, as dicts keyed by contract column, plus the person behind each."""

    day: dt.date
    incidents: list[dict] = field(default_factory=list)
    cases: list[dict] = field(default_factory=list)
    steps: list[dict] = field(default_factory=list)
    complaints: list[dict] = field(default_factory=list)
    surveys: list[dict] = field(default_factory=list)
    participation: list[dict] = field(default_factory=list)
    person: dict[str, Resident | None] = field(default_factory=dict)  # record key → resident


def _count(rng: random.Random, mean: float) -> int:
    return max(0, int(mean * rng.uniform(0.6, 1.4) + 0.5))


def _moment(rng: random.Random, day: dt.date, first_hour: int, last_hour: int) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(rng.randrange(first_hour, last_hour), rng.randrange(60), rng.randrange(60)))


def _hours(hours: float) -> dt.timedelta:
    return dt.timedelta(seconds=round(hours * 3600))


def _service_type(rng: random.Random, resident: Resident) -> str:
    options = ["居住证办理", "医保参保登记", "临时救助申请"]
    if resident.age >= 60:
        options += ["养老认证"] * 3
    if resident.on_assistance or resident.vulnerable:
        options += ["低保申请"] * 2
    if resident.gender == "女" and 22 <= resident.age <= 40:
        options += ["生育登记"] * 2
    if resident.disability_type:
        options += ["残疾人证办理"] * 2
    return rng.choice(options)


def _incidents(rng: random.Random, events: DayEvents, code: str, people: list[Resident], grids: tuple) -> None:
    for n in range(_count(rng, max(3.0, len(people) * 0.004))):
        source = rng.choices(INCIDENT_SOURCES, (0.3, 0.15, 0.2, 0.2, 0.15))[0]
        category = rng.choice(tuple(INCIDENT_SLA_HOURS))
        reported = _moment(rng, events.day, 6, 22)
        dispatched = reported + dt.timedelta(minutes=rng.randrange(5, 90))
        resolved = (
            dispatched + _hours(rng.expovariate(1 / (INCIDENT_SLA_HOURS[category] * 0.7)))
            if rng.random() < 0.93
            else None
        )
        reporter = rng.choice(people) if people and source in ("resident_report", "hotline_12345") else None
        incident = {
            "incident_id": f"GI{events.day:%Y%m%d}{code}{n:04d}",
            "source": source,
            "category": category,
            "community_code": code,
            "grid_code": rng.choice(grids),
            "reporter_id_number": reporter.id_number if reporter else None,
            "reported_at": reported,
            "dispatched_at": dispatched,
            "resolved_at": resolved,
            "closed_at": resolved + dt.timedelta(minutes=rng.randrange(10, 600)) if resolved else None,
            "reopened": rng.random() < 0.04,
        }
        events.incidents.append(incident)
        events.person[incident["incident_id"]] = reporter


def _case(rng: random.Random, events: DayEvents, code: str, n: int, applicant: Resident) -> dict:
    service_type = _service_type(rng, applicant)
    channel = rng.choices(CHANNELS, (0.5, 0.35, 0.15))[0]
    submitted = _moment(rng, events.day, 8, 18) if channel != "app" else _moment(rng, events.day, 0, 24)
    accepted = submitted + dt.timedelta(minutes=rng.randrange(3, 240))
    low, high = SERVICE_HOURS[service_type]
    completed = accepted + _hours(rng.uniform(low, high)) if rng.random() < 0.9 else None
    visits = rng.choices((1, 2, 3), (0.75, 0.2, 0.05))[0] if channel != "app" else rng.choices((0, 1), (0.8, 0.2))[0]
    return {
        "case_id": f"SC{events.day:%Y%m%d}{code}{n:04d}",
        "applicant_id_number": applicant.id_number,
        "applicant_name": applicant.name,
        "service_type": service_type,
        "channel": channel,
        "window_no": f"W{rng.randrange(1, 13):02d}" if channel == "window" else None,
        "community_code": code,
        "submitted_at": submitted,
        "accepted_at": accepted,
        "completed_at": completed,
        "materials_count": rng.randrange(1, 7),
        "visits": visits,
        "resubmitted": rng.random() < (0.25 if visits > 1 else 0.03),
    }


def _steps(rng: random.Random, events: DayEvents, case: dict) -> None:
    start = case["accepted_at"]
    end = case["completed_at"]
    departments = rng.sample(APPROVAL_DEPARTMENTS, rng.randrange(1, 4))
    for number, department in enumerate(departments, start=1):
        finished = start + (end - start) * rng.uniform(0.3, 0.95) if end else None
        if finished is None and number < len(departments):
            finished = start + _hours(rng.uniform(1, 48))
        step = {
            "case_id": case["case_id"],
            "step_no": number,
            "department": department,
            "started_at": start,
            "finished_at": finished,
            "result": (rng.choices(("通过", "退回"), (0.93, 0.07))[0] if finished else "办理中"),
        }
        events.steps.append(step)
        events.person[f"{case['case_id']}/{number}"] = events.person[case["case_id"]]


def _complaints(rng: random.Random, events: DayEvents, code: str, people: list[Resident], start: int) -> None:
    cases = [c for c in events.cases[start:] if c["community_code"] == code]
    incidents = [i for i in events.incidents if i["community_code"] == code]
    for n in range(_count(rng, max(1.0, len(people) * 0.0008))):
        caller = rng.choice(people)
        link = rng.random()
        created = _moment(rng, events.day, 7, 23)
        responded = created + _hours(rng.uniform(0.2, 24))
        closed = responded + _hours(rng.uniform(1, 96)) if rng.random() < 0.9 else None
        complaint = {
            "complaint_id": f"HC{events.day:%Y%m%d}{code}{n:04d}",
            "caller_id_number": caller.id_number if rng.random() < 0.8 else None,
            "caller_phone": caller.phone,
            "category": rng.choice(COMPLAINT_CATEGORIES),
            "community_code": code,
            "linked_case_id": rng.choice(cases)["case_id"] if cases and link < 0.4 else None,
            "linked_incident_id": rng.choice(incidents)["incident_id"] if incidents and 0.4 <= link < 0.7 else None,
            "created_at": created,
            "responded_at": responded,
            "closed_at": closed,
        }
        events.complaints.append(complaint)
        events.person[complaint["complaint_id"]] = caller


def _score(rng: random.Random, hours: float, limit: float) -> int:
    base = 4.6 if hours <= limit else 3.2
    return min(5, max(1, round(rng.gauss(base, 0.9))))


def _surveys(rng: random.Random, events: DayEvents) -> None:
    """Surveys are sent right after a case or incident closes on the day itself, and answered that day."""
    n = 0
    for case in events.cases:
        if case["completed_at"] and case["completed_at"].date() == events.day and rng.random() < 0.6:
            hours = (case["completed_at"] - case["submitted_at"]).total_seconds() / 3600
            low, high = SERVICE_HOURS[case["service_type"]]
            _survey(rng, events, n, case, "case_id", case["completed_at"], _score(rng, hours, (low + high) / 2))
            n += 1
    for incident in events.incidents:
        resolved = incident["resolved_at"]
        if resolved and resolved.date() == events.day and events.person[incident["incident_id"]] and rng.random() < 0.6:
            hours = (incident["resolved_at"] - incident["reported_at"]).total_seconds() / 3600
            score = _score(rng, hours, INCIDENT_SLA_HOURS[incident["category"]])
            _survey(rng, events, n, incident, "incident_id", incident["resolved_at"], score)
            n += 1


def _survey(
    rng: random.Random, events: DayEvents, n: int, subject: dict, key: str, after: dt.datetime, score: int
) -> None:
    survey = {
        "survey_id": f"SV{events.day:%Y%m%d}{n:06d}",
        "case_id": subject[key] if key == "case_id" else None,
        "incident_id": subject[key] if key == "incident_id" else None,
        "community_code": subject["community_code"],
        "respondent_id_number": events.person[subject[key]].id_number,
        "score": score,
        "channel": rng.choice(SURVEY_CHANNELS),
        "surveyed_at": min(after + _hours(rng.uniform(0.1, 3)), dt.datetime.combine(events.day, dt.time(23, 59, 59))),
    }
    events.surveys.append(survey)
    events.person[survey["survey_id"]] = events.person[subject[key]]


def _participation(rng: random.Random, events: DayEvents, code: str, people: list[Resident]) -> None:
    adults = [p for p in people if p.age >= 14]
    if not adults:
        return
    rows: list[tuple[Resident, dict]] = []
    if rng.random() < 0.4:  # a 居民议事厅 meeting
        meeting = f"MT{events.day:%Y%m%d}{code}"
        items = [(f"{meeting}-{k}", rng.random() < 0.65) for k in range(1, rng.randrange(2, 5))]
        for k, person in enumerate(rng.sample(adults, min(len(adults), rng.randrange(5, 16)))):
            item_id, resolved = items[k] if k < len(items) else (None, None)
            row = {"activity_type": "议事", "meeting_id": meeting, "item_id": item_id, "item_resolved": resolved}
            rows.append((person, {**row, "volunteer_hours": None, "time_bank_points": None}))
    for _ in range(_count(rng, max(2.0, len(people) * 0.002))):
        hours = rng.choice((1, 1.5, 2, 3, 4))
        rows.append(
            (
                rng.choice(adults),
                {
                    "activity_type": "志愿服务",
                    "meeting_id": None,
                    "item_id": None,
                    "item_resolved": None,
                    "volunteer_hours": hours,
                    "time_bank_points": int(hours * 10),
                },
            )
        )
    for n, (person, row) in enumerate(rows):
        record = {
            "record_id": f"CP{events.day:%Y%m%d}{code}{n:04d}",
            "community_code": code,
            "activity_date": events.day,
            **row,
            "name": person.name,
            "birth_date": person.birth_date,
            "phone": person.phone,
        }
        events.participation.append(record)
        events.person[record["record_id"]] = person


def city(groups: dict[str, list[Resident]]) -> list[Community]:
    """The city's communities: those `groups` holds (by_community lists every one), in code order."""
    return [community for community in reference_geography() if community.code in groups]


def day_events(groups: dict[str, list[Resident]], seed: int, day: dt.date) -> DayEvents:
    """Everything that happened on `day` (depends on the seed, the world and the day only)."""
    rng = random.Random(f"{seed}|{day.isoformat()}|events")
    events = DayEvents(day)
    for community in city(groups):
        people = groups[community.code]
        _incidents(rng, events, community.code, people, community.grids)
        start = len(events.cases)
        for n in range(_count(rng, max(3.0, len(people) * 0.003)) if people else 0):
            applicant = rng.choice(people)
            case = _case(rng, events, community.code, n, applicant)
            events.cases.append(case)
            events.person[case["case_id"]] = applicant
        for case in events.cases[start:]:
            _steps(rng, events, case)
        if people:
            _complaints(rng, events, community.code, people, start)
            _participation(rng, events, community.code, people)
    _surveys(rng, events)
    return events


def resources(groups: dict[str, list[Resident]], seed: int, day: dt.date) -> list[dict]:
    """community_resources for the month of `day`: funds month-to-date and staff (one snapshot per day)."""
    month = day.replace(day=1)
    elapsed = day.day / calendar.monthrange(day.year, day.month)[1]
    rows: list[dict] = []
    for community in city(groups):
        rng = random.Random(f"{seed}|{month.isoformat()}|{community.code}|resources")
        people = len(groups[community.code])
        for project in PROJECTS:
            allocated = rng.randrange(20, 200) * 1000
            pace = rng.uniform(0.5, 1.1)
            spent = round(allocated * min(1.0, elapsed * pace), 2)
            rows.append(
                {
                    "record_type": "经费",
                    "community_code": community.code,
                    "period_month": month,
                    "project_name": project,
                    "allocated_amount": allocated,
                    "spent_amount": spent,
                }
            )
        for n in range(max(2, round(people / rng.uniform(280, 420)))):
            rows.append(
                {
                    "record_type": "人员",
                    "community_code": community.code,
                    "period_month": month,
                    "staff_id": f"ST{community.code}{n:04d}",
                    "staff_role": STAFF_ROLES[min(n, 4)],
                    "monthly_salary": rng.randrange(4500, 9000),
                    "training_hours": round(rng.uniform(0, 8) * elapsed, 1),
                }
            )
    return rows
