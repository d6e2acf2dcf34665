"""grassroots: the data warehouse for community governance (369 grassroots plan).

One subpackage per concern, in the order data flows:

- `generator`      seeded synthetic feeds of the twelve departments, the truth beside them, and the
                   departments' fake HTTP API (`generator.feed_server`)
- `loading`        feed contracts, readers, field checks, pseudonymisation; files into `staging`
- `warehouse`      connections, bootstrap, roles and grants, advisory locks, dbt invocation
- `quality`        delivery checks, GX suites, dbt results, write-audit-publish, the auditor report
- `scoring`        resident risk clusters, tiers with reasons, the grid workers' watchlist, tier KPIs
- `reports`        KPI pages and the scorecard
- `orchestration`  Airflow glue for the DAGs in `dags/`
- `local`          the command line, the embedded PostgreSQL, the demo day, a real local Airflow

`settings` (where things live, read from the environment and dbt_project.yml) is used by all.
"""

__version__ = "0.1.0"
