"""The emails of tenancy: an invitation, a join request to decide, a join request decided.

Each goes out after its change is committed. A failed send does not undo the change: it is
logged (the template and the provider's error code, never an address) and the person can
recover: an owner or admin re-invites (which replaces the invitation and sends a new link);
owners and admins see pending join requests at GET /v1/accounts/{id}/join-requests; a requester
sees the accounts they joined at GET /v1/me.

Language: the recipient's profile locale; without one, French for accounts in a country where
French is an official language (`tally.countries.country_locale`), English otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from aws_lambda_powertools import Logger

from tally.accounts.domain import Account, Invitation, JoinRequest, Member, UserProfile
from tally.accounts.ports import ProfileStore
from tally.countries import country_locale
from tally.errors import ServiceUnavailable
from tally.notifications.mailer import EmailNotSent, Mailer

logger = Logger()


def locale_for(profile: UserProfile | None, account: Account) -> str:
    if profile is not None and profile.locale:
        return profile.locale
    return country_locale(account.country)


class Notifier:
    def __init__(self, mailer: Callable[[], Mailer], profiles: ProfileStore, app_url: str) -> None:
        """`mailer` is called only when an email is sent (it makes the SES client)."""
        self._mailer = mailer
        self._profiles = profiles
        self._app_url = app_url.rstrip("/")

    def invitation(self, invitation: Invitation, token: str, account: Account, inviter: str) -> None:
        # The invitee may not be a user yet: the account's country decides the language.
        self._send(
            "invitation",
            locale_for(None, account),
            invitation.email,
            invitation.id,
            account=account.name,
            inviter=inviter,
            role=invitation.role.value,
            link=f"{self._app_url}/invitations/accept?token={token}",
            expires=invitation.expires_at.strftime("%Y-%m-%d %H:%M UTC"),
        )

    def join_request_received(
        self, request: JoinRequest, account: Account, deciders: Iterable[Member]
    ) -> None:
        deciders = list(deciders)
        profiles = self._profiles.profiles(member.user_id for member in deciders)
        for member in deciders:
            self._send(
                "join-request-received",
                locale_for(profiles.get(member.user_id), account),
                member.email,
                request.id,
                account=account.name,
                requester=request.email,
                link=f"{self._app_url}/accounts/{account.id}/join-requests",
            )

    def join_request_decided(self, request: JoinRequest, account: Account) -> None:
        self._send(
            f"join-request-{request.status}",
            locale_for(self._profiles.profile(request.user_id), account),
            request.email,
            request.id,
            account=account.name,
            link=f"{self._app_url}/",
        )

    def _send(self, template: str, locale: str, to: str, entity_id: str, **context: Any) -> None:
        # jinja2 is imported only when an email is sent (decision 11).
        from tally.notifications.render import render

        try:
            self._mailer().send(render(template, locale, to=to, entity_id=entity_id, **context))
        except (EmailNotSent, ServiceUnavailable) as exc:
            code = exc.code if isinstance(exc, EmailNotSent) else "unavailable"
            logger.warning("An email was not sent", extra={"template": template, "error_code": code})
