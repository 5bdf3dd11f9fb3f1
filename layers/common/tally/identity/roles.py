"""The roles a user holds: in an account (member roles) and on the platform (staff groups)."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """A member's role in an account, most powerful first."""

    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"
    VIEWER = "viewer"


PLATFORM_ADMIN = "platform-admin"
PLATFORM_MANAGER = "platform-manager"
# The Cognito groups that make a user platform staff (the id token's `cognito:groups`).
STAFF_GROUPS = frozenset({PLATFORM_ADMIN, PLATFORM_MANAGER})
