"""grassroots.warehouse.dbt_runner.invoke, the one way the project runs dbt: the partition day reaches the
models through dbt's own environment for the call, never the process's; a new day re-parses only
what reads it; dbt refuses to parse without a day."""

from __future__ import annotations

import datetime as dt
import os

from grassroots.warehouse.dbt_runner import DS_VARIABLE, dbt_args, invoke

DAY = dt.date(2026, 11, 24)


def test_dbt_reads_the_day_while_the_process_environment_stays_as_it_was() -> None:
    """Checked at every event dbt fires during the call, not only after it."""
    before = dict(os.environ)
    unchanged: list[bool] = []
    result = invoke(
        "parse",
        DAY,
        dsn="host=localhost dbname=unused",
        callbacks=[lambda _event: unchanged.append(dict(os.environ) == before)],
    )
    assert result.success, result.exception
    assert result.result.env_vars[DS_VARIABLE] == DAY.isoformat()  # what the run_day macro read
    assert unchanged and all(unchanged)
    assert dict(os.environ) == before


def test_a_new_day_does_not_reparse_the_whole_project() -> None:
    """dbt parses the whole project again when --vars change; the day is not one of them."""
    assert invoke("parse", DAY, dsn="host=localhost dbname=unused").success
    events: list[str] = []
    result = invoke(
        "parse",
        DAY + dt.timedelta(days=1),
        dsn="host=localhost dbname=unused",
        callbacks=[lambda event: events.append(event.info.name)],
    )
    assert result.success, result.exception
    assert events and "UnableToPartialParse" not in events  # what dbt says when --vars changed


def test_dbt_refuses_to_parse_without_a_partition_day() -> None:
    from dbt.cli.main import dbtRunner

    assert DS_VARIABLE not in os.environ
    result = dbtRunner().invoke(dbt_args("parse"))
    assert not result.success
    assert DS_VARIABLE in str(result.exception)
