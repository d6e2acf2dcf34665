"""The local runner: the command line, the embedded PostgreSQL, the demo day and a real local Airflow.

`cli` is `python -m grassroots` (`generate`, `demo`, `db`, `airflow`, …). `project_env` sets the
project-local environment for Airflow, dbt and GX before Airflow is imported; `embedded` starts the
project's own PostgreSQL when `WAREHOUSE_DSN` is unset. `pipeline` runs the three daily DAGs for a
day through Airflow's `dag.test`, in the order their Assets dictate; `airflow_stack` starts the
real services (api-server, scheduler, dag-processor, triggerer, Celery workers). `console` prints
one line per stage; `summary` says what a run built (row counts, table checksums, a few KPIs).
"""
