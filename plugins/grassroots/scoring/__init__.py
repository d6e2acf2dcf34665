"""Resident risk clusters: dbt-computed features, scaled KMeans, ranked tiers, reasons, registry, watchlist, KPIs."""

from grassroots.scoring.access import ensure_grid_worker_access, map_grid_worker
from grassroots.scoring.run import score_day

__all__ = ["ensure_grid_worker_access", "map_grid_worker", "score_day"]
