"""Evaluate a suite's GX checks on one staging day or one mart table with Great Expectations 1.x.

An ephemeral context per task (a `Session`): nothing about the warehouse (DSN, password) is
written to disk, and a task's suites share one context, datasource and SQLAlchemy engine (one
connection pool, one compiled-statement cache) instead of building them again per suite.
Results keep counts and aggregates only (`partial_unexpected_count: 0`), so neither
the audit tables nor the Data Docs carry values from rows. Each validation's GX result is kept
for its day's Data Docs site, built once for the day by `grassroots.quality.data_docs`.
"""

from __future__ import annotations

import datetime as dt
import logging
import os

from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from sqlalchemy.engine import URL

from grassroots.quality import data_docs
from grassroots.quality.audit import CheckResult
from grassroots.quality.suites import Check

log = logging.getLogger(__name__)
RESULT_FORMAT = {"result_format": "SUMMARY", "partial_unexpected_count": 0, "include_unexpected_rows": False}
URL_VARIABLE = "GRASSROOTS_GX_WAREHOUSE_URL"


def sqlalchemy_url(dsn: str) -> str:
    """A libpq DSN (URL or key=value; TCP or Unix-socket host) as a SQLAlchemy psycopg2 URL."""
    params = conninfo_to_dict(dsn)
    host = str(params.get("host") or "localhost")
    socket = host.startswith("/")
    query = {"host": host, "port": str(params.get("port") or 5432)} if socket else {}
    if params.get("options"):  # the session role (grassroots.warehouse.db.role_dsn)
        query["options"] = str(params["options"])
    url = URL.create(
        "postgresql+psycopg2",
        username=params.get("user"),
        password=params.get("password") or None,
        host=None if socket else host,
        port=None if socket else int(params.get("port") or 5432),
        database=params.get("dbname"),
        query=query,
    )
    return url.render_as_string(hide_password=False)


def _context(dsn: str):
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    # GX substitutes ${VAR} when it connects: the URL (and password) stays out of its config, and a
    # Unix-socket URL (embedded server) is not refused by its URL validation.
    os.environ[URL_VARIABLE] = sqlalchemy_url(dsn)
    return context, context.data_sources.add_postgres("warehouse", connection_string="${" + URL_VARIABLE + "}")


def _suite(name: str, checks: list[Check]):
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    suite = gx.ExpectationSuite(name=name)
    for check in checks:
        config = ExpectationConfiguration(
            type=check.type, kwargs=dict(check.kwargs), meta={"check_id": check.id, "severity": check.severity}
        )
        suite.add_expectation(config.to_domain_obj())
    return suite


class Session:
    """One ephemeral GX context and warehouse datasource for the validations of one task.

    Each validation still gets a suite, validation definition and checkpoint of its own, named as
    before (a name used again in the session, e.g. one feed on two days, replaces the earlier one),
    so results, run ids and Data Docs keep one validation per suite.
    """

    def __init__(self, dsn: str) -> None:
        self.context, self.datasource = _context(dsn)
        self._suites: set[str] = set()  # suite names validated in this session

    def _asset(self, schema: str, table: str, ds: dt.date | None):
        name = table if ds is None else f"{table}_{ds:%Y%m%d}"
        if name in self.datasource.get_asset_names():  # the same table (or feed-day) validated again
            self.datasource.delete_asset(name)
        if ds is None:
            return self.datasource.add_table_asset(name=name, table_name=table, schema_name=schema)
        # A query asset, not a daily partition of the table: a day with no rows (a rejected or
        # duplicate delivery) is still a batch, with zero rows, rather than "no batch found".
        query = sql.SQL("select * from {} where _ds = {}").format(sql.Identifier(schema, table), sql.Literal(ds))
        return self.datasource.add_query_asset(name=name, query=query.as_string(None))

    def _forget(self, suite_name: str) -> None:
        """Drop an earlier validation of suite_name from the context (its names are reused)."""
        if suite_name not in self._suites:
            return
        self.context.checkpoints.delete(f"{suite_name}.checkpoint")
        self.context.validation_definitions.delete(suite_name)
        self.context.suites.delete(suite_name)

    def run_checks(
        self,
        suite_name: str,
        checks: list[Check],
        schema: str,
        table: str,
        site_day: dt.date,
        ds: dt.date | None = None,
    ) -> list[CheckResult]:
        """Validate `schema.table` (only rows with `_ds = ds` when ds is given) for site_day's Data Docs."""
        import great_expectations as gx

        if not checks:
            return []
        context = self.context
        self._forget(suite_name)
        batch = self._asset(schema, table, ds).add_batch_definition_whole_table("batch")
        suite = context.suites.add(_suite(suite_name, checks))
        self._suites.add(suite_name)
        validation = context.validation_definitions.add(
            gx.ValidationDefinition(name=suite_name, data=batch, suite=suite)
        )
        checkpoint = context.checkpoints.add(
            gx.Checkpoint(
                name=f"{suite_name}.checkpoint",
                validation_definitions=[validation],
                actions=[],
                result_format=RESULT_FORMAT,
            )
        )
        outcome = checkpoint.run()
        for key, result in outcome.run_results.items():
            data_docs.keep_result(site_day, context, suite, key, result)
        results = [_result(r) for run in outcome.run_results.values() for r in run.results]
        log.info(
            "suite %s on %s.%s: %d checks, %d failed",
            suite_name,
            schema,
            table,
            len(results),
            sum(not r.success for r in results),
        )
        return results


def run_checks(
    dsn: str,
    suite_name: str,
    checks: list[Check],
    schema: str,
    table: str,
    site_day: dt.date,
    ds: dt.date | None = None,
) -> list[CheckResult]:
    """One validation in a session of its own (see `Session.run_checks`)."""
    if not checks:
        return []
    return Session(dsn).run_checks(suite_name, checks, schema, table, site_day, ds)


def _observed(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)[:500]
    return str(value)[:500]


def _exception(info: object) -> str | None:
    """The first exception message in GX's exception_info (flat, or keyed by metric)."""
    if not isinstance(info, dict):
        return None
    if "raised_exception" in info:
        return info.get("exception_message") if info.get("raised_exception") else None
    return next((m for m in map(_exception, info.values()) if m), None)


def _result(validation_result) -> CheckResult:
    config = validation_result.expectation_config
    meta = config.meta or {}
    result = dict(validation_result.result or {})
    error = _exception(validation_result.exception_info)
    return CheckResult(
        check_id=str(meta.get("check_id", config.type)),
        engine="gx",
        expectation_type=config.type,
        column_name=config.kwargs.get("column"),
        severity=str(meta.get("severity", "fail")),
        success=bool(validation_result.success),
        observed_value=_observed(result.get("observed_value")),
        element_count=result.get("element_count"),
        unexpected_count=result.get("unexpected_count"),
        unexpected_percent=result.get("unexpected_percent"),
        detail=str(error)[:500] if error else None,
    )
