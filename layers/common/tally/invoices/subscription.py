"""A subscription's invoice for its period: the engine behind
`POST /v1/accounts/{id}/subscription/invoice` and the recurring invoicing of every period.

Stripe's model: the plan's price is billed in advance (the invoice of a period bills that
period), usage in arrears (it bills the usage of the period that just closed, priced with the
plan version in force then). When the current period has ended, the subscription rolls over
first (`period_end_reached`: a pending downgrade applies) and the rolled-over subscription is
written in the invoice's own transaction, with the period's claim, conditional on the
subscription read: exactly one invoice per (subscription, period), and a period never rolls
over without its invoice. Asking again answers the first invoice (created False).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal
from functools import partial
from typing import Protocol

from tally import clock as clocks
from tally.accounts.errors import ChangedMeanwhile
from tally.audit.records import AuditContext
from tally.billing import charges as usage_charges
from tally.billing.charges import ChargeLine
from tally.billing.coupons import AppliedCoupon
from tally.billing.invoice_lines import LineIn
from tally.billing.invoices import CouponRef, Invoice, new_draft
from tally.billing.metrics import BillableMetric
from tally.billing.periods import Period, period_key
from tally.billing.seller import SellerSettings
from tally.billing.subscription_invoice import (
    apply_coupon,
    coupon_covers,
    current_period,
    fit_credits,
    prorated_price,
    roll_over,
    subscription_lines,
)
from tally.billing.subscription_state import FINAL, PendingLine, Subscription
from tally.clock import Clock
from tally.errors import Conflict, NotFound, ServiceUnavailable
from tally.invoices.ports import InvoiceStore, SubscriptionFollows
from tally.invoices.service import SellerSettingsService, new_invoice_id
from tally.plans.service import CatalogueService
from tally.storage import keys
from tally.storage.backoff import jittered_pause
from tally.subscriptions.ports import Accounts, SubscriptionStore
from tally.subscriptions.service import NoSubscription, settle

ATTEMPTS = 5  # reads and writes again when the subscription changed meanwhile (or a conflict)


class NothingToInvoice(Conflict):
    code = "nothing_to_invoice"


class UsageTotals(Protocol):
    """What the invoicing reads of the usage half (tally.usage.dynamo.DynamoUsageStore)."""

    def aggregates(self, account_id: str, period: str) -> dict[str, Decimal]:
        """Every metric's aggregate of one period key (`period_key`, or keys.FOREVER)."""
        ...

    def metrics(self, codes: set[str]) -> dict[str, BillableMetric]:
        """The metrics of these codes (their names go on the usage lines)."""
        ...


def _refusal(subscription: Subscription, now: datetime) -> NothingToInvoice | None:
    """Why this subscription has no period to invoice now, in words; None when it has one."""
    status = subscription.status
    if status in FINAL:
        return NothingToInvoice(f"The subscription is {status.replace('_', ' ')}: nothing is left to invoice")
    if status == "trialing":
        end = subscription.current_period_end.isoformat()
        if now >= subscription.current_period_end:
            return NothingToInvoice(
                f"A trialing subscription is not invoiced: its trial ended at {end}; it is invoiced "
                "once it converts"
            )
        return NothingToInvoice(
            f"A trialing subscription is not invoiced: its first invoice comes when the trial ends ({end})"
        )
    if status == "paused":
        return NothingToInvoice("A paused subscription is not invoiced: unpause it first")
    if status == "incomplete" and now >= subscription.current_period_end:
        return NothingToInvoice(
            "An incomplete subscription's first period has ended unpaid: it expires; start a new one"
        )
    return None


class SubscriptionInvoicing:
    def __init__(
        self,
        subscriptions: SubscriptionStore,
        invoices: InvoiceStore,
        settings: SellerSettingsService,
        catalogue: CatalogueService,
        usage: UsageTotals,
        accounts: Accounts,
        *,
        clock: Clock | None = None,
        pause: Callable[[int], None] | None = None,
        attempts: int = ATTEMPTS,
    ) -> None:
        self._subscriptions = subscriptions
        self._invoices = invoices
        self._settings = settings
        self._catalogue = catalogue
        self._usage = usage
        self._accounts = accounts
        self._clock = clock
        self._pause = pause or partial(jittered_pause, step=0.01)
        self._attempts = attempts

    def _now(self) -> datetime:
        return (self._clock or clocks.get_clock()).now()

    def invoice(self, account_id: str, context: AuditContext) -> tuple[Invoice, bool]:
        """The draft invoice of the account's subscription for its current period (rolled over
        first when it has ended), and True; or that period's invoice made earlier, and False.

        404 for an unknown account; 409 without a subscription, or when it has nothing to
        invoice (ended, trialing, paused; set to cancel and at its end: it is canceled)."""
        if self._accounts.get(account_id) is None:
            raise NotFound(f"No account '{account_id}'", field="account_id")
        for attempt in range(self._attempts):
            try:
                return self._attempt(account_id, context)
            except (ChangedMeanwhile, ServiceUnavailable):
                # Changed (a plan change, a concurrent invoicing) or a transaction conflict:
                # read it again; a concurrent invoicing's invoice is then answered.
                if attempt + 1 == self._attempts:
                    raise
                self._pause(attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def _attempt(self, account_id: str, context: AuditContext) -> tuple[Invoice, bool]:
        now = self._now()
        stored = self._subscriptions.current(account_id)
        if stored is None:
            raise NoSubscription("This account has no subscription: start one first", field="account_id")
        # Set to cancel and at its end: canceled now, in its own transaction (as every read does).
        subscription = settle(self._subscriptions, self._accounts, stored, now, context)
        if (refusal := _refusal(subscription, now)) is not None:
            raise refusal
        renewal = roll_over(subscription, now)
        period = renewal.subscription
        if (refusal := _refusal(period, now)) is not None:  # pragma: no cover - settle cancels first
            raise refusal
        settings = self._settings.current()
        coupon = period.coupon if period.coupon is not None and coupon_covers(period.coupon, period) else None
        account = self._accounts.get(account_id)
        tax_rate = settings.rate_for_country(account.country if account is not None else None)
        lines, carried = self._lines(period, renewal.closing, coupon, settings, tax_rate)
        draft = new_draft(
            id=new_invoice_id(),
            account_id=account_id,
            currency=period.currency,
            lines=lines,
            settings=settings,
            at=now,
            coupon=CouponRef(code=coupon.code, redemption_id=coupon.redemption_id) if coupon else None,
            subscription_id=period.id,
            period_start=period.current_period_start,
            period_end=period.current_period_end,
        )
        invoiced = period.model_copy(update={"pending_lines": carried})
        follows = None
        if invoiced != subscription:
            action = "subscription.renewed" if renewal.rolled else "subscription.lines_invoiced"
            follows = SubscriptionFollows(subscription, invoiced, action, None)
        invoice = self._invoices.create(draft, context, follows)
        created = invoice.id == draft.id
        if not created and renewal.rolled:
            self._roll_over_alone(subscription, period, context)
        return invoice, created

    def _roll_over_alone(self, before: Subscription, after: Subscription, context: AuditContext) -> None:
        """The new period had its invoice while the subscription had not rolled over to it (an
        invoice made by hand with POST /v1/invoices): roll it over alone, its pending lines kept
        for the next invoice. When a concurrent invoicing rolled it over, this changes nothing."""
        with contextlib.suppress(ChangedMeanwhile, ServiceUnavailable):
            self._subscriptions.save(before, after, "subscription.renewed", None, context)

    def _lines(
        self,
        subscription: Subscription,
        closing: Subscription | None,
        coupon: AppliedCoupon | None,
        settings: SellerSettings,
        tax_rate: str,
    ) -> tuple[list[LineIn], tuple[PendingLine, ...]]:
        """The period's lines (plan in advance, pending proration, the closing period's usage),
        taxed at the customer's country's rate, discounted by the coupon covering the period,
        and the credit that does not fit."""
        plan = self._catalogue.stored(subscription.plan_code).plan
        version = self._catalogue.version(subscription.plan_code, subscription.plan_version)
        price = version.version.price(subscription.cycle, subscription.currency)
        if price is None or price.amount is None:
            raise Conflict(
                f"Plan '{subscription.plan_code}' has no {subscription.cycle} price in "
                f"{subscription.currency} (it is sold on quote): a platform admin invoices it with "
                "POST /v1/invoices"
            )
        usage: Sequence[ChargeLine] = ()
        usage_period: Period | None = None
        if closing is not None:
            usage, usage_period = self._usage_lines(closing), current_period(closing)
        lines = subscription_lines(
            description=f"{plan.name} ({subscription.cycle})",
            price=prorated_price(price.amount, subscription),
            period=current_period(subscription),
            currency=subscription.currency,
            proration=subscription.pending_lines,
            usage=usage,
            usage_period=usage_period,
            tax_rate=tax_rate,
            free=coupon is not None and coupon.free_months is not None,
        )
        if coupon is not None:
            lines = apply_coupon(lines, coupon, subscription.currency)
        return fit_credits(lines, subscription.currency, settings)

    def _usage_lines(self, closing: Subscription) -> list[ChargeLine]:
        """The closing period's usage charges, priced with the plan version in force then: its
        aggregates (keyed as the usage half keys them: `period_key` of the period's start in the
        subscription's zone, like Schedule.key) over the never-resetting ones, as
        UsageService.charges does."""
        version = self._catalogue.version(closing.plan_code, closing.plan_version)
        charges = [charge for charge in version.version.charges if charge.currency == closing.currency]
        if not charges:
            return []
        key = period_key(closing.current_period_start, closing.time_zone)
        values = {
            **self._usage.aggregates(closing.account_id, keys.FOREVER),
            **self._usage.aggregates(closing.account_id, key),
        }
        metrics = self._usage.metrics({charge.metric for charge in charges})
        names = {code: metric.name for code, metric in metrics.items()}
        return usage_charges.preview(charges, values, closing.currency, metric_names=names)
