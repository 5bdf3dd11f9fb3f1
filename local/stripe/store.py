"""The sandbox's objects: ids shaped like Stripe's, storage by id, rendering with `expand`, list pages.

Objects are plain dicts in Stripe's shape. Keys starting with `_` are the sandbox's own bookkeeping
(a test clock, a card number, pending prorations) and never leave it: `render` drops them.
"""

from __future__ import annotations

import copy
import secrets
import string
from collections.abc import Callable, Iterable
from typing import Any

from local.stripe.errors import invalid, no_such
from local.stripe.forms import integer

_ALPHABET = string.ascii_letters + string.digits

PREFIXES = {
    "customer": "cus",
    "product": "prod",
    "price": "price",
    "coupon": "",
    "promotion_code": "promo",
    "checkout.session": "cs_test",
    "subscription": "sub",
    "subscription_item": "si",
    "invoice": "in",
    "line_item": "il",
    "invoice_payment": "inpay",
    "payment_intent": "pi",
    "payment_method": "pm",
    "charge": "ch",
    "refund": "re",
    "dispute": "dp",
    "discount": "di",
    "event": "evt",
    "billing_portal.session": "bps",
    "test_helpers.test_clock": "clock",
}

# What a 404 names each kind (Stripe's wording: "No such customer: 'cus_…'").
NOUNS = {
    "checkout.session": "checkout.session",
    "test_helpers.test_clock": "test_clock",
    "billing_portal.session": "billing portal session",
    "promotion_code": "promotion code",
    "payment_intent": "payment_intent",
    "payment_method": "PaymentMethod",
}


def new_id(prefix: str, length: int = 24) -> str:
    if prefix == "cs_test":
        length = 58  # Checkout Session ids are long: cs_test_a1…
    return f"{prefix}_{''.join(secrets.choice(_ALPHABET) for _ in range(length))}"


def strip_internal(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: strip_internal(item) for key, item in value.items() if not key.startswith("_")}
    if isinstance(value, list):
        return [strip_internal(item) for item in value]
    return value


class Store:
    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.kinds: dict[str, dict[str, dict[str, Any]]] = {kind: {} for kind in PREFIXES}

    def new_id(self, kind: str) -> str:
        return new_id(PREFIXES[kind])

    def add(self, obj: dict[str, Any]) -> dict[str, Any]:
        kind = obj["object"]
        self.kinds.setdefault(kind, {})[obj["id"]] = obj
        self.objects[obj["id"]] = obj
        return obj

    def find(self, ident: str) -> dict[str, Any] | None:
        return self.objects.get(ident)

    def get(self, kind: str, ident: Any, *, param: str = "id", status: int = 404) -> dict[str, Any]:
        found = self.kinds.get(kind, {}).get(str(ident)) if isinstance(ident, str) else None
        if found is None:
            raise no_such(NOUNS.get(kind, kind), str(ident), param=param, status=status)
        return found

    def all(self, kind: str) -> list[dict[str, Any]]:
        return list(self.kinds.get(kind, {}).values())

    # -- rendering ------------------------------------------------------------------------------

    def render(self, obj: dict[str, Any], expand: Iterable[str] = ()) -> dict[str, Any]:
        rendered = strip_internal(obj)
        assert isinstance(rendered, dict)
        for path in expand:
            self._expand(rendered, path.split("."), path)
        return rendered

    def _expand(self, node: Any, parts: list[str], path: str) -> None:
        if node is None or not parts:
            return
        if isinstance(node, list):
            for item in node:
                self._expand(item, parts, path)
            return
        if not isinstance(node, dict):
            raise invalid(f"This property cannot be expanded ({path}).", param="expand")
        head, rest = parts[0], parts[1:]
        if node.get("object") == "list" and head == "data":
            self._expand(node.get("data"), rest, path)
            return
        if head not in node:
            raise invalid(f"This property cannot be expanded ({path}).", param="expand")
        value = node[head]
        if isinstance(value, str):
            target = self.find(value)
            if target is None:
                raise invalid(f"This property cannot be expanded ({path}).", param="expand")
            value = node[head] = self.render(target)
        elif isinstance(value, list):
            node[head] = value = [
                self.render(found) if isinstance(item, str) and (found := self.find(item)) else item
                for item in value
            ]
        self._expand(value, rest, path)

    def page(
        self,
        items: list[dict[str, Any]],
        params: dict[str, Any],
        url: str,
        *,
        keep: Callable[[dict[str, Any]], bool] = lambda _: True,
    ) -> dict[str, Any]:
        """A list answer, newest first, with `limit`, `starting_after` and `ending_before`."""
        chosen = [item for item in reversed(items) if keep(item)]
        chosen.sort(key=lambda item: -int(item.get("created") or 0))
        limit = integer(params.get("limit", 10), "limit")
        if not 1 <= limit <= 100:
            raise invalid("Invalid limit: must be between 1 and 100", param="limit")
        after, before = params.get("starting_after"), params.get("ending_before")
        ids = [item["id"] for item in chosen]
        if after:
            if after not in ids:
                raise invalid(f"No such object: '{after}'", param="starting_after", code="resource_missing")
            chosen = chosen[ids.index(after) + 1 :]
        elif before:
            if before not in ids:
                raise invalid(f"No such object: '{before}'", param="ending_before", code="resource_missing")
            chosen = chosen[: ids.index(before)][-limit:]
        expand = [path.removeprefix("data.") for path in _expand_params(params) if path.startswith("data.")]
        return {
            "object": "list",
            "data": [self.render(item, expand) for item in chosen[:limit]],
            "has_more": len(chosen) > limit,
            "url": url,
        }


def _expand_params(params: dict[str, Any]) -> list[str]:
    value = params.get("expand") or []
    return [str(item) for item in (value if isinstance(value, list) else [value])]


def expand_params(params: dict[str, Any]) -> list[str]:
    return _expand_params(params)


def deep(obj: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(obj)
