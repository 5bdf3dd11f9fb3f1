"""Members: who belongs to an account, with which role; changing roles, removing, leaving.

The route asks the policy first (members:write, and owners:write when an owner is made or
unmade); here: the rules that need the member's current role, and the cache of this instance.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tally.accounts.domain import Member
from tally.accounts.errors import UnknownMember
from tally.accounts.ports import MemberStore, ProfileStore
from tally.audit.records import AuditContext
from tally.identity.policy import Access
from tally.identity.roles import Role


@dataclass(frozen=True)
class MemberView:
    member: Member
    name: str | None  # from the user's profile, the source of truth for names


def _acting_owner(access: Access) -> str | None:
    """An owner acting as owner is checked, in the write's transaction, to still be one."""
    return access.principal.subject if access.role is Role.OWNER else None


class MemberService:
    def __init__(self, members: MemberStore, profiles: ProfileStore, forget: Callable[[str], None]) -> None:
        """`forget(user_id)`: drop this instance's cached memberships of a user it changed."""
        self._members = members
        self._profiles = profiles
        self._forget = forget

    def members(self, account_id: str) -> list[MemberView]:
        members = self._members.members(account_id)
        profiles = self._profiles.profiles(member.user_id for member in members)
        views = [
            MemberView(member, profile.name if (profile := profiles.get(member.user_id)) else None)
            for member in members
        ]
        return sorted(views, key=lambda view: (view.member.joined_at, view.member.user_id))

    def member(self, account_id: str, user_id: str) -> Member:
        member = self._members.member(account_id, user_id)
        if member is None:
            raise UnknownMember()
        return member

    def change_role(self, access: Access, member: Member, role: Role, context: AuditContext) -> Member:
        """409 `last_owner` when it would leave the account without an owner."""
        if member.role is role:
            return member
        changed = self._members.change_role(member, role, _acting_owner(access), context)
        self._forget(member.user_id)
        return changed

    def remove(self, access: Access, member: Member, context: AuditContext) -> None:
        """Removing someone (member.removed), or leaving (member.left) when it is the caller."""
        leaving = member.user_id == access.principal.subject
        self._members.remove(
            member, _acting_owner(access), "member.left" if leaving else "member.removed", context
        )
        self._forget(member.user_id)
