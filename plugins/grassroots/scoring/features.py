"""Resident features for risk clustering: what each means and weighs; dbt computes their values."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import psycopg
from psycopg import sql

from grassroots import settings

# The features of every resident as of a day, one column per feature (dbt model
# fct_resident_risk_features, which holds their formulas; one as_of_date per warehouse build).
RESIDENTS = ("warehouse", "fct_resident_risk_features")
IDENTITY = ("person_key", "community_code", "grid_code")
# The dbt vars the formulas use, for the sentences a grid worker reads (dbt_project.yml owns them).
PENSION_REFERENCE_YUAN = int(settings.dbt_var("pension_reference_yuan"))
RECENT_DAYS = int(settings.dbt_var("recent_days"))
_NULL = "\\N"  # NULL in the COPY stream, so that an empty grid code stays an empty string


class MissingWarehouseColumnError(RuntimeError):
    """A feature needs a warehouse column that does not exist (the message names it)."""


def _yuan(value: float) -> str:
    return f"{value:,.0f}"


@dataclass(frozen=True)
class Feature:
    """One feature: how much it weighs and how a person reads it; its value is the column of
    fct_resident_risk_features with its name.

    Every feature is defined so that a higher value means more need (e.g. pension shortfall, not
    pension). `weight` scales the standardised feature in the clustering space and in the cluster
    risk score; `reason(value)` is the (Chinese, English) sentence a grid worker reads.
    """

    name: str
    weight: float
    label_zh: str
    label_en: str
    reason: Callable[[float], tuple[str, str]]


def _pension_reason(shortfall: float) -> tuple[str, str]:
    if shortfall >= PENSION_REFERENCE_YUAN:
        return "老年人无养老金", "older resident without a pension"
    pension = _yuan(PENSION_REFERENCE_YUAN - shortfall)
    return f"养老金偏低（{pension}元/月）", f"low pension ({pension} yuan a month)"


SPEC = (
    Feature("age", 1.0, "年龄", "age", lambda v: (f"高龄（{v:.0f}岁）", f"aged {v:.0f}")),
    Feature(
        "on_assistance",
        1.0,
        "领取社会救助",
        "receives social assistance",
        lambda _: ("领取低保/特困/临时救助", "receives social assistance (低保/特困/临时救助)"),
    ),
    # Collinear with on_assistance: half weight so that assistance is not counted twice.
    Feature(
        "assistance_amount",
        0.5,
        "救助金额",
        "assistance amount",
        lambda v: (f"救助金额较高（{_yuan(v)}元/月）", f"high assistance amount ({_yuan(v)} yuan a month)"),
    ),
    Feature("pension_shortfall", 1.0, "养老金缺口", "pension shortfall", _pension_reason),
    Feature(
        "attention_level",
        1.0,
        "关注等级",
        "attention level",
        lambda v: (f"重点关注人员（关注等级{v:.0f}）", f"on the attention list (level {v:.0f})"),
    ),
    Feature("lives_alone", 1.0, "独居", "lives alone", lambda _: ("独居", "lives alone")),
    # Half weight: chronic disease is common among all older residents (about a third of those over
    # 60), so on its own it says less about need; the same for a disability certificate.
    Feature("has_chronic_disease", 0.5, "慢性病", "chronic disease", lambda _: ("患有慢性病", "has a chronic disease")),
    # Grade 1 is the most severe disability, 4 the mildest: the feature is 5 - grade, none scores 0.
    Feature(
        "disability_severity",
        0.5,
        "残疾",
        "disability",
        lambda v: (f"持残疾证（{5 - v:.0f}级）", f"disability certificate, grade {5 - v:.0f}"),
    ),
    # Quarter weight: reports and complaints show contact with services more than need.
    Feature(
        "recent_incidents",
        0.25,
        "近期上报事件",
        "recent incident reports",
        lambda v: (f"近{RECENT_DAYS}天上报事件{v:.0f}次", f"reported {v:.0f} incidents in {RECENT_DAYS} days"),
    ),
    Feature(
        "recent_complaints",
        0.25,
        "近期投诉",
        "recent complaints",
        lambda v: (f"近{RECENT_DAYS}天12345投诉{v:.0f}次", f"{v:.0f} hotline complaints in {RECENT_DAYS} days"),
    ),
)
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


def check_columns(conn: psycopg.Connection, names: tuple[str, ...]) -> None:
    """Raise MissingWarehouseColumnError naming every missing column (a feature's, or the resident's identity)."""
    schema, table = RESIDENTS
    present = {
        row[0]
        for row in conn.execute(
            "select column_name from information_schema.columns where table_schema = %s and table_name = %s",
            (schema, table),
        )
    }
    missing = [f"{schema}.{table}.{column} (resident identity)" for column in IDENTITY if column not in present]
    missing += [f"{schema}.{table}.{name} (feature {name})" for name in names if name not in present]
    if missing:
        raise MissingWarehouseColumnError(
            "risk scoring needs warehouse columns that do not exist: "
            + "; ".join(missing)
            + ". Compute them in dbt (fct_resident_risk_features), or take the feature out of "
            "grassroots.scoring.features.FEATURES."
        )


def feature_query(names: tuple[str, ...], as_of: sql.Composable) -> sql.Composed:
    """One row per resident as of `as_of`: person_key, community_code, grid_code, then the features in order."""
    return sql.SQL("select {columns} from {residents} where as_of_date = {as_of} order by person_key").format(
        columns=sql.SQL(", ").join(map(sql.Identifier, (*IDENTITY, *names))),
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
    types = {**dict.fromkeys(IDENTITY, pa.string()), **dict.fromkeys(names, pa.float64())}
    # COPY quotes a value equal to the NULL marker, so only the unquoted marker is NULL ("" stays "").
    table = csv.read_csv(
        buffer,
        read_options=csv.ReadOptions(encoding=conn.info.encoding),
        convert_options=csv.ConvertOptions(
            column_types=types, null_values=[_NULL], strings_can_be_null=True, quoted_strings_can_be_null=False
        ),
    )
    person_keys, communities, grids = (table.column(c).to_numpy(zero_copy_only=False) for c in IDENTITY)
    # Row-major, as np.array(rows) was: the column means, and so the centroids, depend on the summation order.
    values = np.column_stack([table.column(name).to_numpy() for name in names])
    return FeatureTable(names, person_keys, communities, grids, values)
