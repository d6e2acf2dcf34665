"""Departments' paginated HTTP JSON APIs, faked: a localhost server for the generator's pages.

Pages live under `<root>/<day>/_api/<feed>/page-NNNN.json`; the server answers
`/api/<feed>?date=YYYY-MM-DD&page=N` with them, or 404. The bounded client that pulls them is
`grassroots.loading.feed_client`.
"""

from __future__ import annotations

import logging
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

log = logging.getLogger(__name__)


class _Handler(BaseHTTPRequestHandler):
    root: Path

    def do_GET(self) -> None:  # noqa: N802 (http.server API)
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        parts = url.path.strip("/").split("/")
        try:
            day = query["date"][0]
            page = int(query.get("page", ["1"])[0])
            if len(parts) != 2 or parts[0] != "api" or not parts[1].isidentifier():
                raise ValueError
        except (KeyError, ValueError):
            self.send_error(400, "expected /api/<feed>?date=YYYY-MM-DD&page=N")
            return
        path = self.root / day / "_api" / parts[1] / f"page-{page:04d}.json"
        if not path.resolve().is_relative_to(self.root.resolve()) or not path.exists():
            self.send_error(404, "no such page")
            return
        body = path.read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        log.debug(format, *args)


def serve(root: Path, host: str = "127.0.0.1", port: int = 0) -> tuple[ThreadingHTTPServer, str]:
    """Serve generated API pages under root on a background thread; return (server, base URL)."""
    handler = type("Handler", (_Handler,), {"root": root})
    server = ThreadingHTTPServer((host, port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://{host}:{server.server_address[1]}"
