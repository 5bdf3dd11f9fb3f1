"""Placements: a directory's sponsored seats per (location, category), at most `capacity` held.

A seat is held by a reservation (made with a checkout session, until the session expires) or
by an active sponsorship (the checkout completed). An expired reservation no longer holds its
seat: the next reservation of the placement reclaims it. An active sponsorship holds its seat
until it is released (the subscription ends): it never frees up by itself. The sponsorship's id
is its reservation's id, which the tracking API counts clicks and impressions under
(`sponsorship_id`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from tally.errors import Conflict

DEFAULT_CAPACITY = 5
# A plan sold as a placement may set its own capacity in its version's features.
CAPACITY_FEATURE = "placement_capacity"

SeatState = Literal["reserved", "active"]
ReservationState = Literal["reserved", "active", "released", "expired"]


@dataclass(frozen=True)
class Reservation:
    id: str
    location_id: str
    category_id: str
    account_id: str
    until: datetime
    capacity: int


@dataclass(frozen=True)
class Seat:
    reservation_id: str
    account_id: str
    state: SeatState
    until: datetime | None  # a reservation's expiry; None for an active sponsorship

    def holds(self, at: datetime) -> bool:
        return self.state == "active" or (self.until is not None and self.until > at)


@dataclass(frozen=True)
class Availability:
    location_id: str
    category_id: str
    capacity: int
    taken: int  # seats held now: active sponsorships and live reservations
    reserved: int  # of which live reservations
    next_free_at: datetime | None  # when no seat is free: the earliest reservation expiry

    @property
    def free(self) -> int:
        return max(0, self.capacity - self.taken)


def availability(
    location_id: str, category_id: str, capacity: int, seats: list[Seat], at: datetime
) -> Availability:
    held = [seat for seat in seats if seat.holds(at)]
    expiries = [seat.until for seat in held if seat.state == "reserved" and seat.until is not None]
    full = len(held) >= capacity
    return Availability(
        location_id=location_id,
        category_id=category_id,
        capacity=capacity,
        taken=len(held),
        reserved=len(expiries),
        next_free_at=min(expiries) if full and expiries else None,
    )


class PlacementFull(Conflict):
    code = "placement_full"

    def __init__(self, next_free_at: datetime | None) -> None:
        if next_free_at is None:
            when = "every seat is an active sponsorship: none frees up by itself"
        else:
            when = f"the first seat may free up at {next_free_at.isoformat()}"
        super().__init__(f"This placement is full: {when}", field="placement")
        self.next_free_at = next_free_at
        self.details = {"next_free_at": next_free_at.isoformat() if next_free_at else None}
