"""The PostgreSQL warehouse: how to reach it, what it is made of, who may read what, and dbt.

`db` opens connections (role by role; the embedded server when `WAREHOUSE_DSN` is unset);
`schemas` names every schema once with its role, and the other lists derive from it;
`bootstrap` creates roles, schemas, grants, the load ledger, quarantine and staging tables,
idempotently; `security` owns roles, grants and row-level security; `locks` names every
advisory lock the pipeline takes; `dbt_runner` is the one function that invokes dbt for a day
and reports every node's result.
"""
