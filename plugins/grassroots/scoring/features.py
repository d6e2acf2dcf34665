"""Resident features for risk clustering, read from the warehouse; every feature points towards risk."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import psycopg
from psycopg import sql

# Residents as the warehouse knew them on a day (dbt model fct_resident_features, one as_of_date per build).
RESIDENTS = ("warehouse", "fct_resident_features")
PENSION_REFERENCE_YUAN = 3000  # roughly a city's average monthly urban employee pension
ELDERLY_AGE = 65  # retirement ages vary (50–60): a missing pension just after 60 is often not yet claimed
RECENT_DAYS = 30  # dbt var recent_days (dbt_project.yml): the window of recent_incidents/recent_complaints
_NULL = "\\N"  # NULL in the COPY stream, so that an empty grid code stays an empty string


class MissingWarehouseColumnError(RuntimeError):
    """A feature needs a warehouse column that does not exist (the message names it)."""


def _yuan(value: float) -> str:
    return f"{value:,.0f}"


@dataclass(frozen=True)
class Feature:
    """One feature: where it comes from, how it is computed, how much it weighs, how a person reads it.

    Every feature is defined so that a higher value means more need (e.g. pension shortfall, not
    pension). `weight` scales the standardised feature in the clustering space and in the cluster
    risk score; `reason(value)` is the (Chinese, English) sentence a grid worker reads.
    `relation`/`columns` are the warehouse columns it needs; `expression` is an SQL template whose
    `{c0}`, `{c1}` … are those columns.
    """

    name: str
    relation: tuple[str, str]
    columns: tuple[str, ...]
    expression: str
    weight: float
    label_zh: str
    label_en: str
    reason: Callable[[float], tuple[str, str]]

    def sql(self) -> sql.Composable:
        """The feature's SQL expression over the feature query's aliases."""
        refs = {f"c{i}": sql.Identifier("r", column) for i, column in enumerate(self.columns)}
        return sql.SQL(self.expression).format(
            **refs, reference=sql.Literal(PENSION_REFERENCE_YUAN), elderly=sql.Literal(ELDERLY_AGE)
        )


def _pension_reason(shortfall: float) -> tuple[str, str]:
    if shortfall >= PENSION_REFERENCE_YUAN:
        return "老年人无养老金", "older resident without a pension"
    pension = _yuan(PENSION_REFERENCE_YUAN - shortfall)
    return f"养老金偏低（{pension}元/月）", f"low pension ({pension} yuan a month)"


SPEC = (
    Feature("age", RESIDENTS, ("age",), "coalesce({c0}, 0)::float8", 1.0, "年龄", "age",
            lambda v: (f"高龄（{v:.0f}岁）", f"aged {v:.0f}")),
    Feature("on_assistance", RESIDENTS, ("on_assistance",), "coalesce({c0}, false)::int::float8", 1.0,
            "领取社会救助", "receives social assistance",
            lambda _: ("领取低保/特困/临时救助", "receives social assistance (低保/特困/临时救助)")),
    # Collinear with on_assistance: half weight so that assistance is not counted twice.
    Feature("assistance_amount", RESIDENTS, ("assistance_amount",), "coalesce({c0}, 0)::float8", 0.5,
            "救助金额", "assistance amount",
            lambda v: (f"救助金额较高（{_yuan(v)}元/月）", f"high assistance amount ({_yuan(v)} yuan a month)")),
    Feature("pension_shortfall", RESIDENTS, ("age", "pension_monthly"),
            "case when coalesce({c0}, 0) >= {elderly} then greatest(0, {reference} - coalesce({c1}, 0)) "
            "else 0 end::float8", 1.0, "养老金缺口", "pension shortfall", _pension_reason),
    Feature("attention_level", RESIDENTS, ("attention_level",), "coalesce({c0}, 0)::float8", 1.0,
            "关注等级", "attention level",
            lambda v: (f"重点关注人员（关注等级{v:.0f}）", f"on the attention list (level {v:.0f})")),
    Feature("lives_alone", RESIDENTS, ("lives_alone",), "coalesce({c0}, false)::int::float8", 1.0,
            "独居", "lives alone", lambda _: ("独居", "lives alone")),
    # Half weight: chronic disease is common among all older residents (about a third of those over
    # 60), so on its own it says less about need; the same for a disability certificate.
    Feature("has_chronic_disease", RESIDENTS, ("has_chronic_disease",), "coalesce({c0}, false)::int::float8", 0.5,
            "慢性病", "chronic disease", lambda _: ("患有慢性病", "has a chronic disease")),
    # Grade 1 is the most severe disability, 4 the mildest; none scores 0.
    Feature("disability_severity", RESIDENTS, ("disability_grade",),
            "case when {c0} between 1 and 4 then 5 - {c0} else 0 end::float8", 0.5, "残疾", "disability",
            lambda v: (f"持残疾证（{5 - v:.0f}级）", f"disability certificate, grade {5 - v:.0f}")),
    # Counted by the warehouse over dbt's var('recent_days') days up to the run day. Quarter weight:
    # reports and complaints show contact with services more than need.
    Feature("recent_incidents", RESIDENTS, ("recent_incidents",), "coalesce({c0}, 0)::float8", 0.25,
            "近期上报事件", "recent incident reports",
            lambda v: (f"近{RECENT_DAYS}天上报事件{v:.0f}次", f"reported {v:.0f} incidents in {RECENT_DAYS} days")),
    Feature("recent_complaints", RESIDENTS, ("recent_complaints",), "coalesce({c0}, 0)::float8", 0.25,
            "近期投诉", "recent complaints",
            lambda v: (f"近{RECENT_DAYS}天12345投诉{v:.0f}次", f"{v:.0f} hotline complaints in {RECENT_DAYS} days")),
)  # fmt: skip
BY_NAME = {feature.name: feature for feature in SPEC}

# The features the model uses. A feature listed here whose column is missing fails the run
# (MissingWarehouseColumnError); it is never dropped silently.
FEATURES: tuple[str, ...] = tuple(f.name for f in SPEC)


@dataclass
class FeatureTable:
    """Residents in person_key order: identity columns as object arrays (a missing grid is None)
    and their feature values as one float matrix, a row per resident, columns in `names` order."""

    names: tuple[str, ...]
    person_keys: np.ndarray
    communities: np.ndarray
    grids: np.ndarray
    values: np.ndarray


def needed_columns(names: tuple[str, ...]) -> dict[tuple[str, str], set[str]]:
    """(schema, table) → columns the features and the resident identity need."""
    needed: dict[tuple[str, str], set[str]] = {RESIDENTS: {"person_key", "community_code", "grid_code"}}
    for name in names:
        feature = BY_NAME[name]
        needed.setdefault(feature.relation, set()).update(feature.columns)
    return needed


def check_columns(conn: psycopg.Connection, names: tuple[str, ...]) -> None:
    """Raise MissingWarehouseColumnError naming every missing column and the feature that needs it."""
    missing = []
    for (schema, table), columns in sorted(needed_columns(names).items()):
        present = {
            row[0]
            for row in conn.execute(
                "select column_name from information_schema.columns where table_schema = %s and table_name = %s",
                (schema, table),
            )
        }
        for column in sorted(columns - present):
            users = [n for n in names if BY_NAME[n].relation == (schema, table) and column in BY_NAME[n].columns]
            missing.append(f"{schema}.{table}.{column} (feature {', '.join(users) or 'resident identity'})")
    if missing:
        raise MissingWarehouseColumnError(
            "risk scoring needs warehouse columns that do not exist: "
            + "; ".join(missing)
            + ". Build them in dbt, or take the feature out of grassroots.scoring.features.FEATURES."
        )


def feature_query(names: tuple[str, ...], as_of: sql.Composable) -> sql.Composed:
    """One row per resident as of `as_of`: person_key, community_code, grid_code, then the features in order."""
    features = [BY_NAME[n] for n in names]
    return sql.SQL(
        "select r.person_key, r.community_code, r.grid_code, {columns} from {residents} as r "
        "where r.as_of_date = {as_of} and r.person_key is not null order by r.person_key"
    ).format(
        columns=sql.SQL(", ").join(sql.SQL("{} as {}").format(f.sql(), sql.Identifier(f.name)) for f in features),
        residents=sql.Identifier(*RESIDENTS),
        as_of=as_of,
    )


def load(conn: psycopg.Connection, ds: dt.date, names: tuple[str, ...] = FEATURES) -> FeatureTable:
    """Check the columns, then read every resident's features as of `ds` (the build of ds wrote them).

    The rows come as one CSV stream (COPY TO) parsed by Arrow's CSV reader straight into arrays: a
    Python tuple per resident cost seconds at a million. PostgreSQL writes a float8 in its shortest
    exact form and Arrow parses it back to the same double (correctly rounded, as float() does;
    pandas' C reader does so only with float_precision="round_trip", at twice the time), so the
    values are those a row-by-row fetch gives."""
    import pyarrow as pa
    from pyarrow import csv

    check_columns(conn, names)
    query = sql.SQL("copy ({}) to stdout (format csv, header, null {})").format(
        feature_query(names, sql.Literal(ds)), sql.Literal(_NULL)
    )
    buffer = io.BytesIO()
    with conn.cursor().copy(query) as copy:
        for chunk in copy:
            buffer.write(chunk)
    buffer.seek(0)
    identity = ("person_key", "community_code", "grid_code")
    types = {**dict.fromkeys(identity, pa.string()), **dict.fromkeys(names, pa.float64())}
    # COPY quotes a value equal to the NULL marker, so only the unquoted marker is NULL ("" stays "").
    table = csv.read_csv(
        buffer,
        read_options=csv.ReadOptions(encoding=conn.info.encoding),
        convert_options=csv.ConvertOptions(
            column_types=types, null_values=[_NULL], strings_can_be_null=True, quoted_strings_can_be_null=False
        ),
    )
    person_keys, communities, grids = (table.column(c).to_numpy(zero_copy_only=False) for c in identity)
    # Row-major, as np.array(rows) was: the column means, and so the centroids, depend on the summation order.
    values = np.column_stack([table.column(name).to_numpy() for name in names])
    return FeatureTable(names, person_keys, communities, grids, values)
