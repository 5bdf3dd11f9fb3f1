"""Stripe's webhook events applied to Tally's billing domain (issue 9, "Webhooks: one pipeline").

Idempotent and order-proof, as tally.payments.events asks:

- Stripe is read before anything is applied (the payload may be stale): the subscription, the
  invoice, the session, the charge, the dispute as they are now. The stored state is read
  first, Stripe after it, and the write is conditional on the stored state: a concurrent
  application of another event makes this one read both again (ChangedMeanwhile, a few times,
  then the worker's retry), so the last write always mirrors a read made after the one before.
- States never move backwards (tally.payments.stripe_events.mirror): a canceled subscription
  stays canceled, a paid invoice stays paid, an older period never replaces a newer one.
- What happens once happens under a key: a completed checkout is provisioned under its session
  id (one conditional transaction), a refund's credit note under the refund id, an email under
  its ledger key (template, entity, step), a dispute's alarm with the dispute's one transition.
  Side effects that are idempotent by themselves (the placement seat) are repeated on every
  delivery, so a crash between the commit and them is mended by the retry.

Outcomes: `applied` when something was written, `unchanged` when it was applied before (or is
older than what is stored), `ignored` for other event types and for objects Tally did not sell.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar, cast

from tally import clock as clocks
from tally.accounts.domain import Account, Member
from tally.accounts.errors import ChangedMeanwhile
from tally.accounts.status import transition_problem
from tally.audit.records import Actor, AuditContext
from tally.billing import subscription_state as machine
from tally.billing.coupons import applied
from tally.billing.credit_notes import CreditNoteIn
from tally.billing.subscription_state import FINAL, Subscription
from tally.clock import Clock
from tally.countries import country_locale
from tally.identity.roles import Role
from tally.invoices.service import InvoiceService
from tally.notifications.ledger import LedgerKey, SendOutcome
from tally.payments.events import Applied, ProviderEvent
from tally.payments.stripe_events.mirror import (
    StripeDict,
    StripeSubscription,
    instant,
    invoice_account_id,
    invoice_subscription_id,
    metadata,
    mirror_invoice,
    mirror_subscription,
    object_id,
    read_subscription,
)
from tally.payments.stripe_events.ports import (
    Alerts,
    Dispute,
    DisputeStatus,
    MirrorStore,
    Notifier,
    OrderPaid,
    PlacementSeats,
    Provisioning,
    Redeemed,
)
from tally.payments.stripe_events.reader import StripeReader
from tally.subscriptions.ports import AccountFollows

LOGGER = logging.getLogger(__name__)

DEFAULT_TIME_ZONE = "Europe/Paris"
ATTEMPTS = 3  # reads and writes again after a concurrent change, before the worker's retry
PAYMENT_FAILED_METRIC = "StripePaymentFailed"
DISPUTE_METRIC = "StripeDisputeOpened"
CLOSED_DISPUTES = frozenset({"won", "lost", "warning_closed"})
NOTIFIED_ROLES = frozenset({Role.OWNER, Role.ADMIN})
SUBSCRIPTION_EVENTS = frozenset(
    {
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.deleted",
        "customer.subscription.trial_will_end",
        "customer.subscription.paused",
        "customer.subscription.resumed",
    }
)
INVOICE_EVENTS = frozenset(
    {
        "invoice.finalized",
        "invoice.paid",
        "invoice.payment_succeeded",
        "invoice.payment_failed",
        "invoice.voided",
        "invoice.marked_uncollectible",
    }
)
HANDLED = (
    SUBSCRIPTION_EVENTS
    | INVOICE_EVENTS
    | {
        "checkout.session.completed",
        "checkout.session.expired",
        "charge.refunded",
        "charge.dispute.created",
        "charge.dispute.closed",
    }
)

T = TypeVar("T")


def redemption_id(source_id: str) -> str:
    """A coupon redemption's id derived from what it was redeemed with (a Stripe subscription,
    or a checkout session for an order): recording it twice is refused."""
    return f"red_{hashlib.sha256(source_id.encode()).hexdigest()[:24]}"


def refund_note_id(refund_id: str) -> str:
    """The credit note of a Stripe refund: one per refund."""
    return f"cn_{refund_id}"[:64]


def event_object(event: ProviderEvent) -> StripeDict:
    """The event's object (`data.object`), as the payload carries it (possibly stale)."""
    data = event.payload.get("data")
    if isinstance(data, Mapping) and isinstance(data.get("object"), Mapping):
        return cast(StripeDict, data["object"])
    return event.payload


class StripeEventApplier:
    def __init__(
        self,
        stripe: StripeReader,
        store: MirrorStore,
        invoices: InvoiceService,
        seats: PlacementSeats,
        notifier: Notifier,
        alerts: Alerts,
        *,
        app_url: str,
        time_zone: str = DEFAULT_TIME_ZONE,
        plan_names: Callable[[str], str] | None = None,
        clock: Clock | None = None,
    ) -> None:
        """`invoices`: issues the credit notes of refunds (numbered in Tally's credit-note
        sequence). `plan_names`: a plan's name for the emails (its code when not given)."""
        self._stripe = stripe
        self._store = store
        self._invoices = invoices
        self._seats = seats
        self._notifier = notifier
        self._alerts = alerts
        self._app_url = app_url.rstrip("/")
        self._zone = time_zone
        self._plan_names = plan_names or (lambda code: code)
        self._clock = clock

    def _now(self) -> datetime:
        return (self._clock or clocks.get_clock()).now()

    # -- the one entry point ---------------------------------------------------------------

    def apply(self, event: ProviderEvent) -> Applied:
        if event.type not in HANDLED:
            return Applied("ignored", event.type)
        context = AuditContext(
            actor=Actor.provider("stripe"), request_id=event.id, ip_prefix=None, reason=f"Stripe {event.type}"
        )
        obj = event_object(event)
        if event.type in SUBSCRIPTION_EVENTS:
            return self._subscription_event(event, obj, context)
        if event.type in INVOICE_EVENTS:
            return self._invoice_event(event, obj, context)
        if event.type == "checkout.session.completed":
            return self._checkout_completed(obj, context)
        if event.type == "checkout.session.expired":
            return self._checkout_expired(obj)
        if event.type == "charge.refunded":
            return self._refunded(obj, context)
        return self._dispute(obj, context)

    # -- subscriptions -----------------------------------------------------------------------

    def _account_of(self, obj: StripeDict, hint: str | None = None) -> str | None:
        found = hint or metadata(obj).get("tally_account_id")
        if found:
            return str(found)
        customer = object_id(obj.get("customer"))
        return self._stripe.customer_account(customer) if customer else None

    def _sync_subscription(
        self, subscription_id: str, account_id: str, context: AuditContext
    ) -> tuple[Subscription | None, StripeSubscription | None, bool]:
        """The stored mirror of Stripe's subscription brought up to date: (the mirror, what
        Stripe says, whether anything was written). (None, None, False) for a subscription
        Tally did not sell."""
        for attempt in range(ATTEMPTS):
            stored = self._store.subscription(account_id, subscription_id)
            current = self._store.current_subscription(account_id)
            stripe = read_subscription(self._stripe.subscription(subscription_id))  # after the reads
            if stripe is None:
                return None, None, False
            now = self._now()
            mirrored = mirror_subscription(
                stored,
                stripe,
                account_id=account_id,
                time_zone=self._zone,
                at=now,
                grace_days=self._store.seller().payment_grace_days,
            )
            if mirrored is None:
                return stored, stripe, False
            after, action = mirrored
            after = self._with_coupon(after, stripe)
            try:
                self._save_subscription(stored, after, action, current, context, now)
            except ChangedMeanwhile:
                if attempt == ATTEMPTS - 1:
                    raise
                continue
            return after, stripe, True
        raise AssertionError("unreachable")  # pragma: no cover

    def _with_coupon(self, subscription: Subscription, stripe: StripeSubscription) -> Subscription:
        """The coupon Tally's checkout gave Stripe, remembered as a native subscription does."""
        if subscription.coupon is not None or not stripe.coupon:
            return subscription
        coupon = self._store.coupon(stripe.coupon.upper())
        if coupon is None:
            return subscription
        terms = applied(
            coupon,
            redemption_id(stripe.id),
            subscription.currency,
            subscription.cycle,
            stripe.trial_end or stripe.period_start,
        )
        return subscription.model_copy(update={"coupon": terms})

    def _save_subscription(
        self,
        stored: Subscription | None,
        after: Subscription,
        action: str,
        current: Subscription | None,
        context: AuditContext,
        now: datetime,
    ) -> None:
        other = current if current is not None and current.id != after.id else None
        live = other is not None and other.status not in FINAL and after.status not in FINAL
        if other is not None and live and other.collection == "invoice":
            # A live subscription paid through Stripe replaces the account's native one (the
            # customer moved to paying by card): it is canceled first, audited.
            replaced = machine.cancel_now(other, at=now, reason=f"Replaced by Stripe subscription {after.id}")
            self._store.save_subscription(
                other, replaced, "subscription.canceled", current=True, follows=None, context=context
            )
            other = replaced
        is_current = other is None or other.status in FINAL
        if not is_current and after.status not in FINAL:
            # Another live Stripe subscription holds the account (checkout refuses a second
            # one): this one is mirrored, and becomes current once that one has ended.
            LOGGER.warning(
                "Stripe subscription mirrored beside another live one",
                extra={"subscription_id": after.id, "current_id": other.id if other else None},
            )
        follows = self._follows(after) if is_current else None
        self._store.save_subscription(
            stored, after, action, current=is_current, follows=follows, context=context
        )

    def _follows(self, subscription: Subscription) -> AccountFollows | None:
        """tally.subscriptions.service.account_follows over this store."""
        wanted = machine.account_status_for(subscription.status)
        account = self._store.account(subscription.account_id)
        if wanted is None or account is None or account.status == wanted:
            return None
        if transition_problem(account.status, wanted) is not None:
            return None
        return AccountFollows(account, wanted, f"Subscription {subscription.id} is {subscription.status}")

    def _release_if_ended(self, stripe: StripeSubscription | None) -> None:
        if stripe is not None and stripe.reservation_id and stripe.status in FINAL:
            self._seats.release(stripe.reservation_id, at=self._now())

    def _subscription_event(self, event: ProviderEvent, obj: StripeDict, context: AuditContext) -> Applied:
        account_id = self._account_of(obj) or self._account_of(self._stripe.subscription(str(obj["id"])))
        if account_id is None:
            return Applied("ignored", "not a Tally subscription")
        subscription, stripe, changed = self._sync_subscription(str(obj["id"]), account_id, context)
        if subscription is None:
            return Applied("ignored", "not a Tally subscription")
        self._release_if_ended(stripe)
        if event.type == "customer.subscription.trial_will_end" and subscription.status == "trialing":
            changed = self._trial_ending(subscription) or changed
        return _outcome(changed, subscription.status)

    def _trial_ending(self, subscription: Subscription) -> bool:
        if subscription.trial_end is None:
            return False
        account = self._store.account(subscription.account_id)
        if account is None:
            return False
        days = max(0, (subscription.trial_end - self._now()).days)
        context = {
            "account_name": account.name,
            "plan_name": self._plan_names(subscription.plan_code),
            "trial_end": subscription.trial_end.date(),
            "days_left": days,
            "billing_url": f"{self._app_url}/billing",
        }
        step = subscription.trial_end.date().isoformat()
        return self._to_managers(account, "trial-ending", subscription.id, step, context)

    # -- emails ------------------------------------------------------------------------------

    def _to_managers(
        self, account: Account, template: str, entity_id: str, step: str, context: Mapping[str, Any]
    ) -> bool:
        """The email to each owner and admin of the account, once per (entity, step, member).
        True when one was sent by this call."""
        sent = False
        locale = country_locale(account.country)
        for member in self._store.members(account.id):
            if member.role not in NOTIFIED_ROLES:
                continue
            key = LedgerKey(template, entity_id, f"{step}:{member.user_id}")
            outcome = self._notifier.send(template, locale, member.email, key, context)
            sent = sent or outcome is SendOutcome.SENT
        return sent

    # -- invoices ----------------------------------------------------------------------------

    def _sync_invoice(
        self, invoice_id: str, obj: StripeDict, context: AuditContext
    ) -> tuple[StripeDict | None, str | None, bool]:
        """The mirror of Stripe's invoice brought up to date: (Stripe's invoice, its account,
        whether anything was written); (None, None, False) for an invoice of no Tally account."""
        for attempt in range(ATTEMPTS):
            stored = self._store.invoice(invoice_id)
            account_id = stored.account_id if stored is not None else None
            if account_id is None:
                account_id = self._account_of(obj, invoice_account_id(obj))
            current = self._stripe.invoice(invoice_id)  # after the stored read
            if account_id is None:  # a payload without it: Stripe's invoice names it
                account_id = self._account_of(current, invoice_account_id(current))
            if account_id is None:
                return None, None, False
            after = mirror_invoice(stored, current, account_id=account_id, seller=self._store.seller())
            if after is None:
                return current, account_id, False
            action = "invoice.mirrored" if stored is None else f"invoice.{after.status}"
            if stored is not None and stored.status == after.status:
                action = "invoice.updated"
            try:
                self._store.save_invoice(stored, after, action, context)
            except ChangedMeanwhile:
                if attempt == ATTEMPTS - 1:
                    raise
                continue
            return current, account_id, True
        raise AssertionError("unreachable")  # pragma: no cover

    def _invoice_event(self, event: ProviderEvent, obj: StripeDict, context: AuditContext) -> Applied:
        invoice, account_id, changed = self._sync_invoice(str(obj["id"]), obj, context)
        if invoice is None or account_id is None:
            return Applied("ignored", "not a Tally invoice")
        subscription_id = invoice_subscription_id(invoice)
        if subscription_id is not None:
            # The subscription's status follows the payment in Stripe (past_due, active again):
            # read it there rather than inferring it from an event that may be late.
            _mirror, stripe, moved = self._sync_subscription(subscription_id, account_id, context)
            changed = changed or moved
            self._release_if_ended(stripe)
        if event.type == "invoice.payment_failed" and invoice.get("status") == "open":
            changed = self._payment_failed(invoice, account_id) or changed
        return _outcome(changed, str(invoice.get("status")))

    def _payment_failed(self, invoice: StripeDict, account_id: str) -> bool:
        """Owners and admins told once per attempt; the alarm metric with the first email of the
        attempt (a redelivery sends none, and counts none)."""
        account = self._store.account(account_id)
        if account is None:
            return False
        attempt = int(invoice.get("attempt_count") or 0)
        # No `reason`: the decline is the payment's (its intent), which the invoice does not hold.
        context: dict[str, Any] = {
            "account_name": account.name,
            "invoice_number": invoice.get("number") or str(invoice["id"]),
            "amount": int(invoice.get("amount_remaining") or invoice.get("amount_due") or 0),
            "currency": str(invoice.get("currency") or "").upper(),
            "pay_url": invoice.get("hosted_invoice_url") or f"{self._app_url}/billing",
        }
        sent = self._to_managers(account, "payment-failed", str(invoice["id"]), f"attempt-{attempt}", context)
        if sent:
            self._alerts.count(PAYMENT_FAILED_METRIC)
        return sent

    # -- checkout ----------------------------------------------------------------------------

    def _checkout_completed(self, obj: StripeDict, context: AuditContext) -> Applied:
        session = self._stripe.checkout_session(str(obj["id"]))
        if session.get("status") != "complete":
            return Applied("unchanged", "session not complete")
        meta = metadata(session)
        account_id = meta.get("tally_account_id") or session.get("client_reference_id")
        if not account_id:
            return Applied("ignored", "not a Tally checkout")
        account_id = str(account_id)
        kind = meta.get("tally_kind") or ("order" if session.get("mode") == "payment" else "subscription")
        changed = False
        subscription_id = object_id(session.get("subscription"))
        if kind == "subscription" and subscription_id:
            _mirror, _stripe, changed = self._sync_subscription(subscription_id, account_id, context)
        for attempt in range(ATTEMPTS):
            provisioning = self._provisioning(session, account_id, kind, subscription_id)
            if provisioning is None:
                return Applied("ignored", "no such account")
            try:
                changed = self._store.provision(provisioning, context) or changed
                break
            except ChangedMeanwhile:
                if attempt == ATTEMPTS - 1:
                    raise
        reservation = meta.get("tally_reservation_id")
        if reservation:
            self._seats.confirm(reservation, at=self._now())
        account = self._store.account(account_id)
        if account is not None:
            changed = self._welcome(account, meta.get("tally_plan")) or changed
        return _outcome(changed, "provisioned")

    def _provisioning(
        self, session: StripeDict, account_id: str, kind: str, subscription_id: str | None
    ) -> Provisioning | None:
        account = self._store.account(account_id)
        if account is None:
            return None
        meta = metadata(session)
        now = self._now()
        activate = None
        # A payment still on its way (a bank debit) activates nothing yet: the paid invoice
        # will, through the subscription the account follows.
        settled = session.get("payment_status") in ("paid", "no_payment_required")
        if settled and account.status != "active" and transition_problem(account.status, "active") is None:
            activate = AccountFollows(account, "active", "Checkout completed through Stripe")
        owner = None
        user_id = meta.get("tally_user_id")
        if user_id and not any(member.user_id == user_id for member in self._store.members(account_id)):
            email = (session.get("customer_details") or {}).get("email") or account.email
            owner = Member(account_id, user_id, str(email).lower(), Role.OWNER, now)
        currency = str(session.get("currency") or meta.get("tally_currency") or account.currency).upper()
        total = int(session.get("amount_total") or 0)
        redeemed = None
        code = meta.get("tally_coupon")
        if code and self._store.coupon(code.upper()) is not None:
            source = subscription_id if kind == "subscription" and subscription_id else str(session["id"])
            discount = int((session.get("total_details") or {}).get("amount_discount") or 0)
            redeemed = Redeemed(
                id=redemption_id(source),
                code=code.upper(),
                account_id=account_id,
                applies_to_id=source,
                original=int(session.get("amount_subtotal") or total + discount),
                discount=discount,
                final=total,
                currency=currency,
                at=now,
            )
        order = None
        if kind == "order":
            order = OrderPaid(
                order_id=meta.get("tally_order_id") or str(session["id"]),
                account_id=account_id,
                session_id=str(session["id"]),
                amount=total,
                currency=currency,
                paid_at=now,
            )
        return Provisioning(
            session_id=str(session["id"]),
            account_id=account_id,
            kind="order" if kind == "order" else "subscription",
            activate=activate,
            owner=owner,
            redeemed=redeemed,
            order=order,
            subscription_id=subscription_id,
        )

    def _welcome(self, account: Account, plan: str | None) -> bool:
        context: dict[str, Any] = {"account_name": account.name, "app_url": self._app_url}
        if plan:
            context["plan_name"] = self._plan_names(plan)
        outcome = self._notifier.send(
            "welcome",
            country_locale(account.country),
            account.email,
            LedgerKey("welcome", account.id),
            context,
        )
        return outcome is SendOutcome.SENT

    def _checkout_expired(self, obj: StripeDict) -> Applied:
        reservation = metadata(obj).get("tally_reservation_id")
        if not reservation:
            return Applied("ignored", "no placement")
        self._seats.release(reservation, at=self._now())
        return Applied("applied", "seat released")

    # -- refunds -----------------------------------------------------------------------------

    def _refunded(self, obj: StripeDict, context: AuditContext) -> Applied:
        charge = self._stripe.charge(str(obj["id"]))
        invoice_id = self._stripe.invoice_of_charge(charge)
        if invoice_id is None:
            return Applied("ignored", "charge of no invoice")
        invoice = self._store.invoice(invoice_id)
        if invoice is None:
            stripe_invoice, _account, _changed = self._sync_invoice(
                invoice_id, {**charge, "id": invoice_id}, context
            )
            invoice = self._store.invoice(invoice_id) if stripe_invoice is not None else None
        if invoice is None:
            return Applied("ignored", "not a Tally invoice")
        changed = False
        refunds = cast("list[StripeDict]", (charge.get("refunds") or {}).get("data") or [])
        for refund in sorted(
            refunds, key=lambda refund: (int(refund.get("created") or 0), str(refund["id"]))
        ):
            if refund.get("status") != "succeeded":
                continue
            note_id = refund_note_id(str(refund["id"]))
            invoice = self._store.invoice(invoice_id) or invoice
            if any(ref.id == note_id for ref in invoice.credit_notes):
                continue
            amount = min(int(refund.get("amount") or 0), invoice.total - invoice.credited_total)
            if amount <= 0 or not invoice.allows("credit"):
                continue
            request = CreditNoteIn(
                amount=amount,
                reason="Refunded through Stripe",
                refund=True,
                memo=f"Stripe refund {refund['id']}",
            )
            self._invoices.issue_credit_note(invoice_id, request, context, note_id=note_id)
            changed = True
        return _outcome(changed, "refund")

    # -- disputes ----------------------------------------------------------------------------

    def _dispute(self, obj: StripeDict, context: AuditContext) -> Applied:
        current = self._stripe.dispute(str(obj["id"]))
        charge_id = object_id(current.get("charge"))
        if charge_id is None:
            return Applied("ignored", "dispute of no charge")
        charge = self._stripe.charge(charge_id)
        account_id = self._account_of(charge)
        if account_id is None:
            invoice_id = self._stripe.invoice_of_charge(charge)
            invoice = self._store.invoice(invoice_id) if invoice_id else None
            account_id = invoice.account_id if invoice is not None else None
        if account_id is None:
            return Applied("ignored", "not a Tally charge")
        status: DisputeStatus = "closed" if current.get("status") in CLOSED_DISPUTES else "open"
        for attempt in range(ATTEMPTS):
            stored = self._store.dispute(account_id, str(current["id"]))
            if (
                stored is not None
                and stored.status == status
                and stored.stripe_status == current.get("status")
            ):
                return Applied("unchanged", f"dispute {status}")
            now = self._now()
            after = Dispute(
                id=str(current["id"]),
                account_id=account_id,
                charge_id=charge_id,
                status=status,
                stripe_status=str(current.get("status")),
                amount=int(current.get("amount") or 0),
                currency=str(current.get("currency") or "").upper(),
                reason=current.get("reason"),
                opened_at=stored.opened_at if stored else (instant(current.get("created")) or now),
                closed_at=(stored.closed_at if stored else None) or (now if status == "closed" else None),
            )
            try:
                self._store.save_dispute(stored, after, context)
            except ChangedMeanwhile:
                if attempt == ATTEMPTS - 1:
                    raise
                continue
            if status == "open" and (stored is None or stored.status != "open"):
                self._alerts.count(DISPUTE_METRIC)
            return Applied("applied", f"dispute {status}")
        raise AssertionError("unreachable")  # pragma: no cover


def _outcome(changed: bool, detail: str) -> Applied:
    return Applied("applied" if changed else "unchanged", detail)
