"""The signed-in user: their profile, their memberships, and signing out everywhere.

The profile (USER#<sub>/PROFILE) is the source of truth for name, phone, locale and the last
sign-out; it is made on first use from the id token's claims.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tally import clock
from tally.accounts.domain import Account, Locale, UserProfile
from tally.accounts.ports import AccountStore, ProfileStore, SignOut
from tally.audit.records import AuditContext
from tally.identity.principal import Principal, TokenProfile
from tally.identity.roles import Role

LOCALES: tuple[Locale, ...] = ("en", "fr")


@dataclass(frozen=True)
class MembershipView:
    account: Account
    role: Role


@dataclass(frozen=True)
class Me:
    profile: UserProfile
    memberships: list[MembershipView]


def token_locale(raw: str | None) -> Locale | None:
    """`fr-FR` is fr; a language Tally does not write in is no locale."""
    language = (raw or "").split("-")[0].split("_")[0].lower()
    for locale in LOCALES:
        if language == locale:
            return locale
    return None


class ProfileService:
    def __init__(
        self,
        profiles: ProfileStore,
        accounts: AccountStore,
        sign_out: SignOut,
        forget: Callable[[str], None],
    ) -> None:
        self._profiles = profiles
        self._accounts = accounts
        self._sign_out = sign_out
        self._forget = forget

    def ensure(self, principal: Principal, token: TokenProfile, context: AuditContext) -> UserProfile:
        """The user's profile, made from the token's claims the first time (an audited write)."""
        existing = self._profiles.profile(principal.subject)
        if existing is not None:
            return existing
        profile = UserProfile(
            user_id=principal.subject,
            email=(principal.email or "").lower(),
            name=token.name,
            phone=token.phone,
            locale=token_locale(token.locale),
        )
        if self._profiles.create(profile, context):
            return profile
        return self._profiles.profile(principal.subject) or profile

    def me(self, principal: Principal, token: TokenProfile, context: AuditContext) -> Me:
        profile = self.ensure(principal, token, context)
        roles = self._profiles.memberships(principal.subject)
        accounts = self._accounts.get_many(roles)
        memberships = [
            MembershipView(accounts[account_id], role)
            for account_id, role in sorted(roles.items())
            if account_id in accounts
        ]
        return Me(profile, memberships)

    def update(
        self, principal: Principal, token: TokenProfile, wanted: dict[str, Any], context: AuditContext
    ) -> Me:
        """Set the fields given (None clears phone); unchanged fields are not written."""
        profile = self.ensure(principal, token, context)
        changes = {field: (getattr(profile, field), value) for field, value in wanted.items()}
        changes = {field: change for field, change in changes.items() if change[0] != change[1]}
        if changes:
            self._profiles.update(profile, changes, context)
        return self.me(principal, token, context)

    def sign_out(self, principal: Principal, token: TokenProfile, context: AuditContext) -> datetime:
        """Cognito revokes the refresh tokens first, then the profile records the time, which
        refuses the id tokens issued before it (within the membership cache's bound). Both
        steps can be repeated: a retry after a failure finishes the job."""
        self._sign_out.sign_out_everywhere(principal.subject)
        self.ensure(principal, token, context)
        at = clock.now()
        self._profiles.sign_out(principal.subject, at, context)
        self._forget(principal.subject)
        return at
