"""In-memory fakes of checkout's store and of placement seats, faithful to the DynamoDB adapters'
rules (first writer wins for Stripe ids, customers and checkouts; at most `capacity` seats held,
expired reservations freeing theirs; a reservation id reserved once)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from tally.audit.records import AuditContext
from tally.checkout.dynamo import CheckoutRecord
from tally.placements.models import Availability, PlacementFull, Reservation, Seat, availability


class InMemoryCheckoutStore:
    def __init__(self) -> None:
        self.ids: dict[tuple[str, str], str] = {}
        self.customers: dict[str, str] = {}
        self.checkouts: dict[tuple[str, str], CheckoutRecord] = {}
        self.actions: list[str] = []

    def stripe_id(self, kind: str, tally_key: str) -> str | None:
        return self.ids.get((kind, tally_key))

    def remember(self, kind: str, tally_key: str, stripe_id: str, context: AuditContext) -> str:
        if (kind, tally_key) not in self.ids:
            self.ids[(kind, tally_key)] = stripe_id
            self.actions.append(f"stripe.{kind}_linked")
        return self.ids[(kind, tally_key)]

    def customer(self, account_id: str) -> str | None:
        return self.customers.get(account_id)

    def link_customer(self, account_id: str, customer_id: str, context: AuditContext) -> str:
        if account_id not in self.customers:
            self.customers[account_id] = customer_id
            self.actions.append("account.stripe_customer_linked")
        return self.customers[account_id]

    def checkout(self, account_id: str, checkout_id: str) -> CheckoutRecord | None:
        return self.checkouts.get((account_id, checkout_id))

    def start(self, record: CheckoutRecord, context: AuditContext) -> CheckoutRecord:
        key = (record.account_id, record.id)
        if key not in self.checkouts:
            self.checkouts[key] = record
            self.actions.append("checkout.started")
        return self.checkouts[key]

    def opened(
        self, record: CheckoutRecord, session_id: str, url: str, context: AuditContext
    ) -> CheckoutRecord:
        key = (record.account_id, record.id)
        if self.checkouts[key].session_id is None:
            self.checkouts[key] = replace(self.checkouts[key], session_id=session_id, url=url)
            self.actions.append("checkout.session_created")
        return self.checkouts[key]


class InMemorySeats:
    def __init__(self) -> None:
        self.seats: dict[tuple[str, str], dict[str, Seat]] = {}
        self.reservations: dict[str, Reservation] = {}
        self.capacity: dict[tuple[str, str], int] = {}

    def reserve(
        self,
        location_id: str,
        category_id: str,
        account_id: str,
        *,
        until: datetime,
        capacity: int,
        at: datetime,
        reservation_id: str | None = None,
        context: AuditContext | None = None,
    ) -> Reservation:
        wanted = reservation_id or f"rsv_{len(self.reservations)}"
        if wanted in self.reservations:
            return self.reservations[wanted]
        placement = (location_id, category_id)
        held = {k: seat for k, seat in self.seats.get(placement, {}).items() if seat.holds(at)}
        self.capacity[placement] = capacity
        if len(held) >= capacity:
            raise PlacementFull(
                availability(location_id, category_id, capacity, list(held.values()), at).next_free_at
            )
        held[wanted] = Seat(wanted, account_id, "reserved", until)
        self.seats[placement] = held
        made = Reservation(wanted, location_id, category_id, account_id, until, capacity)
        self.reservations[wanted] = made
        return made

    def availability(self, location_id: str, category_id: str, *, at: datetime) -> Availability:
        placement = (location_id, category_id)
        seats = list(self.seats.get(placement, {}).values())
        return availability(location_id, category_id, self.capacity.get(placement, 5), seats, at)
