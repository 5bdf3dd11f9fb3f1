"""Visitor identity without keeping personal data: truncated IPs and salted fingerprints."""

from __future__ import annotations

import hashlib
import ipaddress


def truncate_ip(raw: str | None) -> str | None:
    """IPv4 to its /24, IPv6 to its /48; anything unparsable is dropped, not stored."""
    if not raw:
        return None
    try:
        address = ipaddress.ip_address(raw.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    prefix = 24 if address.version == 4 else 48
    network = ipaddress.ip_network(f"{address}/{prefix}", strict=False)
    return str(network.network_address)


def fingerprint(salt: str, *parts: str) -> str:
    """A stable, irreversible key for "the same visitor doing the same thing"."""
    digest = hashlib.sha256(salt.encode())
    for part in parts:
        digest.update(b"\x1f")
        digest.update(part.encode())
    return digest.hexdigest()[:40]
