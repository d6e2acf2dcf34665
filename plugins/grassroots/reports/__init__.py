"""Pages people read: KPI pages per district (`kpi_pages`), the leaders' scorecard (`scorecard`).

Both are offline static HTML with inline SVG charts; `webfont` embeds a subset of the vendored
CJK font (`fonts/`) so that Chinese text renders on a machine without one. The markup is in
`templates/`; `templating` is the project's one Jinja environment (autoescaped), which the
auditor's data-quality report (`grassroots.quality.report`, templates of its own) uses too.
"""
