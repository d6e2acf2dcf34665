"""Alerts when a day fails or is held: an Airflow notifier configured by environment.

`DayAlert` is every task's `on_failure_callback` (orchestration.runs.DEFAULT_ARGS). It fires in the
task's own process after its last try, under the scheduler and under `dag.test` alike, with the
task's context: the DAG, the partition day and the exception that failed it. (A DAG-level
callback runs in the DAG processor under the scheduler and knows neither the exception nor the
triggering Asset events that carry the day.) The deciding tasks (`all_feeds_loaded` of the ingest
DAG, `circuit_breaker` of the warehouse DAG) run whatever happened upstream and raise with the
reason: the unusable feeds and their failed checks, the held KPI periods and why. A failure
upstream of a deciding task is left to it (logged, not sent), so a bad day sends one alert per
DAG instead of one per load; a task that fails with no decision downstream (scoring, the
warehouse's announce) alerts itself.

Where it goes, by environment:

- `GRASSROOTS_ALERT_WEBHOOK=http://host/path`: a JSON POST {dag_id, ds, task_id, run_id, reason, text};
- `GRASSROOTS_ALERT_SMTP=host:port` with `GRASSROOTS_ALERT_TO` (comma-separated) and
  `GRASSROOTS_ALERT_FROM`: a plain-text mail (optional `GRASSROOTS_ALERT_SMTP_USER` and
  `GRASSROOTS_ALERT_SMTP_PASSWORD`, STARTTLS with `GRASSROOTS_ALERT_SMTP_STARTTLS=1`);
- neither: the alert is only logged.

Messages carry identifiers, counts and check names, never row values: the deciding tasks'
reasons are built from check ids and counts, and any other exception's text is cut short and has
digit runs long enough to be an ID number or a phone masked.
"""

from __future__ import annotations

import json
import logging
import os
import re
import smtplib
import urllib.request
from collections.abc import Mapping
from email.message import EmailMessage
from typing import Any

from airflow.sdk.bases.notifier import BaseNotifier

from grassroots.orchestration.days import partition_date

log = logging.getLogger(__name__)

WEBHOOK_ENV = "GRASSROOTS_ALERT_WEBHOOK"
SMTP_ENV = "GRASSROOTS_ALERT_SMTP"
TO_ENV = "GRASSROOTS_ALERT_TO"
FROM_ENV = "GRASSROOTS_ALERT_FROM"
TIMEOUT_SECONDS = 10
MAX_REASON = 2000
# The project's own decisions: their messages are built from feed names, check ids and counts.
TRUSTED_REASONS = ("DeliveriesIncomplete", "PublicationHeld", "DbtFailed")
_LONG_DIGITS = re.compile(r"\d{7,}")
# Tasks that judge the whole day (trigger rule all_done) and raise with its reason.
DECIDING_TASKS = frozenset({"all_feeds_loaded", "circuit_breaker"})


def reason_of(exception: object) -> str:
    """Why the task failed, safe to send: the project's decisions whole, anything else masked and cut."""
    if exception is None:
        return "failed (no exception recorded; see the task log)"
    kind = type(exception).__name__
    text = str(exception)
    if kind not in TRUSTED_REASONS:
        text = f"{kind}: {_LONG_DIGITS.sub('[…]', text.splitlines()[0] if text else '')}"
    return text[:MAX_REASON]


def _partition_day(context: Mapping[str, Any]) -> str:
    try:
        return partition_date(context).isoformat()
    except Exception:  # the alert must go out even when the day cannot be told
        return "unknown day"


def alert_payload(context: Mapping[str, Any]) -> dict[str, str]:
    """What an alert says: DAG, day, task, run and reason (no data)."""
    ti = context.get("ti") or context.get("task_instance")
    dag = context.get("dag")
    dag_id = getattr(dag, "dag_id", None) or getattr(ti, "dag_id", "unknown DAG")
    task_id = getattr(ti, "task_id", None) or getattr(context.get("task"), "task_id", "unknown task")
    payload = {
        "dag_id": str(dag_id),
        "ds": _partition_day(context),
        "task_id": str(task_id),
        "run_id": str(context.get("run_id") or getattr(ti, "run_id", "")),
        "reason": reason_of(context.get("exception")),
    }
    payload["text"] = (
        f"[grassroots] {payload['dag_id']} failed for {payload['ds']} at {payload['task_id']}: " + (payload["reason"])
    )
    return payload


def decided_downstream(context: Mapping[str, Any]) -> bool:
    """Whether a deciding task downstream of the failed one will judge (and alert on) the day."""
    task = context.get("task")
    if task is None or getattr(task, "task_id", None) in DECIDING_TASKS:
        return False
    try:
        downstream = task.get_flat_relative_ids(upstream=False)
    except Exception:  # a task outside a DAG: alert rather than stay silent
        return False
    return bool(DECIDING_TASKS & set(downstream))


class DayAlert(BaseNotifier):
    """Notify that a DAG run failed its day or held it, through a webhook, SMTP, or the log."""

    def notify(self, context: Mapping[str, Any]) -> None:
        payload = alert_payload(context)
        if decided_downstream(context):
            log.info("%s failed; the day's decision downstream alerts with the reason", payload["task_id"])
            return
        log.error("ALERT %s", payload["text"])
        webhook, smtp = os.environ.get(WEBHOOK_ENV), os.environ.get(SMTP_ENV)
        if webhook:
            send_webhook(webhook, payload)
        if smtp:
            send_mail(smtp, payload)


def send_webhook(url: str, payload: Mapping[str, str]) -> None:
    """POST the alert as JSON (Slack-style incoming webhooks read `text`)."""
    request = urllib.request.Request(
        url,
        data=json.dumps(payload, ensure_ascii=False).encode("utf-8"),
        headers={"Content-Type": "application/json; charset=utf-8"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310 (URL from config)
        response.read()


def send_mail(address: str, payload: Mapping[str, str]) -> None:
    """Mail the alert to GRASSROOTS_ALERT_TO through the SMTP server at host:port."""
    recipients = [r.strip() for r in os.environ.get(TO_ENV, "").split(",") if r.strip()]
    if not recipients:
        log.error("%s is set but %s is empty: alert not mailed", SMTP_ENV, TO_ENV)
        return
    host, _, port = address.rpartition(":") if ":" in address else (address, "", "25")
    message = EmailMessage()
    message["Subject"] = f"[grassroots] {payload['dag_id']} failed for {payload['ds']}"
    message["From"] = os.environ.get(FROM_ENV, "grassroots@localhost")
    message["To"] = ", ".join(recipients)
    message.set_content(
        f"DAG: {payload['dag_id']}\nDay: {payload['ds']}\nTask: {payload['task_id']}\n"
        f"Run: {payload['run_id']}\nReason: {payload['reason']}\n"
    )
    with smtplib.SMTP(host, int(port), timeout=TIMEOUT_SECONDS) as smtp:
        if os.environ.get("GRASSROOTS_ALERT_SMTP_STARTTLS") == "1":
            smtp.starttls()
        user = os.environ.get("GRASSROOTS_ALERT_SMTP_USER")
        if user:
            smtp.login(user, os.environ.get("GRASSROOTS_ALERT_SMTP_PASSWORD", ""))
        smtp.send_message(message)
