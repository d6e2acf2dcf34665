"""Pages people read: KPI pages per district (`kpi_pages`), the leaders' scorecard (`scorecard`).

Both are offline static HTML with inline SVG charts; `webfont` embeds a subset of the vendored
CJK font (`fonts/`) so that Chinese text renders on a machine without one. The auditor's
data-quality report lives with the checks it reports, in `grassroots.quality`.
"""
