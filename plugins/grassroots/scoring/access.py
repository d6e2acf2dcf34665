"""The grid workers' watchlist: masked names built in a restricted step, rows limited to one's community.

- Names exist only in `staging.population_registry`. `scoring.masked_resident_names(date)` is the
  one path from there to scoring: a SECURITY DEFINER function that returns the person key and the
  masked name (surname + '*', e.g. 张*), executable by its owner and the `scorer` role only. Python never reads a name.
  It is owned by `load_owner`, the owner of the table it reads (never by the warehouse login: a
  definer function must not be more privileged than what it reads), with `search_path` pinned to
  pg_catalog and every name schema-qualified; no less trusted role can create or replace anything
  in `staging` (grassroots.loading.owner_functions).
- `scoring.watchlist` holds the WATCHLIST_TIERS residents per day (the scored days of the last
  `store.DETAIL_DAYS` up to the latest, like scores and reasons): person key, masked name,
  community, grid, tier, reasons. Row-level security is enabled and forced; role `grid_worker`
  (a group role: each grid worker's login is a member) sees only rows of the communities mapped
  to its login in `scoring.grid_worker_community` (role name → community code).
- `ensure_grid_worker_access` creates all of it idempotently, as the warehouse login, in the
  bootstrap (grassroots.warehouse.bootstrap); the scoring task (role `scorer`) only fills the list and may
  call the masked-name function, nothing else of staging.
"""

from __future__ import annotations

import datetime as dt

import psycopg
from psycopg import sql

from grassroots.scoring.model import WATCHLIST_TIERS, tier_rank
from grassroots.scoring.store import DETAIL_DAYS
from grassroots.warehouse.security import LOAD_OWNER, create_role

GRID_WORKER_ROLE = "grid_worker"
# Made here by the warehouse login; the other scoring tables belong to the scorer that writes them.
LOGIN_RELATIONS = ("grid_worker_community", "watchlist", "watchlist_latest")

_DDL = (
    """create table if not exists scoring.grid_worker_community (
        role_name text not null, community_code text not null, primary key (role_name, community_code))""",
    """create table if not exists scoring.watchlist (
        ds date not null, person_key char(64) not null, masked_name text not null, community_code text not null,
        grid_code text, risk_tier text not null, tier_rank integer not null, reasons text[] not null,
        reasons_en text[] not null, primary key (ds, person_key))""",
    "create index if not exists watchlist__community on scoring.watchlist (community_code, ds)",
    "alter table scoring.watchlist enable row level security",
    "alter table scoring.watchlist force row level security",
    "drop policy if exists watchlist_maintainer on scoring.watchlist",
    # The roles that build the list: the scorer, and the owner (subject to RLS because it is forced).
    "create policy watchlist_maintainer on scoring.watchlist for all to scorer, current_user "
    "using (true) with check (true)",
    "drop policy if exists watchlist_own_community on scoring.watchlist",
    """create policy watchlist_own_community on scoring.watchlist for select to grid_worker using (
        community_code in (select m.community_code from scoring.grid_worker_community as m
                           where m.role_name = current_user))""",
    """create or replace view scoring.watchlist_latest with (security_invoker = true) as
        select * from scoring.watchlist where ds = (select max(ds) from scoring.watchlist)""",
    "revoke all on scoring.watchlist, scoring.watchlist_latest, scoring.grid_worker_community from public",
    "grant usage on schema scoring to grid_worker",
    "grant select on scoring.watchlist, scoring.watchlist_latest, scoring.grid_worker_community to grid_worker",
    "grant usage on schema scoring to scorer",
    "grant select, insert, delete on scoring.watchlist to scorer",
    "grant select on scoring.grid_worker_community to scorer",
)

_MASKED_NAMES = """
create or replace function scoring.masked_resident_names(as_of date)
returns table (person_key char(64), masked_name text)
language sql stable security definer set search_path = pg_catalog, pg_temp as $$
    select distinct on (p.person_key) p.person_key, coalesce(pg_catalog.left(p.name, 1), '') operator(pg_catalog.||) '*'
    from staging.population_registry as p
    where p._ds = (select pg_catalog.max(q._ds) from staging.population_registry as q where q._ds <= as_of)
      and p.person_key is not null
    order by p.person_key, p._batch_id desc, p._row_no desc
$$"""


def ensure_grid_worker_access(conn: psycopg.Connection) -> None:
    """Idempotent: role grid_worker, the mapping table, the watchlist with forced RLS, the masked-name function.

    Run by the bootstrap (the `scorer` role must exist: security.ensure_roles)."""
    create_role(conn, GRID_WORKER_ROLE)
    conn.execute("create schema if not exists scoring")
    for statement in _DDL:
        conn.execute(statement)
    conn.execute(_MASKED_NAMES)
    _give_to_load_owner(conn, "scoring.masked_resident_names(date)")
    conn.execute("revoke all on function scoring.masked_resident_names(date) from public")
    conn.execute("grant execute on function scoring.masked_resident_names(date) to scorer")


def _give_to_load_owner(conn: psycopg.Connection, function: str) -> None:
    """Make load_owner own a function of `scoring`. The new owner of a function needs CREATE on its
    schema at that moment; load_owner gets it for the statement only and keeps none in `scoring`."""
    owner = conn.execute("select pg_get_userbyid(proowner) from pg_proc where oid = %s::regprocedure", (function,))
    if owner.fetchone()[0] == LOAD_OWNER:
        return
    role = sql.Identifier(LOAD_OWNER)
    with conn.transaction():
        conn.execute(sql.SQL("grant create on schema scoring to {}").format(role))
        conn.execute(sql.SQL("alter function " + function + " owner to {}").format(role))  # a constant signature
        conn.execute(sql.SQL("revoke create on schema scoring from {}").format(role))


def map_grid_worker(conn: psycopg.Connection, role: str, community_code: str, login: bool = False) -> None:
    """Make `role` a grid worker of `community_code` (creates the role, nologin unless asked)."""
    create_role(conn, role, login)
    conn.execute(sql.SQL("grant {} to {}").format(sql.Identifier(GRID_WORKER_ROLE), sql.Identifier(role)))
    conn.execute(
        "insert into scoring.grid_worker_community values (%s, %s) on conflict do nothing", (role, community_code)
    )


def refresh_watchlist(conn: psycopg.Connection, ds: dt.date) -> int:
    """Replace the day's watchlist from the day's tiers and reasons that store.write_residents left in
    the session (pg_temp.resident_day and reason_day: scoring keeps reasons for recent days only, and
    an earlier day scored again gets its list too); return its row count."""
    conn.execute("delete from scoring.watchlist where ds = %s", (ds,))
    cursor = conn.execute(
        "insert into scoring.watchlist (ds, person_key, masked_name, community_code, grid_code, risk_tier, "
        "tier_rank, reasons, reasons_en) "
        "select %s, r.person_key, coalesce(n.masked_name, '*'), r.community_code, r.grid_code, r.risk_tier, "
        "r.tier_rank, s.reasons, s.reasons_en "
        "from pg_temp.resident_day as r inner join pg_temp.reason_day as s on s.reason_set = r.reason_set "
        "left join scoring.masked_resident_names(%s) as n on n.person_key = r.person_key where r.tier_rank <= %s",
        (ds, ds, max(tier_rank(t) for t in WATCHLIST_TIERS)),
    )
    # Like scores and reasons, the lists of the DETAIL_DAYS up to the latest scored day are kept:
    # at a million residents a day's list is ~30 MB. Whatever the order days are scored in.
    conn.execute(
        "delete from scoring.watchlist where ds <= (select max(ds) from scoring.model_run) - %s", (DETAIL_DAYS,)
    )
    return cursor.rowcount
