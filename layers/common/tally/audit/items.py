"""Audit records as billing-table items and back (keys: tally.storage.keys.audit)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from tally.audit.records import Actor, ActorKind, AuditRecord, Change
from tally.storage import keys
from tally.storage.items import from_item, to_item

AUDIT_KIND = "audit"


def audit_item(record: AuditRecord) -> dict[str, Any]:
    key = keys.audit(record.account_id, record.at, record.id, record.entity_type, record.entity_id)
    return key | to_item(
        {
            "kind": AUDIT_KIND,
            "id": record.id,
            "at": record.at.isoformat(),
            "actor": str(record.actor),
            "actor_email": record.actor.email,
            "action": record.action,
            "entity_type": record.entity_type,
            "entity_id": record.entity_id,
            "account_id": record.account_id,
            "changes": {
                name: {"before": change.before, "after": change.after}
                for name, change in record.changes.items()
            },
            "reason": record.reason,
            "request_id": record.request_id,
            "ip_prefix": record.ip_prefix,
        }
    )


def record_of(item: Mapping[str, Any]) -> AuditRecord:
    values = from_item(item)
    kind, _, actor_id = str(values["actor"]).partition(":")
    changes = values.get("changes") or {}
    return AuditRecord(
        id=str(values["id"]),
        at=datetime.fromisoformat(str(values["at"])),
        actor=Actor(cast(ActorKind, kind), actor_id, values.get("actor_email")),
        action=str(values["action"]),
        entity_type=str(values["entity_type"]),
        entity_id=str(values["entity_id"]),
        account_id=values.get("account_id"),
        request_id=str(values.get("request_id") or ""),
        ip_prefix=values.get("ip_prefix"),
        reason=values.get("reason"),
        changes={
            name: Change(_plain(change.get("before")), _plain(change.get("after")))
            for name, change in changes.items()
        },
    )


def _plain(value: Any) -> Any:
    """Nested numbers come back as Decimal: whole ones as int, like top-level attributes."""
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)
    if isinstance(value, list):
        return [_plain(element) for element in value]
    if isinstance(value, dict):
        return {name: _plain(element) for name, element in value.items()}
    if isinstance(value, set):
        return sorted(_plain(element) for element in value)
    return value
