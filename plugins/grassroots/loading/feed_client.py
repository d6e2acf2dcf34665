"""The bounded client of the departments' paginated HTTP JSON APIs (their fake server: generator.feed_server).

A pull is bounded by the contract's limits: a deadline for the whole pull, a timeout per
request, a cap on pages and on one page's bytes. A page that is not the API's envelope
(`{"data": [...], "pages": N}`), a page the API announced but does not serve (404), more
pages than the cap or a page over the byte cap stop the pull with `PullRejected` (the
capture is rejected with that rule); the deadline, other HTTP errors and connection
failures raise `PullFailed` (the feed-day failed; a retry may succeed).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import socket
import threading
import time
import urllib.parse
from pathlib import Path

from grassroots.loading.contracts import Limits

log = logging.getLogger(__name__)
READ_SIZE = 1 << 16


class PullRejected(Exception):
    """The API served something that is not a usable page: `rule`, and the page it happened on."""

    def __init__(self, rule: str, page: int, detail: str) -> None:
        super().__init__(f"{rule} at page {page}: {detail}")
        self.rule, self.page, self.detail = rule, page, detail


class PullFailed(Exception):
    """The pull could not finish (deadline, HTTP error, connection): the message holds no data."""


def _read_body(response: http.client.HTTPResponse, max_bytes: int, page: int) -> bytes:
    """A response body, read in pieces so that the byte cap holds whatever the server sends."""
    parts, size = [], 0
    while piece := response.read1(READ_SIZE):
        size += len(piece)
        if size > max_bytes:
            raise PullRejected("api_page_too_large", page, f"a page over {max_bytes} bytes")
        parts.append(piece)
    return b"".join(parts)


def _shut(sock: socket.socket) -> None:
    """Called by the deadline timer: a read blocked on the socket returns at once."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def _request(url: str, page: int, limits: Limits, deadline: float) -> tuple[int, bytes]:
    """(HTTP status, body) of one GET; a timer shuts the socket at the deadline, so a server that
    drips its headers or body one byte at a time cannot hold the pull beyond it."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise PullFailed("api_url: only http and https are supported")
    kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    remaining = deadline - time.monotonic()
    connection = kind(parts.hostname, parts.port, timeout=min(limits.api_timeout_seconds, max(remaining, 0.001)))
    timer = None
    try:
        connection.connect()
        timer = threading.Timer(max(deadline - time.monotonic(), 0), _shut, (connection.sock,))
        timer.start()
        connection.request("GET", urllib.parse.urlunsplit(("", "", parts.path, parts.query, "")))
        response = connection.getresponse()
        body = _read_body(response, limits.api_max_page_bytes, page)
        if time.monotonic() >= deadline:  # the timer cut the body short
            raise PullFailed(f"api_deadline: the pull ran past its deadline at page {page}")
        return response.status, body
    except (OSError, http.client.HTTPException) as exc:
        if time.monotonic() >= deadline:
            raise PullFailed(f"api_deadline: the pull ran past its deadline at page {page}") from None
        raise PullFailed(f"api_unreachable: {type(exc).__name__} at page {page}") from None
    finally:
        if timer is not None:
            timer.cancel()
        connection.close()


def _get_page(url: str, page: int, limits: Limits, deadline: float, retries: int, backoff: float) -> bytes:
    for attempt in range(1, retries + 1):
        if time.monotonic() >= deadline:
            raise PullFailed(f"api_deadline: the pull ran past its deadline at page {page}")
        try:
            status, body = _request(url, page, limits, deadline)
        except PullFailed as exc:
            if attempt == retries or str(exc).startswith("api_deadline"):
                raise
            status, body = 0, b""
        if status == 200:
            return body
        if status == 404:
            raise PullRejected("api_page_missing", page, "an announced page is not served (404)")
        if status and (status < 500 or attempt == retries):
            raise PullFailed(f"api_http_error: HTTP {status} at page {page}")
        log.warning("GET %s page %d failed (attempt %d of %d); retrying", url.partition("?")[0], page, attempt, retries)
        time.sleep(min(backoff * attempt, max(deadline - time.monotonic(), 0)))
    raise PullFailed(f"api_unreachable: no answer at page {page}")


def _page_records(body: bytes, page: int) -> tuple[list[object], int]:
    """(records, pages announced) of one page, or PullRejected when it is not the envelope."""
    try:
        envelope = json.loads(body)
    except (ValueError, RecursionError):
        raise PullRejected("api_page_format", page, "not a JSON document") from None
    if not isinstance(envelope, dict):
        raise PullRejected("api_page_format", page, "not a JSON object")
    data, pages = envelope.get("data"), envelope.get("pages")
    if not isinstance(data, list) or not isinstance(pages, int) or isinstance(pages, bool):
        raise PullRejected("api_page_format", page, 'no "data" list or no integer "pages"')
    return data, pages


def _line(record: object) -> str:
    """One record as a JSON line (keys sorted); a record with text no UTF-8 file can hold is escaped."""
    try:
        line = json.dumps(record, ensure_ascii=False, sort_keys=True)
        line.encode("utf-8")
    except UnicodeEncodeError:
        line = json.dumps(record, ensure_ascii=True, sort_keys=True)
    return line


def fetch_to_jsonl(
    base_url: str,
    api_path: str,
    day: str,
    target: Path,
    *,
    limits: Limits | None = None,
    retries: int = 3,
    backoff: float = 0.5,
) -> int:
    """Fetch every page of a day and write the records as JSON lines to target; return the record count.

    Every element of a page's data is one line (one record), whatever it is. On PullRejected
    the records pulled so far are still written to target (what was received), then it is raised.
    """
    limits = limits or Limits()
    deadline = time.monotonic() + limits.api_deadline_seconds
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".part")
    count, page, pages = 0, 1, 1
    try:
        with tmp.open("w", encoding="utf-8", newline="\n") as out:
            while page <= pages:
                if page > limits.api_max_pages:
                    raise PullRejected("api_page_cap", page, f"more than {limits.api_max_pages} pages")
                query = urllib.parse.urlencode({"date": day, "page": page})
                body = _get_page(f"{base_url.rstrip('/')}{api_path}?{query}", page, limits, deadline, retries, backoff)
                records, pages = _page_records(body, page)
                for record in records:
                    out.write(_line(record) + "\n")
                    count += 1
                page += 1
    except PullRejected:
        tmp.replace(target)
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(target)
    return count
