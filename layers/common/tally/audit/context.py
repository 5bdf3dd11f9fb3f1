"""The audit context of an HTTP request: the caller, the request id, the truncated IP, the reason."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tally.audit.records import Actor, AuditContext
from tally.identity.principal import Principal
from tally.tracking.visitor import truncate_ip

REASON_HEADER = "x-audit-reason"


def context_from_event(
    event: Mapping[str, Any], principal: Principal, reason: str | None = None
) -> AuditContext:
    """`reason` is the route's own reason field; without one, the X-Audit-Reason header's."""
    request = event.get("requestContext") or {}
    headers = {str(name).lower(): value for name, value in (event.get("headers") or {}).items()}
    given = reason if reason is not None else headers.get(REASON_HEADER)
    given = str(given).strip() if given is not None else None
    return AuditContext(
        actor=Actor.of(principal),
        request_id=str(request.get("requestId") or ""),
        # The address API Gateway saw on the socket; X-Forwarded-For is the client's to write.
        ip_prefix=truncate_ip((request.get("http") or {}).get("sourceIp")),
        reason=given or None,
    )
