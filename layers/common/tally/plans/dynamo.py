"""Plans and their versions in the billing table (docs/billing.md "Storage"):

    PLAN#{code}  PLAN             name, description, tier_rank, public, status, latest_version;
                                  GSI1PK=PLANS, GSI1SK={tier_rank:04d}#{code} (the listing)
    PLAN#{code}  VERSION#{n:06d}  version, content_hash, terms (the PlanVersion's JSON), published_at

Every write is one transaction with its audit record; a new version is conditional on the plan's
`latest_version` still being the one read, and on the version item being new.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tally.accounts.dynamo.table import NEW, BillingTable
from tally.accounts.errors import ChangedMeanwhile
from tally.audit.records import AuditContext
from tally.billing.catalogue import Plan, PlanVersion, PublishedVersion
from tally.errors import Conflict
from tally.plans.ports import StoredPlan
from tally.storage import keys
from tally.storage.guard import transient_as_unavailable
from tally.storage.items import from_item, to_item
from tally.storage.transaction import TransactionRefused

PLAN_KIND = "plan"
VERSION_KIND = "plan_version"
PLAN_FIELDS = ("name", "description", "tier_rank", "public", "status")
CHANGED_MEANWHILE = "The plan changed while this request was made: read it again, then retry"


def plan_item(plan: Plan, latest_version: int, at: datetime) -> dict[str, Any]:
    return (
        keys.plan(plan.code)
        | {
            "GSI1PK": {"S": keys.PLANS_INDEX_PK},
            "GSI1SK": {"S": keys.plan_index_sk(plan.tier_rank, plan.code)},
        }
        | to_item(
            {
                "kind": PLAN_KIND,
                "code": plan.code,
                **plan.model_dump(include=set(PLAN_FIELDS)),
                "latest_version": latest_version,
                "updated_at": at.isoformat(),
            }
        )
    )


def version_item(version: PublishedVersion) -> dict[str, Any]:
    return keys.plan_version(version.plan_code, version.number) | to_item(
        {
            "kind": VERSION_KIND,
            "plan_code": version.plan_code,
            "version": version.number,
            "content_hash": version.content_hash,
            "terms": version.version.model_dump_json(),
            "published_at": version.published_at.isoformat(),
        }
    )


def stored_plan_of(item: dict[str, Any]) -> StoredPlan:
    values = from_item(item)
    plan = Plan.model_validate({"code": values["code"], **{f: values[f] for f in PLAN_FIELDS if f in values}})
    return StoredPlan(plan, int(values["latest_version"]))


def version_of(item: dict[str, Any]) -> PublishedVersion:
    values = from_item(item)
    return PublishedVersion(
        plan_code=str(values["plan_code"]),
        number=int(values["version"]),
        content_hash=str(values["content_hash"]),
        published_at=datetime.fromisoformat(str(values["published_at"])),
        version=PlanVersion.model_validate_json(str(values["terms"])),
    )


class DynamoPlanStore:
    def __init__(self, table: BillingTable) -> None:
        self._table = table

    def get(self, code: str) -> StoredPlan | None:
        item = self._table.get(keys.plan(code))
        return stored_plan_of(item) if item else None

    def listed(self) -> list[StoredPlan]:
        params: dict[str, Any] = {
            "TableName": self._table.name,
            "IndexName": "GSI1",
            "KeyConditionExpression": "GSI1PK = :pk",
            "ExpressionAttributeValues": {":pk": {"S": keys.PLANS_INDEX_PK}},
        }
        plans: list[StoredPlan] = []
        while True:
            with transient_as_unavailable():
                page = self._table.client.query(**params)
            plans.extend(stored_plan_of(item) for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return plans
            params["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def version(self, code: str, number: int) -> PublishedVersion | None:
        item = self._table.get(keys.plan_version(code, number))
        return version_of(item) if item else None

    def versions(self, code: str) -> list[PublishedVersion]:
        return [version_of(item) for item in self._table.query(keys.plan_pk(code), keys.PLAN_VERSION_PREFIX)]

    def create(self, plan: Plan, first: PublishedVersion, context: AuditContext) -> None:
        transaction = self._table.transaction(context)
        transaction.put(plan_item(plan, first.number, first.published_at), condition=NEW, label="plan")
        transaction.put(version_item(first), condition=NEW, label="version")
        transaction.audit(
            "plan.created",
            "plan",
            plan.code,
            account_id=None,
            changes={
                **{field: (None, getattr(plan, field)) for field in PLAN_FIELDS},
                "version": (None, first.number),
                "content_hash": (None, first.content_hash),
            },
        )
        try:
            self._table.commit(transaction)
        except TransactionRefused as refused:
            raise Conflict(f"Plan '{plan.code}' exists already", field="code") from refused

    def change(
        self, stored: StoredPlan, plan: Plan, version: PublishedVersion | None, context: AuditContext
    ) -> None:
        at = version.published_at if version is not None else self._table.now()
        latest = version.number if version is not None else stored.latest_version
        transaction = self._table.transaction(context)
        transaction.put(
            plan_item(plan, latest, at),
            condition="latest_version = :latest",
            values={":latest": stored.latest_version},
            label="plan",
        )
        changes: dict[str, tuple[Any, Any]] = {
            field: (getattr(stored.plan, field), getattr(plan, field))
            for field in PLAN_FIELDS
            if getattr(stored.plan, field) != getattr(plan, field)
        }
        if version is not None:
            transaction.put(version_item(version), condition=NEW, label="version")
            changes |= {
                "version": (stored.latest_version, version.number),
                "content_hash": (None, version.content_hash),
            }
        action = "plan.version_published" if version is not None else "plan.updated"
        if changes.get("status") == ("active", "archived"):
            action = "plan.archived"
        transaction.audit(action, "plan", plan.code, account_id=None, changes=changes)
        try:
            self._table.commit(transaction)
        except TransactionRefused as refused:
            raise ChangedMeanwhile(CHANGED_MEANWHILE, field="code") from refused
