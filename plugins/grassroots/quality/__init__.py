"""Data quality for auditors: GX suites per feed and mart, `audit` history, write-audit-publish, HTML report.

- `suites`      suites as data: defaults from each feed contract + expectations/*.yml
- `gx_runner`   Great Expectations 1.x (ephemeral context) on one staging day or one mart table
- `checks`      run a suite, append results and the day's load/quarantine counts to `audit`
- `dbt_results` every dbt invocation's run_results.json appended to `audit.dbt_result`
- `publish`     write-audit-publish of the `marts` schema (see its docstring)
- `report`      the auditor's HTML report per run and the index across days
"""
