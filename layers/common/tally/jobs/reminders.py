"""Reminder emails to an account's owners and admins, each at most once per (template,
subscription, step, recipient) through the email ledger, whatever reruns."""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime
from typing import Any

from tally.audit.records import Actor, AuditContext
from tally.jobs.deps import JobDeps
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
