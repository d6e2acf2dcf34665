"""Departments' paginated HTTP JSON APIs: a localhost server for generated pages, and the client."""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
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


def _get_json(url: str, timeout: float, retries: int, backoff: float) -> dict:
    for attempt in range(1, retries + 1):
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (http only)
                return json.load(response)
        except urllib.error.HTTPError as exc:
            if exc.code < 500 or attempt == retries:
                raise
        except (urllib.error.URLError, TimeoutError):
            if attempt == retries:
                raise
        log.warning("GET %s failed (attempt %d of %d); retrying", url.split("?")[0], attempt, retries)
        time.sleep(backoff * attempt)
    raise AssertionError("unreachable")


def fetch_to_jsonl(
    base_url: str, api_path: str, day: str, target: Path, *, timeout: float = 10, retries: int = 3, backoff: float = 0.5
) -> int:
    """Fetch every page of a day and write the records as JSON lines to target; return the record count."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".part")
    count, page, pages = 0, 1, 1
    with tmp.open("w", encoding="utf-8", newline="\n") as out:
        while page <= pages:
            query = urllib.parse.urlencode({"date": day, "page": page})
            body = _get_json(f"{base_url.rstrip('/')}{api_path}?{query}", timeout, retries, backoff)
            pages = int(body["pages"])
            for record in body["data"]:
                out.write(json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n")
                count += 1
            page += 1
    tmp.replace(target)
    return count
