"""Seeded synthetic department feeds for all twelve feeds, with planted dirt and the truth beside them.

The world (geography, residents and their circumstances) depends only on the seed and the
number of residents; each day's events and deliveries depend on the seed, the world and the
day, so generating the same day twice writes the same bytes (xlsx included: fixed document
and zip times). Layout: `<out>/<ds>/<feed>/<files>`, API pages in
`<out>/<ds>/_api/<feed>/page-NNNN.json`, truth in `<out>/_truth/<ds>.json` and
`<out>/_truth/<ds>.identity.csv` (feed, file, line → real person's ID number, "" for none).

Formats: population_registry CSV GBK (gb18030) · social_assistance xlsx · pension_insurance
and service_applications paginated JSON API · health_records, grid_incidents,
community_participation CSV UTF-8 · disability_registry, satisfaction_surveys CSV UTF-8 with
BOM · approval_steps, hotline_complaints JSON lines · community_resources CSV GBK.

Where each defect lands (`Dirt` switches each one; `Dirt.none()` gives clean feeds):
- ID numbers with lower-case x, full-width digits, 15-digit legacy form (born 19xx): any ID
  column of any feed, population_registry included; they must load normalised.
- wrong check digit (`id_check_digit`) and invalid values (`date_format`, `phone_format`,
  `accepted_values`, `required`), at most one per row: every feed except population_registry
  (the registry is the resident base) and community_resources; the row is quarantined.
- four date forms (2026-11-01, 2026/11/1, 20261101, 2026年11月1日): each department has its
  habit, and `date_formats` mixes the others in; they load.
- no ID number: community_participation identifies people by name + birth date + phone (always).
- late rows: the six event feeds carry events from up to three days before ds (they load).
- renamed column: health_records sends 身份证号 as 证件号码, a known alias (loads).
- drifted column: grid_incidents_<day>_supplement.csv says 上报时间(北京时间) (file: unknown_column).
- duplicate delivery: grid_incidents_<day>_resend.csv, a copy of the day's file (duplicate_delivery).
- truncated file: satisfaction_surveys_<day>_supplement.csv cut mid-line (truncated_file).
- non-UTF-8 file: community_participation_<day>_supplement.csv written in GBK (encoding).
- empty file: approval_steps_<day>_supplement.jsonl, 0 bytes (empty_file).
Whole-file defects only hit supplementary files of delta feeds: every feed still loads its
main file. Every event lives in the same world: the same residents apply, report, complain,
answer surveys and volunteer.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from grassroots.generator.day import generate_day
from grassroots.generator.dirt import Dirt
from grassroots.generator.feeds import EventSource
from grassroots.generator.world import Community, Resident, build_world, by_community, geography

__all__ = ["Community", "Dirt", "Resident", "build_world", "generate", "generate_day", "geography"]


def generate(
    out_dir: Path, start: dt.date, days: int, n_residents: int, seed: int, dirt: Dirt | None = None
) -> list[dict]:
    """Generate `days` consecutive days from `start`; return each day's truth.

    A truth's KPIs hold right after its day's build; once later days are built, a day's KPIs also
    count its records delivered late with them: compare against scenarios.expected_kpis then.
    """
    dirt = Dirt() if dirt is None else dirt
    residents = build_world(n_residents, seed)
    source = EventSource(by_community(residents), seed, dirt.late_rows)
    return [generate_day(out_dir, start + dt.timedelta(days=i), residents, seed, dirt, source) for i in range(days)]
