"""Where a checkout or a billing portal may send the customer back: no open redirect.

A return URL must be https (http only for localhost and 127.0.0.1, for development), carry no
user name or password, and have its origin on the seller's list (SellerSettings
.allowed_redirect_origins; empty, the front end's own origin, APP_URL).
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from tally.errors import InvalidInput

LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1"})
_DEFAULT_PORTS = {"https": 443, "http": 80}


def origin_of(url: str) -> str | None:
    """`scheme://host[:port]`, lower case, without a default port; None when it is not a URL."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    shown = "" if port in (None, _DEFAULT_PORTS[parts.scheme]) else f":{port}"
    return f"{parts.scheme}://{parts.hostname.lower()}{shown}"


def allowed_origins(configured: Iterable[str], app_url: str) -> frozenset[str]:
    listed = {origin for origin in map(origin_of, configured) if origin}
    if not listed and (own := origin_of(app_url)):
        listed.add(own)
    return frozenset(listed)


def check_return_url(url: str, field: str, allowed: frozenset[str]) -> str:
    """The URL as given, or InvalidInput naming `field` in words."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise InvalidInput("Give an absolute https URL", field=field) from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise InvalidInput("Give an absolute https URL", field=field)
    if parts.username is not None or parts.password is not None:
        raise InvalidInput("A return URL carries no user name or password", field=field)
    if parts.scheme == "http" and parts.hostname.lower() not in LOCAL_HOSTS:
        raise InvalidInput("A return URL must be https (http only for localhost)", field=field)
    origin = origin_of(url)
    if origin not in allowed:
        listed = ", ".join(sorted(allowed)) or "none configured"
        raise InvalidInput(
            f"{origin} is not an allowed return origin (allowed: {listed}; the seller's billing "
            "settings list them in allowed_redirect_origins)",
            field=field,
        )
    return url
