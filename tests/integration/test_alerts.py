"""A failed or held day alerts through the configured webhook and SMTP server; a clean day sends nothing;
the auditor report lists the feed that is stale for the day (dbt source freshness).

Two generated days through the real DAGs: the first complete, the second without grid_incidents.
The sinks are a local HTTP server and a minimal SMTP server, each in a thread.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import socketserver
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.policy import default as default_policy
from html import unescape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from grassroots.generator import feed_server, generate, scenarios
from grassroots.local import pipeline
from grassroots.warehouse import db

DAGS = Path(__file__).resolve().parents[2] / "dags"
D1, D2 = dt.date(2026, 11, 23), dt.date(2026, 11, 24)
MISSING = "grid_incidents"
RESIDENTS = 300
SEED = 11


@dataclass
class Sinks:
    posts: list[dict] = field(default_factory=list)
    mails: list = field(default_factory=list)


def _webhook(sinks: Sinks) -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            sinks.posts.append(json.loads(body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/alerts"


def _smtp(sinks: Sinks) -> tuple[socketserver.ThreadingTCPServer, str]:
    """Just enough SMTP (RFC 5321) for smtplib: greet, EHLO, MAIL, RCPT, DATA, QUIT."""

    class Handler(socketserver.StreamRequestHandler):
        def reply(self, line: str) -> None:
            self.wfile.write(f"{line}\r\n".encode())

        def handle(self) -> None:
            self.reply("220 sink ready")
            while line := self.rfile.readline():
                verb = line.decode().strip().split(" ")[0].upper()
                if verb == "DATA":
                    self.reply("354 end with .")
                    data = b""
                    while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                        data += chunk[1:] if chunk.startswith(b"..") else chunk
                    sinks.mails.append(message_from_bytes(data, policy=default_policy))
                    self.reply("250 queued")
                elif verb == "QUIT":
                    self.reply("221 bye")
                    return
                else:
                    self.reply("250 ok")

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"127.0.0.1:{server.server_address[1]}"


@pytest.fixture(scope="module")
def two_days(
    server_dsn: str, airflow_db: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Sinks, Path, list, list]]:
    """Run D1 (complete) and D2 (no grid_incidents) with both sinks configured, in a database of its own."""
    root = tmp_path_factory.mktemp("alerts")
    landing, reports = root / "landing", root / "reports"
    generate(landing, D1, 2, RESIDENTS, SEED)
    scenarios.missing(landing, MISSING, D2)
    sinks = Sinks()
    web, web_url = _webhook(sinks)
    smtp, smtp_address = _smtp(sinks)
    api, api_url = feed_server.serve(landing)
    name = f"grassroots_test_{uuid.uuid4().hex[:10]}"
    db.ensure_database(server_dsn, name)
    try:
        with pytest.MonkeyPatch.context() as patch:
            for key, value in {
                "WAREHOUSE_DSN": db.with_database(server_dsn, name),
                "GRASSROOTS_LANDING_DIR": str(landing),
                "GRASSROOTS_REPORTS_DIR": str(reports),
                "GRASSROOTS_API_URL": api_url,
                "GRASSROOTS_ALERT_WEBHOOK": web_url,
                "GRASSROOTS_ALERT_SMTP": smtp_address,
                "GRASSROOTS_ALERT_TO": "duty@example.org",
                "GRASSROOTS_ALERT_FROM": "grassroots@example.org",
            }.items():
                patch.setenv(key, value)
            first = pipeline.run_day(D1, DAGS)
            clean = (list(sinks.posts), list(sinks.mails))
            second = pipeline.run_day(D2, DAGS, only=("grassroots_ingest", "grassroots_warehouse"))
        yield sinks, reports, [first, clean], second
    finally:
        for server in (web, smtp, api):
            server.shutdown()
        db.drop_database(server_dsn, name)


def test_a_failed_and_held_day_alerts_by_webhook_and_mail_and_a_clean_day_sends_nothing(two_days) -> None:
    sinks, _, (first, (clean_posts, clean_mails)), second = two_days
    assert [state for _, state in first] == ["success"] * 3, first
    assert clean_posts == [] and clean_mails == [], "a clean day sent an alert"
    assert [state for _, state in second] == ["failed", "failed"], second

    posts = {post["dag_id"]: post for post in sinks.posts}
    assert len(sinks.posts) == 2 and set(posts) == {"grassroots_ingest", "grassroots_warehouse"}, sinks.posts
    ingest, warehouse = posts["grassroots_ingest"], posts["grassroots_warehouse"]
    assert ingest["ds"] == warehouse["ds"] == D2.isoformat()
    assert ingest["task_id"] == "all_feeds_loaded" and warehouse["task_id"] == "circuit_breaker"
    assert MISSING in ingest["reason"] and "delivery." in ingest["reason"], ingest["reason"]
    assert re.search(r"\b(held|partial)\b", warehouse["reason"]) and MISSING in warehouse["reason"], warehouse
    for post in sinks.posts:
        assert post["dag_id"] in post["text"] and D2.isoformat() in post["text"]

    mails = {mail["Subject"]: mail for mail in sinks.mails}
    assert set(mails) == {f"[grassroots] {dag} failed for {D2}" for dag in posts}
    for subject, mail in mails.items():
        body = mail.get_content()
        assert mail["To"] == "duty@example.org"
        assert f"Day: {D2}" in body and MISSING in body
        assert ("DAG: grassroots_ingest" in body) == ("grassroots_ingest" in subject)
    everything = json.dumps(sinks.posts) + "".join(m.get_content() for m in sinks.mails)
    assert not re.search(r"\d{15,18}|1[3-9]\d{9}", everything), "an alert carries an ID number or phone"


def _text(html: str) -> str:
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


def test_the_auditor_report_lists_the_stale_feed_of_the_day(two_days) -> None:
    _, reports, _, _ = two_days
    complete = (reports / "audit" / D1.isoformat() / "latest.html").read_text(encoding="utf-8")
    held = (reports / "audit" / D2.isoformat() / "latest.html").read_text(encoding="utf-8")

    assert 'id="freshness-stale"' not in complete
    assert f"All 12 feeds delivered for {D1}: none stale." in _text(complete)

    table = held.split('id="freshness-stale"', 1)[1].split("</table>", 1)[0]
    rows = [_text(row).split() for row in re.findall(r"<tr>(.*?)</tr>", table, re.S)[1:]]
    # Only the missing feed is stale: a day behind, last delivered the day before, a warning.
    assert rows == [[MISSING, "warn", D1.isoformat(), "1", "12", "36"]], rows
    assert f"1 stale feed(s) of 12: {MISSING}" in _text(held)
