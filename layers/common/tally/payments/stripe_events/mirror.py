"""Stripe's subscriptions and invoices as Tally's: pure functions, no I/O.

A subscription's status only ever moves through the transitions of
tally.billing.subscription_state: the mirror finds the shortest chain of transitions from the
stored status to Stripe's (trialing -> past_due is activate then payment_failed) and refuses to
move where none leads (a canceled subscription stays canceled). Then the fields Stripe owns
(periods, cancellation, plan, ids) are copied. A stale read never regresses what is stored: a
period that starts before the stored one, or an invoice status that would move backwards
(paid -> open), leaves the mirror as it is.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, cast, get_args

from tally.billing import subscription_state as machine
from tally.billing.catalogue import Cycle
from tally.billing.invoice_lines import InvoiceLine, taxes_of
from tally.billing.invoices import Invoice, InvoiceStatus
from tally.billing.numbering import local
from tally.billing.periods import Period
from tally.billing.seller import SellerSettings
from tally.billing.subscription_state import FINAL, Status, Subscription, TransitionName

StripeDict = Mapping[str, Any]
START_REASON = "Paid through Stripe"
STRIPE_TAX = "stripe"  # the tax-rate code of a mirrored line (Stripe computed its tax)
STATUSES: tuple[Status, ...] = get_args(Status)
INVOICE_STATUSES: tuple[InvoiceStatus, ...] = get_args(InvoiceStatus)
# Where an invoice's status may go next: paid and void are final; uncollectible can still be paid.
INVOICE_FORWARD: Mapping[InvoiceStatus, frozenset[InvoiceStatus]] = {
    "draft": frozenset({"open", "paid", "void", "uncollectible"}),
    "open": frozenset({"paid", "void", "uncollectible"}),
    "uncollectible": frozenset({"paid", "void"}),
    "paid": frozenset(),
    "void": frozenset(),
}
_INTERVALS: Mapping[tuple[str, int], Cycle] = {
    ("month", 1): "monthly",
    ("month", 3): "quarterly",
    ("year", 1): "annual",
}


def instant(value: object) -> datetime | None:
    """Stripe's Unix seconds as an aware UTC instant."""
    if value is None or isinstance(value, bool):
        return None
    return datetime.fromtimestamp(int(cast(int, value)), UTC)


def metadata(obj: StripeDict) -> Mapping[str, str]:
    return cast("Mapping[str, str]", obj.get("metadata") or {})


def object_id(value: object) -> str | None:
    """An id, whether Stripe gave the id or the expanded object."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        found = value.get("id")
        return str(found) if found else None
    return None


# --- subscriptions ------------------------------------------------------------------------


@dataclass(frozen=True)
class StripeSubscription:
    """What Tally reads of a Stripe subscription."""

    id: str
    customer_id: str | None
    account_id: str | None
    status: Status
    plan_code: str
    plan_version: int
    cycle: Cycle
    currency: str
    created: datetime
    anchor: datetime
    period_start: datetime
    period_end: datetime
    trial_end: datetime | None
    cancel_at_period_end: bool
    canceled_at: datetime | None
    ended_at: datetime | None
    cancellation_reason: str | None
    reservation_id: str | None
    coupon: str | None


def _first_item(obj: StripeDict) -> StripeDict:
    items = (obj.get("items") or {}).get("data") or []
    return cast(StripeDict, items[0]) if items else {}


def _cycle(meta: Mapping[str, str], price: StripeDict) -> Cycle | None:
    named = meta.get("tally_cycle")
    if named in get_args(Cycle):
        return cast(Cycle, named)
    recurring = price.get("recurring") or {}
    return _INTERVALS.get((str(recurring.get("interval")), int(recurring.get("interval_count") or 1)))


def read_subscription(obj: StripeDict) -> StripeSubscription | None:
    """None for a subscription Tally did not sell (no plan in its metadata or its price's)."""
    item = _first_item(obj)
    price = cast(StripeDict, item.get("price") or {})
    meta = {**metadata(price), **metadata(obj)}
    # The price names the plan in force (a change in the portal swaps the price); the
    # subscription's metadata is what checkout wrote.
    plan = metadata(price).get("tally_plan") or meta.get("tally_plan")
    version = metadata(price).get("tally_plan_version") or meta.get("tally_plan_version")
    cycle = _cycle({**meta, **metadata(price)}, price)
    status = obj.get("status")
    created = instant(obj.get("created"))
    start = instant(item.get("current_period_start") or obj.get("current_period_start"))
    end = instant(item.get("current_period_end") or obj.get("current_period_end"))
    if not plan or not version or not str(version).isdigit() or cycle is None or status not in STATUSES:
        return None
    if created is None or start is None or end is None:
        return None
    currency = str(meta.get("tally_currency") or obj.get("currency") or price.get("currency") or "").upper()
    details = obj.get("cancellation_details") or {}
    return StripeSubscription(
        id=str(obj["id"]),
        customer_id=object_id(obj.get("customer")),
        account_id=meta.get("tally_account_id"),
        status=cast(Status, status),
        plan_code=str(plan),
        plan_version=int(version),
        cycle=cycle,
        currency=currency,
        created=created,
        anchor=instant(obj.get("billing_cycle_anchor")) or start,
        period_start=start,
        period_end=end,
        trial_end=instant(obj.get("trial_end")),
        cancel_at_period_end=bool(obj.get("cancel_at_period_end")),
        canceled_at=instant(obj.get("canceled_at")),
        ended_at=instant(obj.get("ended_at")),
        cancellation_reason=details.get("comment") or details.get("reason"),
        reservation_id=meta.get("tally_reservation_id"),
        coupon=meta.get("tally_coupon"),
    )


Step = Callable[[Subscription, datetime], Subscription]
# The transitions a mirror may take, in the order the search tries them.
_STEPS: Sequence[tuple[TransitionName, Status, Step]] = (
    ("activate", "active", lambda s, at: machine.activate(s)),
    ("payment_failed", "past_due", lambda s, at: machine.payment_failed(s)),
    ("payment_recovered", "active", lambda s, at: machine.payment_recovered(s)),
    ("mark_unpaid", "unpaid", lambda s, at: machine.mark_unpaid(s)),
    ("trial_lapsed", "paused", lambda s, at: machine.trial_lapsed(s)),
    ("pause", "paused", lambda s, at: machine.pause(s)),
    ("unpause", "active", lambda s, at: machine.unpause(s)),
    ("expire_incomplete", "incomplete_expired", lambda s, at: machine.expire_incomplete(s, at=at)),
    ("cancel_now", "canceled", lambda s, at: machine.cancel_now(s, at=at)),
)


def status_path(start: Status, goal: Status) -> list[tuple[TransitionName, Step]] | None:
    """The shortest chain of transitions from `start` to `goal` ([] when equal), or None."""
    seen = {start}
    queue: deque[tuple[Status, list[tuple[TransitionName, Step]]]] = deque([(start, [])])
    while queue:
        status, path = queue.popleft()
        if status == goal:
            return path
        for name, target, step in _STEPS:
            if status in machine.ALLOWED_FROM[name] and target not in seen:
                seen.add(target)
                queue.append((target, [*path, (name, step)]))
    return None


def _started(stripe: StripeSubscription, account_id: str, time_zone: str) -> Subscription:
    """The subscription as the machine starts one, on its way to Stripe's status."""
    common: dict[str, Any] = {
        "id": stripe.id,
        "account_id": account_id,
        "plan_code": stripe.plan_code,
        "plan_version": stripe.plan_version,
        "cycle": stripe.cycle,
        "currency": stripe.currency,
        "time_zone": time_zone,
        "at": stripe.created,
        "collection": "stripe",
    }
    period = Period(0, stripe.period_start, stripe.period_end)
    if stripe.status == "trialing" and stripe.trial_end is not None and stripe.trial_end > stripe.created:
        return machine.start_trial(**common, trial_end=stripe.trial_end)
    if stripe.status in ("incomplete", "incomplete_expired"):
        return machine.start_incomplete(**common, period=period)
    return machine.start_active(**common, period=period, reason=START_REASON)


def _action(name: TransitionName | None) -> str:
    if name is None:
        return "subscription.updated"
    return {"cancel_now": "subscription.canceled", "activate": "subscription.activated"}.get(
        name, f"subscription.{name}"
    )


def mirror_subscription(
    stored: Subscription | None,
    stripe: StripeSubscription,
    *,
    account_id: str,
    time_zone: str,
    at: datetime,
    grace_days: int,
) -> tuple[Subscription, str] | None:
    """The subscription as Stripe has it now, reached through the machine's transitions, with
    the audit action; None when nothing changes or when Stripe's state would move it backwards."""
    if stored is not None:
        if stored.status in FINAL:
            return None  # final: a late read of a live state never brings it back
        if stripe.period_start < stored.current_period_start:
            return None  # an older read than what is stored
    current = stored if stored is not None else _started(stripe, account_id, time_zone)
    path = status_path(current.status, stripe.status)
    last: TransitionName | None = None
    moment = stripe.canceled_at or stripe.ended_at or at
    for name, step in path or ():
        current = step(current, moment if name in ("cancel_now", "expire_incomplete") else at)
        last = name
    canceled = current.status == "canceled"
    if current.status == "past_due":
        earlier = stored.grace_until if stored is not None and stored.status == "past_due" else None
        grace = earlier or at + timedelta(days=grace_days)
    else:
        grace = None
    ended = stripe.ended_at
    if canceled and ended is None:
        ended = stripe.period_end if stripe.cancel_at_period_end else (stripe.canceled_at or at)
    fields: dict[str, Any] = {
        "plan_code": stripe.plan_code,
        "plan_version": stripe.plan_version,
        "cycle": stripe.cycle,
        "collection": "stripe",
        "billing_anchor": stripe.anchor,
        "current_period_start": stripe.period_start,
        "current_period_end": stripe.period_end,
        "trial_end": stripe.trial_end,
        "cancel_at_period_end": stripe.cancel_at_period_end and not canceled,
        "canceled_at": stripe.canceled_at or (current.canceled_at if canceled else None),
        "ended_at": ended if current.status in FINAL else None,
        "cancellation_reason": stripe.cancellation_reason or current.cancellation_reason,
        "pending_change": None,
        "stripe_subscription_id": stripe.id,
        "stripe_customer_id": stripe.customer_id,
        "grace_until": grace,
    }
    after = Subscription.model_validate({**current.model_dump(), **fields})
    if stored is None:
        return after, "subscription.created"
    if after == stored:
        return None
    return after, _action(last)


# --- invoices -----------------------------------------------------------------------------


def _sum(entries: object, field: str = "amount") -> int:
    return sum(int(entry.get(field) or 0) for entry in cast("list[StripeDict]", entries or []))


def _rate(tax: int, net: int) -> Decimal:
    if net <= 0 or tax <= 0:
        return Decimal(0)
    return min(Decimal(tax) / Decimal(net), Decimal(1)).quantize(Decimal("0.0001"), ROUND_HALF_UP)


def _line(obj: StripeDict) -> InvoiceLine:
    amount = int(obj.get("amount") or 0)
    quantity = int(obj.get("quantity") or 1) or 1
    discount = max(0, min(_sum(obj.get("discount_amounts")), max(amount, 0)))
    tax = _sum(obj.get("taxes")) or _sum(obj.get("tax_amounts"))
    net = amount - discount
    period = obj.get("period") or {}
    start, end = instant(period.get("start")), instant(period.get("end"))
    return InvoiceLine(
        description=str(obj.get("description") or "Subscription")[:500],
        quantity=Decimal(quantity),
        unit_amount=round(amount / quantity) if quantity else amount,
        amount=amount,
        discount=discount,
        tax_rate=STRIPE_TAX,
        tax_rate_value=_rate(tax, net),
        net=net,
        tax=tax,
        total=net + tax,
        period_start=start if start and end and end >= start else None,
        period_end=end if start and end and end >= start else None,
    )


def invoice_subscription_id(obj: StripeDict) -> str | None:
    parent = obj.get("parent") or {}
    details = parent.get("subscription_details") or {}
    return object_id(details.get("subscription")) or object_id(obj.get("subscription"))


def invoice_account_id(obj: StripeDict) -> str | None:
    """The account the invoice names in its subscription's metadata, or its own."""
    details = (obj.get("parent") or {}).get("subscription_details") or {}
    return (details.get("metadata") or {}).get("tally_account_id") or metadata(obj).get("tally_account_id")


def _due(obj: StripeDict, zone: str) -> date | None:
    """Stripe's due date (an invoice sent to be paid); an invoice charged automatically is due
    when it is finalised (the day in the seller's zone)."""
    due = instant(obj.get("due_date"))
    if due is not None:
        return local(due, zone).date()
    finalized = instant((obj.get("status_transitions") or {}).get("finalized_at"))
    if obj.get("collection_method", "charge_automatically") == "charge_automatically" and finalized:
        return local(finalized, zone).date()
    return None


def _dunning_on(
    stored: Invoice | None, obj: StripeDict, due: date | None, seller: SellerSettings
) -> date | None:
    """Where the mirror puts the invoice in the dunning ladder (decision 13: Tally's emails on the
    ladder while Stripe retries the card; the dunning job recognises the subscription's Stripe
    collection and leaves suspension to Stripe). An open invoice enters it when it is owed: sent
    to be paid by a date, or charged and declined once. The job's progress is kept; a date the
    ladder no longer matches is moved by the job itself."""
    if obj.get("status") != "open" or due is None or not seller.dunning.steps:
        return None
    owed = obj.get("due_date") is not None or int(obj.get("attempt_count") or 0) >= 1
    if not owed:
        return None
    if stored is not None and stored.status == "open" and (stored.dunning_on or stored.overdue_since):
        return stored.dunning_on
    return due + timedelta(days=seller.dunning.steps[0].days)


def mirror_invoice(
    stored: Invoice | None, obj: StripeDict, *, account_id: str, seller: SellerSettings
) -> Invoice | None:
    """The invoice as Stripe has it now; None when nothing changes or its status would move
    backwards. What Tally added to it (credit notes of refunds, the dunning ladder's progress)
    is kept."""
    status = obj.get("status")
    if status not in INVOICE_STATUSES:
        raise ValueError(f"Unknown Stripe invoice status {status!r}")
    status = cast(InvoiceStatus, status)
    if stored is not None and status != stored.status and status not in INVOICE_FORWARD[stored.status]:
        return None
    lines = tuple(_line(line) for line in ((obj.get("lines") or {}).get("data") or [])[:200])
    total = int(obj.get("total") or 0)
    excluding = obj.get("total_excluding_tax")
    moments = obj.get("status_transitions") or {}
    due = _due(obj, seller.time_zone)
    first = lines[0] if lines else None
    values: dict[str, Any] = {
        "id": str(obj["id"]),
        "account_id": account_id,
        "currency": str(obj.get("currency") or "").upper(),
        "status": status,
        "number": obj.get("number"),
        "lines": lines,
        "subtotal": int(obj.get("subtotal") or 0),
        "discount_total": _sum(obj.get("total_discount_amounts")),
        "taxes": taxes_of(lines),
        "tax_total": total - int(excluding) if excluding is not None else sum(line.tax for line in lines),
        "total_excluding_tax": int(excluding) if excluding is not None else total,
        "total": total,
        "amount_paid": int(obj.get("amount_paid") or 0),
        "amount_due": int(obj.get("amount_remaining") or 0),
        "subscription_id": invoice_subscription_id(obj),
        "period_start": first.period_start if first else instant(obj.get("period_start")),
        "period_end": first.period_end if first else instant(obj.get("period_end")),
        "created_at": instant(obj.get("created")),
        "finalized_at": instant(moments.get("finalized_at")),
        "due_date": due,
        "dunning_on": _dunning_on(stored, obj, due, seller),
        "paid_at": instant(moments.get("paid_at")),
        "voided_at": instant(moments.get("voided_at")),
        "uncollectible_at": instant(moments.get("marked_uncollectible_at")),
        "source": "stripe",
        "stripe_invoice_id": str(obj["id"]),
        "hosted_invoice_url": obj.get("hosted_invoice_url"),
        "invoice_pdf": obj.get("invoice_pdf"),
    }
    if stored is not None:
        kept = (
            "credit_notes",
            "credited_total",
            "credited_before_payment",
            "refund_due",
            "customer_credit",
            "customer",
            "seller",
            "overdue_since",
        )
        values |= {name: getattr(stored, name) for name in kept}
    after = Invoice.model_validate(values)
    return None if after == stored else after
