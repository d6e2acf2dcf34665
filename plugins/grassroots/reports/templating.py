"""The one way the project writes HTML: Jinja templates from a folder, every one of them autoescaped."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jinja2 import Environment

# The KPI pages and the scorecard (the auditor's report keeps its templates in grassroots/quality).
REPORTS = Path(__file__).parent / "templates"


@functools.cache
def environment(folder: Path = REPORTS) -> Environment:
    """A Jinja environment over the templates in `folder`.

    Autoescape is on for every template whatever its name (*.html.j2 and *.svg.j2:
    select_autoescape(["html"]) misses them), so a value is text unless the code marks it
    markupsafe.Markup; block tags take their line with them (trim_blocks, lstrip_blocks).
    """
    from jinja2 import Environment, FileSystemLoader

    return Environment(loader=FileSystemLoader(folder), autoescape=True, trim_blocks=True, lstrip_blocks=True)


def page(title: str, style: str, body: str, script: str | None = None) -> str:
    """A whole page (REPORTS/_page.html.j2) around a rendered body. `style`, `body` and `script`
    are the code's own markup, inserted as they are; the title is text."""
    from markupsafe import Markup

    return (
        environment()
        .get_template("_page.html.j2")
        .render(title=title, style=Markup(style), body=Markup(body), script=Markup(script) if script else None)
    )
