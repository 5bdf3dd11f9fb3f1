"""What checkout and the webhook applier need of placements (shared contract of issue 9);
tally.placements.seats.DynamoPlacementSeats holds both."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from tally.audit.records import AuditContext
from tally.placements.models import Availability, Reservation


class CheckoutSeats(Protocol):
    """A checkout's seat: held for the session's life, and what is free when it is full."""

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
    ) -> Reservation: ...

    def availability(self, location_id: str, category_id: str, *, at: datetime) -> Availability: ...


class PlacementSeats(Protocol):
    def confirm(self, reservation_id: str, *, at: datetime) -> None:
        """The reserved seat becomes an active sponsorship. Idempotent; a no-op when already
        active or released (a state never moves backwards)."""
        ...

    def release(self, reservation_id: str, *, at: datetime) -> None:
        """A reservation or a sponsorship frees its seat. Idempotent; a no-op when released."""
        ...
