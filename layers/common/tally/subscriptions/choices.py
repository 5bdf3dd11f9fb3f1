"""The plan a customer may choose, and its price at a cycle and currency: one wording of the
refusals (unknown plan, archived plan, no such price) for every route that takes a `plan`
(starting or changing a subscription, natively or through Stripe, and checkout)."""

from __future__ import annotations

from tally.billing.catalogue import Cycle, PublishedVersion
from tally.billing.proration import PricedChoice
from tally.billing.subscription_state import Subscription
from tally.errors import Conflict, InvalidInput, NotFound
from tally.plans.ports import StoredPlan
from tally.plans.service import CatalogueService


def choosable(catalogue: CatalogueService, plan_code: str) -> tuple[StoredPlan, PublishedVersion]:
    """An active plan and its latest version (404 for an unknown plan, 409 for an archived one)."""
    try:
        stored = catalogue.stored(plan_code)
    except NotFound:
        # The request names it `plan` (body or query): say so, not the catalogue's `code`.
        raise NotFound(f"No plan '{plan_code}'", field="plan") from None
    if stored.plan.status != "active":
        raise Conflict(f"Plan '{plan_code}' is archived: choose another plan", field="plan")
    return stored, catalogue.latest(stored)


def priced_choice(stored: StoredPlan, version: PublishedVersion, cycle: Cycle, currency: str) -> PricedChoice:
    """The version at a cycle and the subscription's currency (422 when it has no such price)."""
    price = version.version.price(cycle, currency)
    if price is None:
        raise InvalidInput(
            f"Plan '{stored.plan.code}' has no {cycle} price in {currency} (the subscription's currency)",
            field="cycle",
        )
    return PricedChoice(
        plan_code=stored.plan.code,
        plan_version=version.number,
        plan_name=stored.plan.name,
        tier_rank=stored.plan.tier_rank,
        cycle=cycle,
        currency=currency,
        amount=price.amount,
    )


def current_choice(catalogue: CatalogueService, subscription: Subscription) -> PricedChoice:
    """What the subscription is on now: its own plan version, even archived or superseded."""
    return priced_choice(
        catalogue.stored(subscription.plan_code),
        catalogue.version(subscription.plan_code, subscription.plan_version),
        subscription.cycle,
        subscription.currency,
    )
