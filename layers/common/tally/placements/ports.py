"""What the webhook applier needs of placements (shared contract of issue 9)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol


class PlacementSeats(Protocol):
    def confirm(self, reservation_id: str, *, at: datetime) -> None:
        """The reserved seat becomes an active sponsorship. Idempotent; a no-op when already
        active or released (a state never moves backwards)."""
        ...

    def release(self, reservation_id: str, *, at: datetime) -> None:
        """A reservation or a sponsorship frees its seat. Idempotent; a no-op when released."""
        ...
