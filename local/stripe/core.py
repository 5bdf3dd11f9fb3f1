"""The sandbox's Stripe, its base: state, clock and events, and what every part shares.

The operations are split by what they act on, each part building on the one before:
payments → customers → catalogue → invoicing → subscriptions → checkout → `local.stripe.billing`.
No HTTP here (local.stripe.server routes to them). Every state change records an event in Stripe's
shape and hands it to `publish` (delivery). All methods run under `lock`: the server takes it per
request, the clock and the control endpoints too, so state moves one step at a time. Times follow
the sandbox's clock: the test clock an object's customer is attached to, else `now`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from local.stripe.errors import invalid, missing_param
from local.stripe.forms import as_list, integer
from local.stripe.money import DAY
from local.stripe.shapes import blank
from local.stripe.store import Store, expand_params

Obj = dict[str, Any]

# The SDK's API version (stripe._api_version), written out: importing the SDK takes a second, and
# the stack starts the sandbox at once. A unit test keeps the two equal.
API_VERSION = "2026-10-28.endive"
LIVE_STATUSES = frozenset({"active", "trialing", "past_due", "unpaid"})
RETRY_DAYS = (3, 5, 7)  # Stripe's retries after a failed renewal: 4 attempts in all, then it stops
TRIAL_WILL_END = 3 * DAY

# Stripe's test cards, by what a charge does: None succeeds, "later" succeeds the first time
# (checkout) and declines every later charge (renewals, off-session), else the decline code.
CARDS: dict[str, str | None] = {
    "4242424242424242": None,
    "5555555555554444": None,
    "4000000000000341": "later",
    "4000000000000002": "generic_decline",
    "4000000000009995": "insufficient_funds",
    "4000000000000069": "expired_card",
}
# The SDK's test payment method tokens.
TEST_TOKENS = {
    "pm_card_visa": "4242424242424242",
    "pm_card_mastercard": "5555555555554444",
    "pm_card_chargeCustomerFail": "4000000000000341",
    "pm_card_chargeDeclined": "4000000000000002",
    "pm_card_visa_chargeDeclinedInsufficientFunds": "4000000000009995",
    "pm_card_chargeDeclinedExpiredCard": "4000000000000069",
}
DECLINE_MESSAGES = {
    "generic_decline": "Your card was declined.",
    "insufficient_funds": "Your card has insufficient funds.",
    "expired_card": "Your card has expired.",
}


def metadata_update(current: Obj | None, given: Any, param: str = "metadata") -> Obj:
    """Stripe's metadata update: keys merge, an empty value removes its key, `metadata=` clears all."""
    result = dict(current or {})
    if given is None:
        return result
    if given == "":
        return {}
    if not isinstance(given, dict):
        raise invalid("Invalid object", param=param)
    for key, value in given.items():
        if value == "":
            result.pop(key, None)
        else:
            result[str(key)] = str(value)
    return result


def changes(before: Obj, after: Obj) -> Obj:
    """`data.previous_attributes`: the earlier value of every top-level field that changed."""
    return {key: value for key, value in before.items() if after.get(key) != value}


class Core:
    def __init__(
        self,
        *,
        base_url: str,
        now: Callable[[], datetime],
        publish: Callable[[Obj], None],
        has_endpoint: Callable[[], bool],
    ) -> None:
        self.base_url = base_url
        self.now = now
        self.publish = publish
        self.has_endpoint = has_endpoint
        self.store = Store()
        self.lock = threading.RLock()
        self.request: Obj = {"id": None, "idempotency_key": None}  # the API request under way

    # -- clock and events ----------------------------------------------------------------------

    def time(self, clock: str | None) -> int:
        if clock:
            frozen = self.store.get("test_helpers.test_clock", clock)["frozen_time"]
            return int(frozen)
        return int(self.now().timestamp())

    def event(self, type_: str, obj: Obj, at: int, previous: Obj | None = None) -> Obj:
        data: Obj = {"object": self.store.render(obj)}
        if previous is not None:
            data["previous_attributes"] = previous
        event = blank(
            "event",
            api_version=API_VERSION,
            created=at,
            data=data,
            id=self.store.new_id("event"),
            livemode=False,
            pending_webhooks=1 if self.has_endpoint() else 0,
            request=dict(self.request),
            type=type_,
        )
        self.store.add(event)
        self.publish(self.store.render(event))
        return event

    def updated(self, type_: str, obj: Obj, before: Obj, at: int) -> None:
        """An `….updated` event when `obj` changed since `before` (a render), none otherwise."""
        changed = changes(before, self.store.render(obj))
        if changed:
            self.event(type_, obj, at, changed)

    def list_events(self, p: Obj) -> Obj:
        types = {str(t) for t in as_list(p.get("types"))} | ({str(p["type"])} if p.get("type") else set())

        def keep(event: Obj) -> bool:
            if not types:
                return True
            return any(
                event["type"] == t or (t.endswith("*") and event["type"].startswith(t[:-1])) for t in types
            )

        return self.store.page(self.store.all("event"), p, "/v1/events", keep=keep)

    def search(self, kind: str, url: str, p: Obj) -> Obj:
        """Stripe's search, as far as Tally uses it: `field:'value'` and `metadata['key']:'value'`
        clauses joined by AND (exact matches), newest first."""
        query = str(p.get("query") or "")
        if not query:
            raise missing_param("query")
        clauses: list[tuple[str, str]] = []
        for clause in query.split(" AND "):
            field, _, value = clause.strip().partition(":")
            if not value:
                raise invalid(f"Invalid search query: {query}", param="query")
            clauses.append((field.strip(), value.strip().strip("'\"")))

        def shown(value: Any) -> str:
            return str(value).lower() if isinstance(value, bool) else str(value)

        def matches(obj: Obj) -> bool:
            for field, value in clauses:
                if field.startswith("metadata["):
                    if obj["metadata"].get(field[len("metadata[") : -1].strip("'\"")) != value:
                        return False
                elif shown(obj.get(field)) != value:
                    return False
            return True

        found = [obj for obj in reversed(self.store.all(kind)) if matches(obj)]
        limit = integer(p.get("limit", 10), "limit")
        expand = [path.removeprefix("data.") for path in expand_params(p) if path.startswith("data.")]
        return {
            "object": "search_result",
            "data": [self.store.render(obj, expand) for obj in found[:limit]],
            "has_more": len(found) > limit,
            "next_page": None,
            "url": url,
        }

    def simple_list(self, kind: str, url: str, p: Obj, *filters: str) -> Obj:
        wanted = {key: p[key] for key in filters if p.get(key)}
        return self.store.page(
            self.store.all(kind), p, url, keep=lambda obj: all(obj.get(k) == v for k, v in wanted.items())
        )
