"""Domain objects as billing-table items and back."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, cast

from tally.accounts.domain import (
    Account,
    AccountStatus,
    Invitation,
    JoinRequest,
    JoinStatus,
    Locale,
    Member,
    UserProfile,
)
from tally.identity.roles import Role
from tally.storage import keys
from tally.storage.items import from_item, to_item

ACCOUNT_KIND = "account"
CLAIM_KIND = "claim"
MEMBER_KIND = "member"
MEMBERSHIP_KIND = "membership"
PROFILE_KIND = "user"
INVITATION_KIND = "invitation"
INVITEE_KIND = "invitee"
TOKEN_KIND = "invite_token"  # noqa: S105 - an item kind
JOIN_KIND = "join_request"
JOIN_MIRROR_KIND = "join_mirror"
# Invitations, their tokens and slots stay readable (as expired) for a while, then TTL removes them.
KEPT_AFTER_EXPIRY = timedelta(days=30)
LEGACY_STATUS: AccountStatus = "active"  # accounts stored before statuses existed were usable


def _when(value: Any) -> datetime | None:
    return datetime.fromisoformat(str(value)) if value else None


def account_item(account: Account) -> dict[str, Any]:
    return keys.account(account.id) | to_item(
        {
            "kind": ACCOUNT_KIND,
            "id": account.id,
            "name": account.name,
            "email": account.email,
            "country": account.country,
            "currency": account.currency,
            "siren": account.siren,
            "siret": account.siret,
            "status": account.status,
            "status_reason": account.status_reason,
            "email_domain": account.email_domain,
            "owner_count": account.owner_count,
            "created_by": account.created_by,
            "created_at": account.created_at.isoformat(),
        }
    )


def account_of(raw: Mapping[str, Any]) -> Account:
    item = from_item(raw)
    return Account(
        id=str(item["id"]),
        name=str(item["name"]),
        email=str(item["email"]),
        country=str(item["country"]),
        currency=str(item["currency"]),
        created_at=datetime.fromisoformat(str(item["created_at"])),
        siren=item.get("siren"),
        siret=item.get("siret"),
        status=cast(AccountStatus, item.get("status") or LEGACY_STATUS),
        status_reason=item.get("status_reason"),
        email_domain=item.get("email_domain"),
        owner_count=int(item.get("owner_count") or 0),
        created_by=item.get("created_by"),
    )


def claim_item(key: keys.Key, account_id: str) -> dict[str, Any]:
    return key | to_item({"kind": CLAIM_KIND, "account_id": account_id})


def member_item(member: Member) -> dict[str, Any]:
    return keys.member(member.account_id, member.user_id) | to_item(
        {
            "kind": MEMBER_KIND,
            "account_id": member.account_id,
            "user_id": member.user_id,
            "email": member.email,
            "role": member.role.value,
            "joined_at": member.joined_at.isoformat(),
        }
    )


def membership_item(member: Member) -> dict[str, Any]:
    """The mirror the membership directory reads (USER#<sub>), written with the member item."""
    return keys.membership(member.user_id, member.account_id) | to_item(
        {"kind": MEMBERSHIP_KIND, "account_id": member.account_id, "role": member.role.value}
    )


def member_of(raw: Mapping[str, Any]) -> Member:
    item = from_item(raw)
    return Member(
        account_id=str(item["account_id"]),
        user_id=str(item["user_id"]),
        email=str(item["email"]),
        role=Role(str(item["role"])),
        joined_at=datetime.fromisoformat(str(item["joined_at"])),
    )


def profile_item(profile: UserProfile) -> dict[str, Any]:
    return keys.user_profile(profile.user_id) | to_item(
        {
            "kind": PROFILE_KIND,
            "user_id": profile.user_id,
            "email": profile.email,
            "name": profile.name,
            "phone": profile.phone,
            "locale": profile.locale,
            "signed_out_at": profile.signed_out_at.isoformat() if profile.signed_out_at else None,
        }
    )


def profile_of(raw: Mapping[str, Any]) -> UserProfile:
    item = from_item(raw)
    return UserProfile(
        user_id=str(item["user_id"]),
        email=str(item["email"]),
        name=item.get("name"),
        phone=item.get("phone"),
        locale=cast(Locale | None, item.get("locale")),
        signed_out_at=_when(item.get("signed_out_at")),
    )


def _ttl(invitation: Invitation) -> int:
    return int((invitation.expires_at + KEPT_AFTER_EXPIRY).timestamp())


def invitation_items(invitation: Invitation) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The invitation, its email's slot and its token (looked up by the token's hash)."""
    details = {
        "account_id": invitation.account_id,
        "invitation_id": invitation.id,
        "email": invitation.email,
        "role": invitation.role.value,
        "invited_by": invitation.invited_by,
        "created_at": invitation.created_at.isoformat(),
        "expires_at": invitation.expires_at.isoformat(),
        "token_hash": invitation.token_hash,
        "ttl": _ttl(invitation),
    }
    return (
        keys.invitation(invitation.account_id, invitation.id) | to_item({"kind": INVITATION_KIND, **details}),
        keys.invitee(invitation.account_id, invitation.email) | to_item({"kind": INVITEE_KIND, **details}),
        keys.invite_token(invitation.token_hash) | to_item({"kind": TOKEN_KIND, **details}),
    )


def invitation_of(raw: Mapping[str, Any]) -> Invitation:
    item = from_item(raw)
    return Invitation(
        id=str(item["invitation_id"]),
        account_id=str(item["account_id"]),
        email=str(item["email"]),
        role=Role(str(item["role"])),
        invited_by=str(item["invited_by"]),
        created_at=datetime.fromisoformat(str(item["created_at"])),
        expires_at=datetime.fromisoformat(str(item["expires_at"])),
        token_hash=str(item["token_hash"]),
    )


def join_items(request: JoinRequest) -> tuple[dict[str, Any], dict[str, Any]]:
    """The request in the account's partition, and its mirror in the user's (pending only)."""
    details = {
        "request_id": request.id,
        "account_id": request.account_id,
        "user_id": request.user_id,
        "email": request.email,
        "status": request.status,
        "created_at": request.created_at.isoformat(),
        "decided_at": request.decided_at.isoformat() if request.decided_at else None,
        "decided_by": request.decided_by,
    }
    return (
        keys.join_request(request.account_id, request.id) | to_item({"kind": JOIN_KIND, **details}),
        keys.user_join_request(request.user_id, request.account_id)
        | to_item({"kind": JOIN_MIRROR_KIND, **details}),
    )


def join_request_of(raw: Mapping[str, Any]) -> JoinRequest:
    item = from_item(raw)
    return JoinRequest(
        id=str(item["request_id"]),
        account_id=str(item["account_id"]),
        user_id=str(item["user_id"]),
        email=str(item["email"]),
        status=cast(JoinStatus, item["status"]),
        created_at=datetime.fromisoformat(str(item["created_at"])),
        decided_at=_when(item.get("decided_at")),
        decided_by=item.get("decided_by"),
    )
