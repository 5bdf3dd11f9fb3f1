"""The audit trail: who changed what, when and why. Platform admins see everything; owners and
admins their account's. Newest first, by pages of fixed cost (`cursor`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Header, Query

from accounts.wiring import audit_reader, policy, principal
from tally.audit.models import AuditPageOut, page_out
from tally.audit.reader import MAX_PAGE, AuditQuery
from tally.errors import InvalidInput
from tally.http.patterns import IDENTIFIER
from tally.http.responses import PRIVATE, responses
from tally.http.security import BEARER
from tally.identity.policy import ACCOUNT_HEADER, Permission

router = Router()

ENTITY = r"^[a-z_]{1,32}:[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"


@router.get(
    "/v1/audit",
    summary="Read the audit trail, newest first",
    description="`account_id` (or `X-Account-Id`, or your only account) for an account's records; "
    "platform admins without one read every record. `entity=type:id` narrows to one entity "
    "(e.g. `member:<user id>`); `from`/`to` to a time range. A page holds up to `limit` records "
    "(fewer when `entity` is filtered to your account); `next_cursor` fetches the next.",
    tags=["audit"],
    security=BEARER,
    responses=responses(200, "A page of records", (*PRIVATE, 404, 422)),
)
def read_audit(
    account_id: Annotated[
        str | None, Query(min_length=1, max_length=64, pattern=IDENTIFIER, description="The account")
    ] = None,
    entity: Annotated[
        str | None, Query(max_length=161, pattern=ENTITY, description="`<entity type>:<entity id>`")
    ] = None,
    start: Annotated[
        datetime | None, Query(alias="from", description="Records at or after (ISO-8601)")
    ] = None,
    end: Annotated[datetime | None, Query(alias="to", description="Records at or before (ISO-8601)")] = None,
    cursor: Annotated[
        str | None, Query(min_length=1, max_length=2048, description="From `next_cursor`")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Records per page")] = 50,
    account_header: Annotated[
        str | None, Header(alias=ACCOUNT_HEADER, min_length=1, max_length=64, pattern=IDENTIFIER)
    ] = None,
) -> AuditPageOut:
    who = principal()
    scope: str | None
    if account_id is None and account_header is None and who.is_platform_admin:
        policy().authorize_platform(who, Permission.AUDIT_READ)
        scope = None
    else:
        wanted = account_id or policy().account_for(who, account_header)
        scope = policy().authorize(who, Permission.AUDIT_READ, wanted).account_id
    if start is not None and end is not None and start > end:
        raise InvalidInput("`from` is after `to`", field="from")
    kind, _, entity_id = (entity or "").partition(":")
    query = AuditQuery(
        account_id=scope,
        entity=(kind, entity_id) if entity else None,
        start=start,
        end=end,
        cursor=cursor,
        limit=limit,
    )
    return page_out(audit_reader().page(query))
