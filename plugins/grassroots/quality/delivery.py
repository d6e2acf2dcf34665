"""Whether a feed's delivery for a day can be used: the checks that hold what the feed feeds.

Each check reads the load ledger, quarantine and the day's staging partition, and returns an
`Outcome` whose detail names files, contract columns and rules, never a value from a row:

- delivery_loaded       at least one file of the day loaded (not missing, failed or rejected);
- files_complete        no file of the day was rejected or failed with records in it (a lost
                        file makes every number it feeds wrong; an empty file or a byte-identical
                        re-send loses nothing);
- columns_delivered     every loaded file carried every contract column, and no record carried a
                        key the contract does not know (drift: missing, unknown or renamed columns);
- columns_not_emptied   no column is entirely empty today where the reference day had it
                        filled so often that an all-empty day is not chance (p < 1e-6);
- row_count_drop_at_most  a full snapshot did not shrink by more than `max_drop` against the
                        reference day's (a truncated registry would shrink every denominator);
- delta_volume_plausible  a delta feed's day is not improbably small against its recent days
                        (Poisson lower tail below CHANCE: a file cut short).
- numeric_scale_stable  each amount's median stays within a factor of the reference day's
                        (a unit change, 元 sent as 分).
- quarantine_share_at_most  at most `max_share` of the records of the loaded files were
                        quarantined (values that stop parsing in bulk), naming the columns and rules;
                        fewer than `min_records` quarantined records never fail it (one bad row of
                        a three-row delivery is a quarantined row, not a broken delivery).

The reference day (`reference_day`) is the latest earlier day that loaded rows and passed its
feed checks, never a day that failed: a fault sent again the next day fails again.

The quarantine share has one definition, used here and in the auditor's report: records
quarantined row by row in the day's loaded files, less repeated records (`duplicate_row`), over
the records received in those files, less the same repeats. Whole files refused are counted by
files_complete, not here. `audit.load_summary` records both counts with each feed validation
(records_quarantined, records_checked) and the check records the same two (unexpected_count,
element_count); `share_text` writes the share the one way every page shows it.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass

import psycopg
from psycopg import sql

from grassroots.loading.contracts import get_contract

CHANCE = 1e-6  # an all-empty column this unlikely under yesterday's fill rate is drift, not chance


@dataclass(frozen=True)
class Outcome:
    """One evaluated delivery check: success, what was observed, how many records it concerns, why."""

    success: bool
    observed: str
    unexpected: int | None = None
    detail: str | None = None
    checked: int | None = None  # the records `unexpected` is counted among, when not the day's rows received


def share_text(part: int | None, whole: int | None) -> str:
    """A share as every report shows it: percent with one decimal ("–" without a whole)."""
    if part is None or not whole:
        return "–"
    return f"{100 * part / whole:.1f}%"


def _batches(conn: psycopg.Connection, feed: str, ds: dt.date) -> list[tuple]:
    """(file name, status, rule, rows received, rows loaded, columns present) of the day's live ledger rows."""
    return conn.execute(
        "select coalesce(file_name, ''), status, rule, rows_received, rows_loaded, columns_present "
        "from meta.load_batch where feed = %s and ds = %s and status <> 'superseded' order by batch_id",
        (feed, ds),
    ).fetchall()


def delivery_loaded(conn: psycopg.Connection, feed: str, ds: dt.date, _kwargs: dict) -> Outcome:
    """At least one file of the day is loaded."""
    batches = _batches(conn, feed, ds)
    loaded = [b for b in batches if b[1] == "loaded"]
    if loaded:
        return Outcome(True, f"{len(loaded)} file(s) loaded")
    if not batches:
        return Outcome(False, "nothing recorded", detail=f"no delivery of {feed} recorded for {ds}")
    states = ", ".join(f"{name or '-'}: {status} ({rule or 'no rule'})" for name, status, rule, *_ in batches)
    return Outcome(False, "no file loaded", detail=f"no file of {feed} loaded for {ds}: {states}")


def files_complete(conn: psycopg.Connection, feed: str, ds: dt.date, _kwargs: dict) -> Outcome:
    """No file of the day lost records (rejected with records in it, or failed)."""
    lost = [
        (name, status, rule, received)
        for name, status, rule, received, *_ in _batches(conn, feed, ds)
        if (status == "rejected" and received > 0) or status == "failed"
    ]
    if not lost:
        return Outcome(True, "no file lost")
    records = sum(received for *_, received in lost)
    detail = "; ".join(
        f"file {name}: {status}, rule {rule}, {received} record(s)" for name, status, rule, received in lost
    )
    return Outcome(False, f"{len(lost)} file(s) lost", records, detail)


def columns_delivered(conn: psycopg.Connection, feed: str, ds: dt.date, _kwargs: dict) -> Outcome:
    """Every loaded file carried every contract column; no record carried an unknown key."""
    contract = get_contract(feed)
    problems = []
    for name, status, _, _, _, present in _batches(conn, feed, ds):
        if status == "loaded" and present is not None:
            missing = [c for c in contract.column_names if c not in present]
            problems += [f"contract column {column} missing from file {name}" for column in missing]
    unknown = conn.execute(
        "select file_name, column_name, count(*) from quarantine.current_rows where feed = %s and ds = %s "
        "and rule = 'unknown_column' group by 1, 2 order by 1, 2",
        (feed, ds),
    ).fetchall()
    problems += [f"{count} record(s) of file {name} carry a key not in the contract" for name, _, count in unknown]
    if not problems:
        return Outcome(True, "columns as contracted")
    return Outcome(False, f"{len(problems)} drift(s)", sum(c for *_, c in unknown) or None, "; ".join(problems))


def reference_day(conn: psycopg.Connection, feed: str, ds: dt.date) -> dt.date | None:
    """The day today's delivery is compared with: the latest earlier day that loaded rows and
    passed its feed checks. A day that failed (emptied, cut short, rescaled) is never the
    reference, so the same fault sent again the next day fails again instead of matching it."""
    return conn.execute(
        "select max(b.ds) from meta.load_batch b join audit.latest_validation v "
        "on v.kind = 'feed' and v.target = b.feed and v.ds = b.ds and v.success "
        "where b.feed = %s and b.ds < %s and b.status = 'loaded' and b.rows_loaded > 0",
        (feed, ds),
    ).fetchone()[0]


def _fill_counts(conn: psycopg.Connection, feed: str, ds: dt.date, columns: list[str]) -> tuple[int, list[int]]:
    """(rows, non-null count per column) of the feed's staging rows of day ds."""
    counts = sql.SQL(", ").join(sql.SQL("count({})").format(sql.Identifier(c)) for c in columns)
    query = sql.SQL("select count(*), {} from {} where _ds = %s").format(counts, sql.Identifier("staging", feed))
    row = conn.execute(query, (ds,)).fetchone()
    return int(row[0]), [int(v) for v in row[1:]]


def columns_not_emptied(conn: psycopg.Connection, feed: str, ds: dt.date, _kwargs: dict) -> Outcome:
    """No optional column is entirely empty today where the reference day's fill rate makes that (almost) impossible."""
    contract = get_contract(feed)
    columns = [c.name for c in contract.columns if not c.required]
    previous = reference_day(conn, feed, ds)
    if not columns or previous is None:
        return Outcome(True, "nothing to compare")
    rows, filled = _fill_counts(conn, feed, ds, columns)
    before_rows, before_filled = _fill_counts(conn, feed, previous, columns)
    emptied = []
    for column, now, before in zip(columns, filled, before_filled, strict=True):
        share = before / before_rows if before_rows else 0.0
        if rows and now == 0 and share > 0 and (share >= 1 or rows * math.log1p(-share) < math.log(CHANCE)):
            emptied.append(f"contract column {column} is empty in all {rows} rows ({share:.0%} filled on {previous})")
    if not emptied:
        return Outcome(True, f"no column emptied (vs {previous})")
    return Outcome(False, f"{len(emptied)} column(s) emptied", rows, "; ".join(emptied))


def row_count_drop_at_most(conn: psycopg.Connection, feed: str, ds: dt.date, kwargs: dict) -> Outcome:
    """A snapshot keeps at least (1 - max_drop) of the reference day's loaded rows."""
    max_drop = float(kwargs.get("max_drop", 0.2))
    previous = reference_day(conn, feed, ds)
    loaded = dict(
        conn.execute(
            "select ds, sum(rows_loaded) from meta.load_batch where feed = %s and ds = any(%s) and status = 'loaded' "
            "group by ds",
            (feed, [ds, previous]),
        ).fetchall()
    )
    today = loaded.get(ds, 0)
    before = (previous, loaded.get(previous, 0))
    if previous is None or not before[1]:
        return Outcome(True, "no earlier snapshot")
    drop = 1 - today / before[1]
    observed = f"{drop:.4f} vs {before[0]}"
    if drop <= max_drop:
        return Outcome(True, observed)
    detail = f"snapshot has {today} rows against {before[1]} on {before[0]} ({drop:.0%} fewer; at most {max_drop:.0%})"
    return Outcome(False, observed, None, detail)


def poisson_lower_tail(observed: int, mean: float) -> float:
    """P(X <= observed) for X ~ Poisson(mean)."""
    if observed >= mean:
        return 1.0
    term = total = math.exp(-mean)
    for k in range(1, observed + 1):
        term *= mean / k
        total += term
    return min(total, 1.0)


def delta_volume_plausible(conn: psycopg.Connection, feed: str, ds: dt.date, kwargs: dict) -> Outcome:
    """A day of a delta feed is not improbably small against the feed's recent days: fewer records
    than a Poisson count with the mean of the last `days` loaded days gives with chance below
    CHANCE (a file cut short, a department that sent a tenth of its day) is a fail."""
    days = int(kwargs.get("days", 7))
    history = [
        int(r[1])
        for r in conn.execute(
            "select ds, sum(rows_received) from meta.load_batch where feed = %s and ds < %s and status = 'loaded' "
            "group by ds order by ds desc limit %s",
            (feed, ds, days),
        ).fetchall()
    ]
    today = conn.execute(
        "select coalesce(sum(rows_received), 0), count(*) from meta.load_batch "
        "where feed = %s and ds = %s and status = 'loaded'",
        (feed, ds),
    ).fetchone()
    if len(history) < 3 or not today[1]:
        return Outcome(True, "too little history" if len(history) < 3 else "nothing loaded")
    mean = sum(history) / len(history)
    chance = poisson_lower_tail(int(today[0]), mean)
    observed = f"{int(today[0])} records, mean {mean:.1f} over {len(history)} days, P={chance:.1e}"
    if chance >= CHANCE:
        return Outcome(True, observed)
    detail = (
        f"{int(today[0])} records against {mean:.1f} a day over the last {len(history)} loaded days "
        f"(chance {chance:.1e}): the delivery looks cut short"
    )
    return Outcome(False, observed, None, detail)


def _medians(conn: psycopg.Connection, feed: str, ds: dt.date, columns: list[str]) -> list[tuple[int, float | None]]:
    """(non-null count, median) per column of the feed's staging rows of day ds."""
    parts = sql.SQL(", ").join(
        sql.SQL("count({c}), percentile_cont(0.5) within group (order by {c})").format(c=sql.Identifier(c))
        for c in columns
    )
    row = conn.execute(
        sql.SQL("select {} from {} where _ds = %s").format(parts, sql.Identifier("staging", feed)), (ds,)
    ).fetchone()
    return [(int(row[2 * i]), None if row[2 * i + 1] is None else float(row[2 * i + 1])) for i in range(len(columns))]


def numeric_scale_stable(conn: psycopg.Connection, feed: str, ds: dt.date, kwargs: dict) -> Outcome:
    """No amount changed its unit: the median of each numeric contract column stays within a factor
    `max_factor` of the reference day's (yuan sent as fen is 100×), given `min_values` on both days."""
    max_factor, min_values = float(kwargs.get("max_factor", 20)), int(kwargs.get("min_values", 5))
    columns = [c.name for c in get_contract(feed).columns if c.type == "numeric"]
    previous = reference_day(conn, feed, ds)
    if not columns or previous is None:
        return Outcome(True, "nothing to compare")
    shifted = []
    for column, (n, median), (n_before, before) in zip(
        columns, _medians(conn, feed, ds, columns), _medians(conn, feed, previous, columns), strict=True
    ):
        if n < min_values or n_before < min_values or not median or not before:
            continue
        factor = abs(median / before)
        if factor > max_factor or factor < 1 / max_factor:
            shifted.append(
                f"contract column {column}: median {median:,.2f} against {before:,.2f} on {previous} "
                f"({factor:.3g}×; a unit change?)"
            )
    if not shifted:
        return Outcome(True, f"scales as on {previous}")
    return Outcome(False, f"{len(shifted)} column(s) rescaled", None, "; ".join(shifted))


def quarantine_share(conn: psycopg.Connection, feed: str, ds: dt.date) -> tuple[int, int, float]:
    """(records quarantined, records received, share) of a feed's day, by the module's one definition."""
    received, quarantined = conn.execute(
        "select coalesce(sum(rows_received), 0), coalesce(sum(rows_quarantined), 0) from meta.load_batch "
        "where feed = %s and ds = %s and status = 'loaded'",
        (feed, ds),
    ).fetchone()
    repeats = conn.execute(
        "select count(*) from quarantine.rows r join meta.load_batch b on b.batch_id = r.batch_id "
        "where r.feed = %s and r.ds = %s and r.rule = 'duplicate_row' and b.status = 'loaded'",
        (feed, ds),
    ).fetchone()[0]
    bad, total = int(quarantined) - int(repeats), int(received) - int(repeats)
    return bad, total, (bad / total if total else 0.0)


def quarantine_share_at_most(conn: psycopg.Connection, feed: str, ds: dt.date, kwargs: dict) -> Outcome:
    """At most `max_share` of the loaded files' records quarantined; the detail names the worst columns."""
    max_share, min_records = float(kwargs.get("max_share", 0.05)), int(kwargs.get("min_records", 1))
    bad, total, share = quarantine_share(conn, feed, ds)
    if share <= max_share or bad < min_records:
        return Outcome(True, share_text(bad, total), bad, checked=total)
    worst = conn.execute(
        "select coalesce(column_name, '-'), rule, count(*) from quarantine.current_rows where feed = %s and ds = %s "
        "and rule <> 'duplicate_row' group by 1, 2 order by 3 desc, 1, 2 limit 3",
        (feed, ds),
    ).fetchall()
    columns = ", ".join(f"contract column {column} rule {rule} ({count})" for column, rule, count in worst)
    detail = f"{bad} of {total} records quarantined ({share_text(bad, total)}; at most {max_share:.0%}): {columns}"
    return Outcome(False, share_text(bad, total), bad, detail, checked=total)


EVALUATORS: dict[str, Callable[[psycopg.Connection, str, dt.date, dict], Outcome]] = {
    "delivery_loaded": delivery_loaded,
    "files_complete": files_complete,
    "columns_delivered": columns_delivered,
    "columns_not_emptied": columns_not_emptied,
    "row_count_drop_at_most": row_count_drop_at_most,
    "quarantine_share_at_most": quarantine_share_at_most,
    "delta_volume_plausible": delta_volume_plausible,
    "numeric_scale_stable": numeric_scale_stable,
}
