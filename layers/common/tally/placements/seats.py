"""Placement seats in the billing table (keys in tally.storage.keys, "issue 9, checkout"):

    PLACEMENT#{loc}#{cat}  COUNTER              taken (seats held, expired reservations included
                                                until reclaimed), capacity (the last one asked)
    PLACEMENT#{loc}#{cat}  SEAT#{reservation}   a held seat: state reserved (with until) or active
    RESERVATION#{id}       RESERVATION          the reservation: its placement, account and state
                                                reserved -> active -> released, or reserved ->
                                                expired (reclaimed) -> released / active

A reservation is one transaction: the counter's conditional update (`taken < capacity`), the
seat, the reservation, and the reclaim of the placement's expired reservations found by one Query
of the placement's seats (a few items: at most its capacity, and those expired) with its audit
records. Two reservations racing for the last seat: DynamoDB applies one transaction, the other's
condition fails (409 full) or it conflicts (retried here, then 503).
"""

from __future__ import annotations

import secrets
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from tally.accounts.dynamo.table import NEW, BillingTable
from tally.audit.records import Actor, AuditContext
from tally.clock import Clock
from tally.errors import Conflict, NotFound, ServiceUnavailable
from tally.placements.models import (
    DEFAULT_CAPACITY,
    Availability,
    PlacementFull,
    Reservation,
    ReservationState,
    Seat,
    availability,
)
from tally.storage import keys
from tally.storage.backoff import jittered_pause
from tally.storage.items import from_item, to_item
from tally.storage.transaction import Transaction, TransactionRefused

if TYPE_CHECKING:
    from collections.abc import Callable

    from mypy_boto3_dynamodb import DynamoDBClient

ATTEMPTS = 6
MAX_RECLAIMED = 30  # per transaction: 3 items each, with the reservation's 4 within DynamoDB's 100
ENTITY = "reservation"
_SYSTEM = AuditContext(Actor.system("placements"), "", None, None)


def new_reservation_id() -> str:
    return f"rsv_{secrets.token_hex(10)}"


def _instant(value: Any) -> datetime | None:
    return datetime.fromisoformat(str(value)) if value else None


def _seat(item: dict[str, Any]) -> Seat:
    values = from_item(item)
    return Seat(
        reservation_id=str(values["reservation_id"]),
        account_id=str(values["account_id"]),
        state=values["state"],
        until=_instant(values.get("until")),
    )


class DynamoPlacementSeats:
    """`reserve` for checkout, `confirm` and `release` for the webhook applier (PlacementSeats),
    `availability` for GET /v1/placements/{location_id}/{category_id}.

    `context`: whose audit records confirm and release write (the webhook applier's provider);
    reserve takes the request's."""

    def __init__(
        self,
        client: DynamoDBClient,
        table: str,
        *,
        clock: Clock | None = None,
        context: AuditContext | None = None,
        pause: Callable[[int], None] | None = None,
    ) -> None:
        self._table = BillingTable(client, table, clock)
        self._context = context or _SYSTEM
        self._pause = pause or partial(jittered_pause, step=0.005, most_steps=8)

    # -- reading ---------------------------------------------------------------------------

    def _seats(self, location_id: str, category_id: str) -> list[Seat]:
        partition = keys.placement_pk(location_id, category_id)
        return [_seat(item) for item in self._table.query(partition, keys.SEAT_PREFIX)]

    def _capacity(self, location_id: str, category_id: str) -> int:
        counter = self._table.get(keys.placement_counter(location_id, category_id))
        stored = from_item(counter).get("capacity") if counter else None
        return int(stored) if stored else DEFAULT_CAPACITY

    def availability(self, location_id: str, category_id: str, *, at: datetime) -> Availability:
        capacity = self._capacity(location_id, category_id)
        return availability(location_id, category_id, capacity, self._seats(location_id, category_id), at)

    def reservation(self, reservation_id: str) -> dict[str, Any] | None:
        item = self._table.get(keys.reservation(reservation_id))
        return from_item(item) if item else None

    # -- reserving -------------------------------------------------------------------------

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
        """A seat held until `until`, or PlacementFull (409) saying when the first seat may free
        up. With `reservation_id` (a retried checkout's), a reservation that exists is answered
        as it is (idempotent)."""
        if capacity < 1:
            raise ValueError("A placement has at least one seat")
        wanted = reservation_id or new_reservation_id()
        for attempt in range(ATTEMPTS):
            if attempt:
                self._pause(attempt)
            existing = self._existing(wanted)
            if existing is not None:
                return existing
            seats = self._seats(location_id, category_id)
            expired = [s for s in seats if s.state == "reserved" and not s.holds(at)]
            if len(expired) > MAX_RECLAIMED:  # a large placement: reclaim most of them first
                self._reclaim_only(location_id, category_id, expired[MAX_RECLAIMED:], context)
                continue
            transaction = self._table.transaction(context or self._context)
            for seat in expired:
                self._reclaim(transaction, location_id, category_id, seat)
            transaction.update(
                keys.placement_counter(location_id, category_id),
                "SET #taken = if_not_exists(#taken, :zero) + :delta, #capacity = :capacity",
                condition="attribute_not_exists(#taken) OR #taken < :limit",
                names={"#taken": "taken", "#capacity": "capacity"},
                values={
                    ":zero": 0,
                    ":delta": 1 - len(expired),
                    ":capacity": capacity,
                    ":limit": capacity + len(expired),
                },
                label="counter",
            )
            seat_values = {
                "kind": "placement_seat",
                "reservation_id": wanted,
                "account_id": account_id,
                "state": "reserved",
                "until": until.isoformat(),
                "created_at": at.isoformat(),
            }
            transaction.put(
                keys.placement_seat(location_id, category_id, wanted) | to_item(seat_values),
                condition=NEW,
                label="seat",
            )
            transaction.put(
                keys.reservation(wanted)
                | to_item(
                    {
                        **seat_values,
                        "kind": "reservation",
                        "location_id": location_id,
                        "category_id": category_id,
                    }
                ),
                condition=NEW,
                label="reservation",
            )
            transaction.audit(
                "placement.reserved",
                ENTITY,
                wanted,
                account_id=account_id,
                changes={
                    "state": (None, "reserved"),
                    "placement": (None, f"{location_id}/{category_id}"),
                    "until": (None, until.isoformat()),
                },
            )
            try:
                self._table.commit(transaction)
            except ServiceUnavailable:
                continue  # another reservation wrote the counter at the same moment
            except TransactionRefused as refused:
                if refused.refused("seat") or refused.refused("reservation"):
                    continue  # made meanwhile (a retry of the same checkout): read it
                if refused.refused("counter") and len(refused.refusals) == 1:
                    # Full as the counter says: read the seats again to say when one may free up
                    # (unless one was freed meanwhile, or more expired than one reservation
                    # reclaims: then try again).
                    now = availability(
                        location_id, category_id, capacity, self._seats(location_id, category_id), at
                    )
                    if now.free == 0:
                        raise PlacementFull(now.next_free_at) from refused
                continue  # a seat to reclaim changed meanwhile: read again
            return Reservation(wanted, location_id, category_id, account_id, until, capacity)
        raise ServiceUnavailable("The placement is busy: retry shortly")

    def _existing(self, reservation_id: str) -> Reservation | None:
        values = self.reservation(reservation_id)
        if values is None:
            return None
        if values["state"] != "reserved":
            raise Conflict(
                f"This checkout's reservation is {values['state']}: start a new checkout (a new "
                "Idempotency-Key)",
                field="placement",
            )
        location_id, category_id = str(values["location_id"]), str(values["category_id"])
        until = _instant(values["until"])
        assert until is not None
        return Reservation(
            reservation_id,
            location_id,
            category_id,
            str(values["account_id"]),
            until,
            self._capacity(location_id, category_id),
        )

    def _reclaim_only(
        self, location_id: str, category_id: str, expired: list[Seat], context: AuditContext | None
    ) -> None:
        """Expired reservations' seats given back, in transactions of their own."""
        for start in range(0, len(expired), MAX_RECLAIMED):
            batch = expired[start : start + MAX_RECLAIMED]
            transaction = self._table.transaction(context or self._context)
            for seat in batch:
                self._reclaim(transaction, location_id, category_id, seat)
            transaction.update(
                keys.placement_counter(location_id, category_id),
                "SET #taken = #taken - :count",
                condition="#taken >= :count",
                names={"#taken": "taken"},
                values={":count": len(batch)},
                label="counter",
            )
            try:
                self._table.commit(transaction)
            except (ServiceUnavailable, TransactionRefused):
                return  # another reservation reclaimed them meanwhile: read again

    def _reclaim(self, transaction: Transaction, location_id: str, category_id: str, seat: Seat) -> None:
        assert seat.until is not None
        transaction.delete(
            keys.placement_seat(location_id, category_id, seat.reservation_id),
            condition="#state = :reserved AND #until = :until",
            names={"#state": "state", "#until": "until"},
            values={":reserved": "reserved", ":until": seat.until.isoformat()},
            label=f"reclaim:{seat.reservation_id}",
        )
        self._move(transaction, seat.reservation_id, "reserved", "expired")
        # Recorded on the platform's trail, not the expired reservation's account's: the actor is
        # whoever reserves now, another tenant's user, whom that account's trail must not show.
        # (The reservation's own records, by entity, say whose it was.)
        transaction.audit(
            "placement.reservation_expired",
            ENTITY,
            seat.reservation_id,
            account_id=None,
            changes={"state": ("reserved", "expired")},
        )

    @staticmethod
    def _move(
        transaction: Transaction, reservation_id: str, before: ReservationState, after: ReservationState
    ) -> None:
        transaction.update(
            keys.reservation(reservation_id),
            "SET #state = :after",
            condition="#state = :before",
            names={"#state": "state"},
            values={":before": before, ":after": after},
            label=f"reservation:{reservation_id}",
        )

    # -- confirming and releasing (the webhook applier) -----------------------------------

    def confirm(self, reservation_id: str, *, at: datetime) -> None:
        self._settle(reservation_id, "active", at)

    def release(self, reservation_id: str, *, at: datetime) -> None:
        self._settle(reservation_id, "released", at)

    def _settle(self, reservation_id: str, after: ReservationState, at: datetime) -> None:
        for attempt in range(ATTEMPTS):
            if attempt:
                self._pause(attempt)
            values = self.reservation(reservation_id)
            if values is None:
                raise NotFound(f"No reservation '{reservation_id}'", field="reservation_id")
            before: ReservationState = values["state"]
            if before == after or before == "released":
                return  # already there, or over: a state never moves backwards
            transaction = self._table.transaction(self._context)
            self._write_settle(transaction, values, before, after, at)
            try:
                self._table.commit(transaction)
            except (ServiceUnavailable, TransactionRefused):
                continue  # it changed meanwhile (reclaimed, confirmed): read it again
            return
        raise ServiceUnavailable("The placement is busy: retry shortly")

    def _write_settle(
        self,
        transaction: Transaction,
        values: dict[str, Any],
        before: ReservationState,
        after: ReservationState,
        at: datetime,
    ) -> None:
        reservation_id = str(values["reservation_id"])
        location_id, category_id = str(values["location_id"]), str(values["category_id"])
        seat_key = keys.placement_seat(location_id, category_id, reservation_id)
        counter = keys.placement_counter(location_id, category_id)
        names = {"#state": "state"}
        if after == "active" and before == "reserved":
            transaction.update(
                seat_key,
                "SET #state = :active REMOVE #until",
                condition="#state = :reserved",
                names={**names, "#until": "until"},
                values={":active": "active", ":reserved": "reserved"},
                label="seat",
            )
        elif after == "active":  # expired and reclaimed, then paid: the buyer gets a seat back
            seat = {
                "kind": "placement_seat",
                "reservation_id": reservation_id,
                "account_id": values["account_id"],
                "state": "active",
                "created_at": at.isoformat(),
            }
            transaction.put(seat_key | to_item(seat), condition=NEW, label="seat")
            transaction.update(
                counter,
                "SET #taken = if_not_exists(#taken, :zero) + :one",
                names={"#taken": "taken"},
                values={":zero": 0, ":one": 1},
                label="counter",
            )
        elif before in ("reserved", "active"):  # released: the seat is freed
            transaction.delete(
                seat_key, condition="#state = :before", names=names, values={":before": before}, label="seat"
            )
            transaction.update(
                counter,
                "SET #taken = #taken - :one",
                condition="#taken >= :one",
                names={"#taken": "taken"},
                values={":one": 1},
                label="counter",
            )
        self._move(transaction, reservation_id, before, after)
        transaction.audit(
            "placement.confirmed" if after == "active" else "placement.released",
            ENTITY,
            reservation_id,
            account_id=str(values["account_id"]),
            changes={"state": (before, after)},
        )
