"""Wire models of GET /v1/audit."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from tally.audit.reader import AuditPage
from tally.audit.records import AuditRecord
from tally.http.fields import WireModel


class ChangeOut(WireModel):
    before: Any = None
    after: Any = None


class AuditRecordOut(WireModel):
    id: str
    at: str
    actor: str = Field(description="`user:<sub>`, `api_key:<id>`, `system:<job>` or `provider:<name>`")
    actor_email: str | None = None
    action: str = Field(description="What was done, e.g. `member.role_changed`")
    entity_type: str
    entity_id: str
    account_id: str | None = Field(default=None, description="None for changes that belong to no account")
    changes: dict[str, ChangeOut] = Field(description="Each changed field's value before and after")
    reason: str | None = None
    request_id: str
    ip_prefix: str | None = Field(default=None, description="The caller's IP, truncated (IPv4 /24, IPv6 /48)")


class AuditPageOut(WireModel):
    records: list[AuditRecordOut] = Field(description="Newest first")
    next_cursor: str | None = Field(
        default=None, description="Send it as `cursor` for the next page; absent on the last page"
    )


def record_out(record: AuditRecord) -> AuditRecordOut:
    return AuditRecordOut(
        id=record.id,
        at=record.at.isoformat(),
        actor=str(record.actor),
        actor_email=record.actor.email,
        action=record.action,
        entity_type=record.entity_type,
        entity_id=record.entity_id,
        account_id=record.account_id,
        changes={name: ChangeOut(before=c.before, after=c.after) for name, c in record.changes.items()},
        reason=record.reason,
        request_id=record.request_id,
        ip_prefix=record.ip_prefix,
    )


def page_out(page: AuditPage) -> AuditPageOut:
    return AuditPageOut(records=[record_out(record) for record in page.records], next_cursor=page.next_cursor)
