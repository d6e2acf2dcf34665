"""Expectation suites as plain data: defaults generated from feed contracts, overridden by expectations/*.yml."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from grassroots import settings
from grassroots.loading.contracts import Contract, all_contracts

SEVERITIES = ("fail", "warn")
# libyaml's parser when PyYAML was built with it (same documents, a tenth of the time: every
# validate_marts reads the 19 mart files), the pure-Python one otherwise.
YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# Checks computed from the load ledger and quarantine (not by GX): their `type`s. Row counts come
# from the ledger, not staging: a re-sent identical snapshot is a duplicate delivery (rows received,
# none loaded), which is not a missing feed.
ROW_COUNT_CHANGE = "row_count_change_at_most"
# What makes a delivery unusable (fail severity): nothing loaded, a file lost, the columns drifted,
# a column emptied, a snapshot shrunk, values stopped parsing in bulk. See grassroots.quality.checks.
DELIVERY_CHECKS = (
    "quarantine_share_at_most",
    "delivery_loaded",
    "files_complete",
    "columns_delivered",
    "columns_not_emptied",
    "row_count_drop_at_most",
    "delta_volume_plausible",
    "numeric_scale_stable",
)
LOAD_CHECKS = ("id_validity_rate_at_least", ROW_COUNT_CHANGE, "rows_received_at_least", *DELIVERY_CHECKS)
# A snapshot that loses more than this share of yesterday's rows is a truncated delivery, not churn.
SNAPSHOT_MAX_DROP = 0.2
# Values that stop parsing in bulk: above this share of a day's records quarantined (and at least
# MIN_QUARANTINED of them, so that one bad row of a feed's three is a quarantined row, not a
# broken delivery) the day is held.
MAX_QUARANTINE_SHARE = 0.05
MIN_QUARANTINED = 5


class SuiteError(ValueError):
    """An expectations file that does not describe a usable suite."""


@dataclass(frozen=True)
class Check:
    """One expectation: a stable id, the GX expectation type (or a load check), its kwargs and severity."""

    id: str
    type: str
    kwargs: dict = field(default_factory=dict)
    severity: str = "fail"

    @property
    def engine(self) -> str:
        """Who evaluates it: `load` (ledger/quarantine) or `gx` (Great Expectations)."""
        return "load" if self.type in LOAD_CHECKS else "gx"


@dataclass(frozen=True)
class Suite:
    """The checks for one feed's staging day or one mart table."""

    name: str
    kind: str  # feed | model
    target: str  # feed name, or mart model name
    checks: tuple[Check, ...]

    def by_engine(self, engine: str) -> list[Check]:
        """Checks one engine evaluates."""
        return [c for c in self.checks if c.engine == engine]


def expectations_dir() -> Path:
    """Where suite files live: GRASSROOTS_EXPECTATIONS_DIR, else <project>/expectations."""
    import os

    return Path(os.environ.get("GRASSROOTS_EXPECTATIONS_DIR", settings.project_root() / "expectations"))


def default_feed_checks(contract: Contract) -> list[Check]:
    """What every feed's staging day must satisfy, derived from its contract alone."""
    columns = [name for name, _ in contract.staging_columns()]
    not_null = "expect_column_values_to_not_be_null"
    checks = [
        Check("schema", "expect_table_columns_to_match_set", {"column_set": columns, "exact_match": True}),
        Check("delivery.loaded", "delivery_loaded"),
        Check("delivery.files_complete", "files_complete"),
        Check("drift.columns", "columns_delivered"),
        Check("drift.emptied", "columns_not_emptied"),
        Check("drift.scale", "numeric_scale_stable", {"max_factor": 20, "min_values": 5}),
    ]
    if contract.load_mode == "snapshot":
        checks.append(Check("row_count.min", "rows_received_at_least", {"min_rows": 1}, "warn"))
        checks.append(Check("row_count.drop", "row_count_drop_at_most", {"max_drop": SNAPSHOT_MAX_DROP}))
    else:
        checks.append(Check("row_count.improbable", "delta_volume_plausible", {"days": 7}))
    checks.append(Check("row_count.change", ROW_COUNT_CHANGE, {"max_change": 0.5}, "warn"))
    for column in contract.columns:
        if column.required:
            checks.append(Check(f"not_null.{column.name}", not_null, {"column": column.name}))
        if column.accepted:
            checks.append(
                Check(
                    f"accepted_values.{column.name}",
                    "expect_column_values_to_be_in_set",
                    {"column": column.name, "value_set": list(column.accepted)},
                )
            )
    for id_column, key_column in contract.key_columns:
        validity = {"column": id_column, "min_rate": 0.98}
        checks.append(Check(f"id_validity.{id_column}", "id_validity_rate_at_least", validity, "warn"))
        required = next(c.required for c in contract.columns if c.name == id_column)
        if required:
            checks.append(Check(f"not_null.{key_column}", not_null, {"column": key_column}))
    checks.append(
        Check(
            "quarantine_share",
            "quarantine_share_at_most",
            {"max_share": MAX_QUARANTINE_SHARE, "min_records": MIN_QUARANTINED},
        )
    )
    checks += _key_checks(contract)
    return checks


def _key_checks(contract: Contract) -> list[Check]:
    """Uniqueness of the primary key within the day, on the pseudonymous key where the key is an ID number."""
    key_of = dict(contract.key_columns)
    key = [key_of.get(c, c) for c in contract.primary_key]
    if not key:
        return []
    if len(key) == 1:
        return [Check(f"unique.{key[0]}", "expect_column_values_to_be_unique", {"column": key[0]})]
    return [Check(f"unique.{'+'.join(key)}", "expect_compound_columns_to_be_unique", {"column_list": key})]


def _check_from(raw: dict, base: Check | None, source: str) -> Check | None:
    if raw.get("disabled"):
        return None
    kind = raw.get("type", base.type if base else None)
    severity = raw.get("severity", base.severity if base else "fail")
    if not kind or severity not in SEVERITIES:
        raise SuiteError(f"{source}: expectation {raw.get('id')!r} needs a type and severity fail|warn")
    kwargs = {**(base.kwargs if base else {}), **(raw.get("kwargs") or {})}
    return Check(str(raw["id"]), str(kind), kwargs, str(severity))


def merge(name: str, kind: str, target: str, defaults: list[Check], raw: dict | None, source: str) -> Suite:
    """Defaults, then the file's expectations by id: same id overrides (or `disabled: true` drops), new id adds."""
    checks = {c.id: c for c in defaults}
    for item in (raw or {}).get("expectations", []) or []:
        if "id" not in item:
            raise SuiteError(f"{source}: every expectation needs an id")
        check = _check_from(item, checks.get(str(item["id"])), source)
        if check is None:
            checks.pop(str(item["id"]), None)
        else:
            checks[check.id] = check
    return Suite(name, kind, target, tuple(checks.values()))


def _read(path: Path) -> dict | None:
    if not path.exists():
        return None
    with path.open(encoding="utf-8") as fh:
        return yaml.load(fh, Loader=YAML_LOADER) or {}


def feed_suite(contract: Contract, folder: Path | None = None) -> Suite:
    """A feed's suite: contract defaults + expectations/feeds/<feed>.yml."""
    path = (folder or expectations_dir()) / "feeds" / f"{contract.feed}.yml"
    return merge(f"feed.{contract.feed}", "feed", contract.feed, default_feed_checks(contract), _read(path), path.name)


def feed_suites(folder: Path | None = None) -> dict[str, Suite]:
    """One suite per feed contract (a contract without a file still gets its defaults)."""
    return {feed: feed_suite(contract, folder) for feed, contract in all_contracts().items()}


def mart_suites(folder: Path | None = None) -> dict[str, Suite]:
    """One suite per file expectations/marts/<model>.yml, checked on the model's unpublished build."""
    suites = {}
    for path in sorted(((folder or expectations_dir()) / "marts").glob("*.yml")):
        suites[path.stem] = merge(f"model.{path.stem}", "model", path.stem, [], _read(path), path.name)
    return suites
