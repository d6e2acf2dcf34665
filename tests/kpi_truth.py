"""KPI values in `marts` against the generator's truth, per area (community, street, district) and day (shared by
the truth tests)."""

from __future__ import annotations

import datetime as dt

import psycopg

ROUNDING = 1.1e-4  # truth rounds half-even in Python, PostgreSQL half away from zero

# truth family → (mart, {truth key: mart column}); every mart has area_level, area_code, kpi_date.
FAMILIES = {
    "handling_efficiency": (
        "kpi_incident_handling_daily",
        {
            "incidents": "incidents",
            "resolved": "resolved_incidents",
            "median_hours_to_resolve": "median_hours_to_resolve",
            "resolved_within_sla": "resolved_within_sla",
            "within_sla_share": "within_sla_share",
        },
    ),
    "satisfaction": (
        "kpi_satisfaction_daily",
        {"responses": "responses", "mean_score": "mean_score", "share_4_5": "satisfied_share"},
    ),
    "service_cases": (
        "kpi_service_cases_daily",
        {
            "cases": "cases",
            "completed": "completed_cases",
            "one_visit_completed": "one_visit_completed_cases",
            "one_visit_completion_rate": "one_visit_completion_rate",
            "app_cases": "app_cases",
            "digital_channel_share": "digital_channel_share",
            "complaints": "complaints",
            "residents": "residents",
            "complaints_per_1000_residents": "complaints_per_1000_residents",
            "complaints_per_100_cases": "complaints_per_100_cases",
        },
    ),
    "community_engagement": (
        "kpi_community_engagement_daily",
        {
            "participants": "participants",
            "residents": "residents",
            "participation_rate": "participation_rate",
            "items_raised": "items_raised",
            "items_resolved": "items_resolved",
            "deliberation_resolution_rate": "deliberation_resolution_rate",
        },
    ),
    "community_resources": (
        "kpi_community_resources_daily",
        {
            "allocated": "allocated_amount",
            "spent": "spent_amount",
            "fund_utilisation": "fund_utilisation",
            "staff": "staff",
            "residents": "residents",
            "residents_per_staff": "residents_per_staff",
        },
    ),
}
# truth family → (mart, {truth key: mart column}): per community and age group (all, elderly, under_60),
# only where the age group has events; the truth knows every person, so the marts must have no `unknown`.
BY_AGE = {
    "satisfaction_by_age": (
        "kpi_satisfaction_by_age_daily",
        {"responses": "responses", "mean_score": "mean_score", "share_4_5": "satisfied_share"},
    ),
    "digital_channel_by_age": (
        "kpi_digital_channel_by_age_daily",
        {"cases": "cases", "app_cases": "app_cases", "digital_channel_share": "digital_channel_share"},
    ),
}


COMMUNITY = ("community",)
AREAS = ("street", "district")  # their codes (9 and 6 digits) never clash with a community's (12)


def _community_rows(
    conn: psycopg.Connection, mart: str, columns: list[str], day: dt.date, levels: tuple[str, ...] = COMMUNITY
) -> dict[str, dict]:
    query = psycopg.sql.SQL("select area_code, {} from marts.{} where area_level = any(%s) and kpi_date = %s").format(
        psycopg.sql.SQL(", ").join(map(psycopg.sql.Identifier, columns)), psycopg.sql.Identifier(mart)
    )
    return {row[0]: dict(zip(columns, row[1:], strict=True)) for row in conn.execute(query, (list(levels), day))}


def _differs(expected: object, got: object) -> bool:
    if expected is None and got is None:
        return False
    return expected is None or got is None or abs(float(expected) - float(got)) > ROUNDING


def _family_mismatches(
    conn: psycopg.Connection, truth: dict, day: dt.date, held: frozenset[str], levels: tuple[str, ...]
) -> list[str]:
    problems = []
    for family, (mart, columns) in FAMILIES.items():
        if mart in held:
            continue
        got = _community_rows(conn, mart, list(columns.values()), day, levels)
        problems += [
            f"{day} {mart} {code} {column}: truth {values[key]}, warehouse {got.get(code, {}).get(column)}"
            for code, values in truth["kpi"][family].items()
            for key, column in columns.items()
            if _differs(values[key], got.get(code, {}).get(column))
        ]
        # Sparse families list the communities with events; the others every reference community
        # (dim_geography), those without residents included: the truth lists the same ones.
        if set(got) != set(truth["kpi"][family]):
            problems.append(f"{day} {mart}: communities {sorted(set(got) ^ set(truth['kpi'][family]))} differ")
    return problems


def _duration_mismatches(
    conn: psycopg.Connection, truth: dict, day: dt.date, held: frozenset[str], levels: tuple[str, ...]
) -> list[str]:
    if "kpi_service_duration_daily" in held:
        return []
    expected = {
        (code, service): values
        for code, services in truth["kpi"]["service_duration"].items()
        for service, values in services.items()
    }
    got = {
        (row[0], row[1]): {"completed": row[2], "median_hours": row[3], "p90_hours": row[4]}
        for row in conn.execute(
            "select area_code, service_type, completed_cases, median_hours_to_complete, p90_hours_to_complete "
            "from marts.kpi_service_duration_daily where area_level = any(%s) and kpi_date = %s",
            (list(levels), day),
        )
    }
    problems = [f"{day} kpi_service_duration_daily: rows differ"] if set(got) != set(expected) else []
    return problems + [
        f"{day} kpi_service_duration_daily {key} {name}: truth {value}, warehouse {got.get(key, {}).get(name)}"
        for key, values in expected.items()
        for name, value in values.items()
        if _differs(value, got.get(key, {}).get(name))
    ]


def age_rows(
    conn: psycopg.Connection, mart: str, columns: list[str], day: dt.date, levels: tuple[str, ...] = COMMUNITY
) -> dict[tuple, dict]:
    """(community, age group) → values of a *_by_age daily mart for the day (other area levels if asked)."""
    query = psycopg.sql.SQL(
        "select area_code, age_group, {} from marts.{} where area_level = any(%s) and kpi_date = %s"
    ).format(psycopg.sql.SQL(", ").join(map(psycopg.sql.Identifier, columns)), psycopg.sql.Identifier(mart))
    return {
        (row[0], row[1]): dict(zip(columns, row[2:], strict=True)) for row in conn.execute(query, (list(levels), day))
    }


def _age_mismatches(
    conn: psycopg.Connection, truth: dict, day: dt.date, held: frozenset[str], levels: tuple[str, ...]
) -> list[str]:
    problems = []
    for family, (mart, columns) in BY_AGE.items():
        if mart in held:
            continue
        expected = {
            (code, group): values for code, groups in truth["kpi"][family].items() for group, values in groups.items()
        }
        got = age_rows(conn, mart, list(columns.values()), day, levels)
        if set(got) != set(expected):
            problems.append(f"{day} {mart}: (community, age group) rows {sorted(set(got) ^ set(expected))} differ")
        problems += [
            f"{day} {mart} {key} {column}: truth {values[name]}, warehouse {got.get(key, {}).get(column)}"
            for key, values in expected.items()
            for name, column in columns.items()
            if _differs(values[name], got.get(key, {}).get(column))
        ]
    return problems


def _discovery_mismatches(
    conn: psycopg.Connection, truth: dict, day: dt.date, held: frozenset[str], levels: tuple[str, ...]
) -> list[str]:
    if "kpi_proactive_discovery_daily" in held:
        return []
    expected = truth["kpi_proactive_discovery"]
    columns = ["incidents", "proactive_incidents", "proactive_discovery_rate"]
    got = _community_rows(conn, "kpi_proactive_discovery_daily", columns, day, levels)
    problems = [f"{day} kpi_proactive_discovery_daily: communities differ"] if set(got) != set(expected) else []
    return problems + [
        f"{day} kpi_proactive_discovery_daily {code} {name}: truth {value}, warehouse {got.get(code, {}).get(name)}"
        for code, values in expected.items()
        for name, value in values.items()
        if _differs(value, got.get(code, {}).get(name))
    ]


def kpi_mismatches(
    conn: psycopg.Connection, truth: dict, day: dt.date, held: frozenset[str] = frozenset()
) -> list[str]:
    """Every KPI value of the day that differs from the truth (beyond rounding), per community and per
    street and district, in the daily marts not listed in `held` (tables whose period of the day is
    held, so not published)."""
    areas = dict(truth["kpi_areas"])
    by_level = (
        (truth, COMMUNITY),
        ({"kpi_proactive_discovery": areas.pop("proactive_discovery"), "kpi": areas}, AREAS),
    )
    return [
        problem
        for expected, levels in by_level
        for check in (_family_mismatches, _duration_mismatches, _discovery_mismatches, _age_mismatches)
        for problem in check(conn, expected, day, held, levels)
    ]


DAILY_MARTS = frozenset(
    [mart for mart, _ in (*FAMILIES.values(), *BY_AGE.values())]
    + ["kpi_service_duration_daily", "kpi_proactive_discovery_daily"]
)
