"""GX Data Docs: one site per day holding every feed's and mart's latest validation, readable offline.

Each validation (`gx_runner.run_checks`) keeps its GX result, serialized as GX's own validation
results store keeps it, in `<day>/results/<suite>.json`; the report task builds the day's site once
from all of them (`build_site`). Building the site per validation, as a checkpoint action does, left
each day with the last validation only, and the day's feeds validate in parallel tasks.

Offline: GX's page templates load Bootstrap, bootstrap-table, jQuery, Font Awesome and its logo from
CDNs, and its index table is filled in the browser by bootstrap-table. The views here render every
table into the HTML (templates/gx/bootstrap_table.j2), style the pages with a small stylesheet of our
own (templates/gx/data_docs_custom_styles.css, which GX's page includes) and drop every external
`<link>`, `<script src>`, `<img>` and CSS `url()`: the pages load nothing from the network.

The results keep counts and aggregates only (`gx_runner.RESULT_FORMAT`), never a row's values, and
nothing about the warehouse connection.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import shutil
from pathlib import Path

from grassroots import settings

log = logging.getLogger(__name__)
SITE = "grassroots"
TEMPLATES = Path(__file__).parent / "templates" / "gx"
RESULTS = "results"
# Everything a build writes into the day's folder (GX's site beside the kept results).
SITE_ENTRIES = ("index.html", "validations", "expectations", "static")

_EXTERNAL = (
    re.compile(r"<link\b[^>]*\bhref\s*=\s*[\"']?(?:https?:)?//[^>]*>", re.IGNORECASE),
    re.compile(r"<script\b[^>]*\bsrc\s*=\s*[\"']?(?:https?:)?//[^>]*>\s*</script\s*>", re.IGNORECASE),
    re.compile(r"<img\b[^>]*\bsrc\s*=\s*[\"']?(?:https?:)?//[^>]*>", re.IGNORECASE),
)
_CSS_URL = re.compile(r"url\(\s*[\"']?(?:https?:)?//[^)]*\)", re.IGNORECASE)


def site_dir(ds: dt.date) -> Path:
    """The day's Data Docs site: <reports>/gx-data-docs/<day>/index.html."""
    return settings.reports_dir() / "gx-data-docs" / ds.isoformat()


def results_dir(ds: dt.date) -> Path:
    """Where the day's validations keep their GX results until the site is built."""
    return site_dir(ds) / RESULTS


def offline(html: str) -> str:
    """The page without anything it would fetch from another host."""
    for pattern in _EXTERNAL:
        html = pattern.sub("", html)
    return _CSS_URL.sub("none", html)


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)  # a reader (the site build) never sees half a file


def keep_result(ds: dt.date, context, suite, key, result) -> Path:
    """Keep one validation's suite and result for the day's site (the suite's file replaces its earlier one)."""
    store = context.validation_results_store
    saved = {
        "suite": suite.to_json_dict(),
        "key": list(store.key_to_tuple(key)),
        "result": store.serialize(result),
    }
    path = results_dir(ds) / f"{suite.name}.json"
    _write_atomically(path, json.dumps(saved, default=str))
    return path


def _view(name: str) -> dict:
    return {"module_name": __name__, "class_name": name}


def build_site(ds: dt.date) -> Path | None:
    """Build the day's site from every kept validation; return its index (None when nothing was validated)."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    files = sorted(results_dir(ds).glob("*.json"))
    if not files:
        return None
    root = site_dir(ds)
    for entry in SITE_ENTRIES:  # the site shows the kept validations, nothing left from an earlier build
        target = root / entry
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    store = context.validation_results_store
    for path in files:
        saved = json.loads(path.read_text(encoding="utf-8"))
        context.suites.add(gx.ExpectationSuite(**saved["suite"]))
        store.store_backend.set(tuple(saved["key"]), saved["result"])
    context.add_data_docs_site(
        SITE,
        {
            "class_name": "SiteBuilder",
            "show_how_to_buttons": False,
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(root)},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder", "view": _view("OfflineIndexPageView")},
            "site_section_builders": {
                "expectations": {"view": _view("OfflinePageView")},
                "validations": {"view": _view("OfflinePageView")},
                "profiling": "None",
            },
        },
    )
    context.build_data_docs(site_names=[SITE])
    log.info("GX Data Docs for %s: %d validations in %s", ds, len(files), root / "index.html")
    return root / "index.html"


def build_pending_sites() -> list[Path]:
    """Rebuild every day's site whose kept validations are newer than its index (a late feed validated later)."""
    built = []
    for results in sorted((settings.reports_dir() / "gx-data-docs").glob(f"*/{RESULTS}")):
        try:
            ds = dt.date.fromisoformat(results.parent.name)
        except ValueError:
            continue
        index = results.parent / "index.html"
        newest = max((p.stat().st_mtime for p in results.glob("*.json")), default=None)
        if newest is not None and (not index.exists() or index.stat().st_mtime < newest):
            page = build_site(ds)
            if page:
                built.append(page)
    return built


def _offline_view(base):
    """A GX view class whose templates come first from templates/gx and whose pages load nothing external."""
    from jinja2 import ChoiceLoader, FileSystemLoader

    class View(base):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self.env.loader = ChoiceLoader([FileSystemLoader(str(TEMPLATES)), self.env.loader])

        def render(self, document, template=None, **kwargs):
            return offline(super().render(document, template, **kwargs))

    View.__name__ = View.__qualname__ = f"Offline{base.__name__.removeprefix('DefaultJinja')}"
    return View


def __getattr__(name: str):
    # The view classes subclass GX's, imported only when a site is built (GX is slow to import).
    from great_expectations.render.view import view

    bases = {"OfflinePageView": view.DefaultJinjaPageView, "OfflineIndexPageView": view.DefaultJinjaIndexPageView}
    if name not in bases:
        raise AttributeError(name)
    cls = _offline_view(bases[name])
    globals()[name] = cls
    return cls
