"""Reminder emails to an account's owners and admins, each at most once per (template,
subscription, step, recipient) through the email ledger, whatever reruns."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from tally.audit.records import Actor, AuditContext
from tally.billing.subscription_state import Subscription
from tally.jobs.base import JobName, WorkItem
from tally.jobs.calendar import day_end, day_start, local_day
from tally.jobs.deps import JobDeps
from tally.jobs.due import DueEntry, DueIndex
from tally.notifications.ledger import LedgerKey, SendOutcome

LOGGER = logging.getLogger(__name__)
REMINDER_DAYS = (7, 3, 1)  # days before a trial or a subscription ends


def system_context(job: str, key: str, reason: str) -> AuditContext:
    """The audit context of a job's change: the system, the item as the request, no address."""
    return AuditContext(
        actor=Actor.system(job), request_id=f"job:{job}:{key}"[:200], ip_prefix=None, reason=reason
    )


def recipient_step(step: str, email: str) -> str:
    """The ledger step of one recipient's copy: the step and a hash of the address (no address
    in a key)."""
    return f"{step}:{hashlib.sha256(email.strip().lower().encode()).hexdigest()[:16]}"


def send_to_managers(
    deps: JobDeps, account_id: str, template: str, entity_id: str, step: str, context: dict[str, Any]
) -> int:
    """Send `template` to each owner and admin once; answers how many this call sent. A send
    that fails raises (the item is retried; those already sent are not sent again)."""
    managers = deps.managers(account_id)
    render = deps.render_email
    if render is None:
        from tally.notifications.render import render as render_template  # jinja2 on first use

        render = render_template
    sent = 0
    ledger = deps.ledger()
    for email, locale in managers.recipients:
        message = render(
            template,
            locale or "en",
            to=email,
            entity_id=entity_id,
            account_name=managers.account_name or account_id,
            **context,
        )
        result = ledger.send_once(message, LedgerKey(template, entity_id, recipient_step(step, email)))
        sent += result.outcome is SendOutcome.SENT
    LOGGER.info("Reminders", extra={"template": template, "entity_id": entity_id, "step": step, "sent": sent})
    return sent


def as_instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


def reminder_steps(
    due: DueIndex, partition: str, as_of: datetime, zone: str
) -> Iterator[tuple[DueEntry, str]]:
    """What `partition` holds for today, with its step: the ends on the days REMINDER_DAYS ahead
    ("D-7", "D-3", "D-1"; one Query a day), then every end by the end of today ("end")."""
    today = local_day(as_of, zone)
    for days in REMINDER_DAYS:
        start = day_start(today + timedelta(days=days), zone)
        end = day_start(today + timedelta(days=days + 1), zone)
        for entry in due.due(partition, start, end):
            yield entry, f"D-{days}"
    for entry in due.due(partition, None, day_end(as_of, zone)):
        yield entry, "end"


def subscription_item(job: JobName, key: str, entry: DueEntry, at_field: str, step: str) -> WorkItem:
    """An item about a step of one subscription's dated end: the account and subscription to
    find it by, and the end (as `at_field`) it was planned for."""
    return WorkItem(
        job,
        key,
        {
            "account_id": entry.account_id,
            "subscription_id": entry.subscription_id,
            at_field: entry.at.isoformat(),
            "step": step,
        },
    )


def planned_subscription(deps: JobDeps, item: WorkItem) -> Subscription | None:
    """The account's current subscription if it is still the one the item was planned for."""
    subscription = deps.subscriptions.current(item.data["account_id"])
    if subscription is None or subscription.id != item.data["subscription_id"]:
        return None
    return subscription
