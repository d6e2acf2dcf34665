"""The truth beside the feeds: who is behind each record, where each defect must end, the true KPIs."""

from __future__ import annotations

import csv
import datetime as dt
import statistics
from collections import Counter, defaultdict
from pathlib import Path

from grassroots.generator.events import INCIDENT_SLA_HOURS, PROACTIVE_SOURCES, DayEvents
from grassroots.generator.world import Resident, reference_geography

NO_PERSON = ""
ELDERLY_AGE = 60  # dbt var elderly_age: the *_by_age KPI tables' elderly group is this age or older on the day
FILE_KINDS = {"drifted_column", "duplicate_delivery", "truncated_file", "wrong_encoding", "empty_file"}


class Tracker:
    """Accumulates, while files are written, what the loader must do with every record."""

    def __init__(self, identity_path: Path) -> None:
        identity_path.parent.mkdir(parents=True, exist_ok=True)
        self._identity_file = identity_path.open("w", encoding="utf-8", newline="")
        self.identity = csv.writer(self._identity_file, lineterminator="\n")
        self.identity.writerow(["feed", "file", "line", "person_id"])
        self.defects: list[dict] = []
        self.files: dict[str, list[dict]] = defaultdict(list)
        self.loaded_keys: dict[str, set[str]] = defaultdict(set)

    def close(self) -> None:
        """Flush the identity file."""
        self._identity_file.close()

    def open_file(self, feed: str, name: str, rule: str | None = None, line: int = 0) -> dict:
        """Start the account of one delivered file; `rule` set when the whole file must be quarantined."""
        entry = {
            "file": name,
            "received": 0,
            "loaded": 0,
            "quarantined": 0,
            "rule": rule,
            "line": line if rule else None,
        }
        self.files[feed].append(entry)
        return entry

    def defect(
        self, feed: str, file: str, line: int, column: str | None, kind: str, rule: str | None, **extra: object
    ) -> None:
        """One planted defect and where it must end: loaded (rule None) or quarantined with `rule`.

        level: row (quarantine.rows or a staging row), header (the file loads) or file (quarantine.files).
        """
        level = "row" if line > 1 and kind not in FILE_KINDS else ("file" if kind in FILE_KINDS else "header")
        self.defects.append(
            {
                "feed": feed,
                "file": file,
                "line": line,
                "column": column,
                "kind": kind,
                "level": level,
                "expected": "quarantined" if rule else "loaded",
                "rule": rule,
                **extra,
            }
        )

    def row(
        self, feed: str, entry: dict, line: int, person: Resident | None, key: str | None, rule: str | None
    ) -> None:
        """One delivered record: who it is and whether it must load."""
        self.identity.writerow([feed, entry["file"], line, person.id_number if person else NO_PERSON])
        entry["received"] += 1
        if rule or entry["rule"]:
            entry["quarantined"] += 1
            return
        entry["loaded"] += 1
        if key:
            self.loaded_keys[feed].add(key)

    def feed_totals(self) -> dict[str, dict]:
        """Per feed: files, rows received, expected loaded and expected quarantined."""
        return {
            feed: {
                "files": files,
                "received": sum(f["received"] for f in files),
                "loaded": sum(f["loaded"] for f in files),
                "quarantined": sum(f["quarantined"] for f in files),
            }
            for feed, files in sorted(self.files.items())
        }


def percentile(values: list[float], fraction: float) -> float:
    """Linear interpolation between closest ranks (PostgreSQL percentile_cont)."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _hours(start: dt.datetime, end: dt.datetime) -> float:
    return (end - start).total_seconds() / 3600


def _ratio(part: float, whole: float, scale: float = 1) -> float | None:
    return round(part * scale / whole, 4) if whole else None


def proactive_discovery(incidents: list[dict]) -> dict[str, dict]:
    """问题发现率 per community (only communities with incidents)."""
    counts: dict[str, Counter] = defaultdict(Counter)
    for incident in incidents:
        counts[incident["community_code"]]["incidents"] += 1
        counts[incident["community_code"]]["proactive"] += incident["source"] in PROACTIVE_SOURCES
    return {
        code: {
            "incidents": c["incidents"],
            "proactive_incidents": c["proactive"],
            "proactive_discovery_rate": round(c["proactive"] / c["incidents"], 4),
        }
        for code, c in sorted(counts.items())
    }


def handling_efficiency(incidents: list[dict]) -> dict[str, dict]:
    """处理效率 per community: median hours report→resolved (resolved ones), share resolved within SLA (all)."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for incident in incidents:
        groups[incident["community_code"]].append(incident)
    result = {}
    for code, items in sorted(groups.items()):
        hours = [_hours(i["reported_at"], i["resolved_at"]) for i in items if i["resolved_at"]]
        within = sum(
            h <= INCIDENT_SLA_HOURS[i["category"]]
            for i in items
            if i["resolved_at"]
            for h in [_hours(i["reported_at"], i["resolved_at"])]
        )
        result[code] = {
            "incidents": len(items),
            "resolved": len(hours),
            "median_hours_to_resolve": round(statistics.median(hours), 4) if hours else None,
            "resolved_within_sla": within,
            "within_sla_share": _ratio(within, len(items)),
        }
    return result


def satisfaction(surveys: list[dict]) -> dict[str, dict]:
    """群众满意度 per community: mean score and share scoring 4–5."""
    groups: dict[str, list[int]] = defaultdict(list)
    for survey in surveys:
        groups[survey["community_code"]].append(survey["score"])
    return {
        code: {
            "responses": len(s),
            "mean_score": round(sum(s) / len(s), 4),
            "share_4_5": round(sum(v >= 4 for v in s) / len(s), 4),
        }
        for code, s in sorted(groups.items())
    }


def age_on(birth: dt.date, day: dt.date) -> int:
    """Completed years on `day` (PostgreSQL's extract(year from age(day, birth)))."""
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def age_group(person: Resident, day: dt.date) -> str:
    """The person's age group on the day, as the *_by_age KPI tables name it (every resident is in the registry)."""
    return "elderly" if age_on(person.birth_date, day) >= ELDERLY_AGE else f"under_{ELDERLY_AGE}"


def satisfaction_by_age(surveys: list[dict], person: dict[str, Resident | None]) -> dict[str, dict]:
    """群众满意度 per community and age group of the respondent on the survey day (`all` too)."""
    groups: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for survey in surveys:
        group = age_group(person[survey["survey_id"]], survey["surveyed_at"].date())
        for name in ("all", group):
            groups[survey["community_code"]][name].append(survey["score"])
    return {
        code: {
            name: {
                "responses": len(s),
                "mean_score": round(sum(s) / len(s), 4),
                "share_4_5": round(sum(v >= 4 for v in s) / len(s), 4),
            }
            for name, s in sorted(by_age.items())
        }
        for code, by_age in sorted(groups.items())
    }


def digital_channel_by_age(cases: list[dict], person: dict[str, Resident | None]) -> dict[str, dict]:
    """平台使用率 per community and age group of the applicant on the submission day (`all` too)."""
    counts: dict[str, dict[str, Counter]] = defaultdict(lambda: defaultdict(Counter))
    for case in cases:
        group = age_group(person[case["case_id"]], case["submitted_at"].date())
        for name in ("all", group):
            counts[case["community_code"]][name]["cases"] += 1
            counts[case["community_code"]][name]["app_cases"] += case["channel"] == "app"
    return {
        code: {
            name: {
                "cases": c["cases"],
                "app_cases": c["app_cases"],
                "digital_channel_share": _ratio(c["app_cases"], c["cases"]),
            }
            for name, c in sorted(by_age.items())
        }
        for code, by_age in sorted(counts.items())
    }


def service_duration(cases: list[dict]) -> dict[str, dict]:
    """办事时长 per community and service type: median and p90 hours submitted→completed (completed cases)."""
    groups: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for case in cases:
        if case["completed_at"]:
            groups[case["community_code"]][case["service_type"]].append(
                _hours(case["submitted_at"], case["completed_at"])
            )
    return {
        code: {
            kind: {
                "completed": len(h),
                "median_hours": round(percentile(h, 0.5), 4),
                "p90_hours": round(percentile(h, 0.9), 4),
            }
            for kind, h in sorted(types.items())
        }
        for code, types in sorted(groups.items())
    }


def case_shares(cases: list[dict], complaints: list[dict], population: dict[str, int]) -> dict[str, dict]:
    """一次办结率, 平台使用率 and 投诉率 per community (every community)."""
    result = {}
    for code, residents in sorted(population.items()):
        mine = [c for c in cases if c["community_code"] == code]
        done = [c for c in mine if c["completed_at"]]
        one_visit = sum(c["visits"] <= 1 and not c["resubmitted"] for c in done)
        app = sum(c["channel"] == "app" for c in mine)
        complained = sum(c["community_code"] == code for c in complaints)
        result[code] = {
            "cases": len(mine),
            "completed": len(done),
            "one_visit_completed": one_visit,
            "one_visit_completion_rate": _ratio(one_visit, len(done)),
            "app_cases": app,
            "digital_channel_share": _ratio(app, len(mine)),
            "complaints": complained,
            "residents": residents,
            "complaints_per_1000_residents": _ratio(complained, residents, 1000),
            "complaints_per_100_cases": _ratio(complained, len(mine), 100),
        }
    return result


def community_engagement(rows: list[dict], people: dict[str, set[str]], population: dict[str, int]) -> dict[str, dict]:
    """参与率 and 协商事项解决率 per community."""
    result = {}
    for code, residents in sorted(population.items()):
        items = {r["item_id"]: r["item_resolved"] for r in rows if r["community_code"] == code and r["item_id"]}
        resolved = sum(bool(v) for v in items.values())
        participants = len(people.get(code, ()))
        result[code] = {
            "participants": participants,
            "residents": residents,
            "participation_rate": _ratio(participants, residents),
            "items_raised": len(items),
            "items_resolved": resolved,
            "deliberation_resolution_rate": _ratio(resolved, len(items)),
        }
    return result


def resources_kpis(rows: list[dict], population: dict[str, int]) -> dict[str, dict]:
    """资金使用效率 (spent / allocated, month to date) and 人员配置 (residents per staff member)."""
    result = {}
    for code, residents in sorted(population.items()):
        funds = [r for r in rows if r["community_code"] == code and r["record_type"] == "经费"]
        staff = sum(r["community_code"] == code and r["record_type"] == "人员" for r in rows)
        allocated = sum(r["allocated_amount"] for r in funds)
        spent = round(sum(r["spent_amount"] for r in funds), 2)
        result[code] = {
            "allocated": allocated,
            "spent": spent,
            "fund_utilisation": _ratio(spent, allocated),
            "staff": staff,
            "residents": residents,
            "residents_per_staff": _ratio(residents, staff),
        }
    return result


def day_kpis(events: DayEvents, loaded: dict[str, set[str]], population: dict[str, int], resources: list[dict]) -> dict:
    """True KPI values for a day per community, over the day's events whose records `loaded` holds
    (feed → record keys: those loaded on the day itself, or in any usable delivery since)."""
    incidents = [i for i in events.incidents if i["incident_id"] in loaded["grid_incidents"]]
    cases = [c for c in events.cases if c["case_id"] in loaded["service_applications"]]
    complaints = [c for c in events.complaints if c["complaint_id"] in loaded["hotline_complaints"]]
    surveys = [s for s in events.surveys if s["survey_id"] in loaded["satisfaction_surveys"]]
    rows = [r for r in events.participation if r["record_id"] in loaded["community_participation"]]
    people: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        people[row["community_code"]].add(events.person[row["record_id"]].id_number)
    return {
        "proactive_discovery": proactive_discovery(incidents),
        "handling_efficiency": handling_efficiency(incidents),
        "satisfaction": satisfaction(surveys),
        "satisfaction_by_age": satisfaction_by_age(surveys, events.person),
        "digital_channel_by_age": digital_channel_by_age(cases, events.person),
        "service_duration": service_duration(cases),
        "service_cases": case_shares(cases, complaints, population),
        "community_engagement": community_engagement(rows, people, population),
        "community_resources": resources_kpis(resources, population),
    }


def area_day_kpis(
    events: DayEvents, loaded: dict[str, set[str]], population: dict[str, int], resources: list[dict]
) -> dict:
    """day_kpis per street and per district (9- and 6-digit codes side by side in each family): the
    same events pooled by the area their community belongs to, as the KPI tables' area rows are."""
    result: dict[str, dict] = defaultdict(dict)
    for level in (0, 1):  # street, district
        parent = {c.code: (c.street, c.district)[level] for c in reference_geography()}

        def moved(rows: list[dict], parent: dict[str, str] = parent) -> list[dict]:
            return [{**row, "community_code": parent[row["community_code"]]} for row in rows]

        pooled = DayEvents(
            events.day,
            incidents=moved(events.incidents),
            cases=moved(events.cases),
            steps=events.steps,
            complaints=moved(events.complaints),
            surveys=moved(events.surveys),
            participation=moved(events.participation),
            person=events.person,
        )
        residents: Counter[str] = Counter()
        for code, count in population.items():
            residents[parent[code]] += count
        for family, values in day_kpis(pooled, loaded, dict(residents), moved(resources)).items():
            result[family].update(values)
    return dict(result)
