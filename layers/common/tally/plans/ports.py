"""What the catalogue service needs from storage (DynamoDB; in memory in unit tests). Every write
takes the request's AuditContext: the store writes the audit record in the same transaction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from tally.audit.records import AuditContext
from tally.billing.catalogue import Plan, PublishedVersion


@dataclass(frozen=True)
class StoredPlan:
    plan: Plan
    latest_version: int


class PlanStore(Protocol):
    def get(self, code: str) -> StoredPlan | None: ...

    def listed(self) -> list[StoredPlan]:
        """Every plan, by tier rank then code."""
        ...

    def version(self, code: str, number: int) -> PublishedVersion | None: ...

    def versions(self, code: str) -> list[PublishedVersion]:
        """Oldest first."""
        ...

    def create(self, plan: Plan, first: PublishedVersion, context: AuditContext) -> None:
        """The plan and its version 1; Conflict when the code is taken, writing nothing."""
        ...

    def change(
        self, stored: StoredPlan, plan: Plan, version: PublishedVersion | None, context: AuditContext
    ) -> None:
        """The plan's new fields and/or its next version, conditional on `stored.latest_version`
        still being the latest (ChangedMeanwhile otherwise)."""
        ...
