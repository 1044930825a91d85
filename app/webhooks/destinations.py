"""Where webhooks may go: http(s) URLs whose addresses pass the deny rules.

Link-local addresses (169.254.0.0/16, fe80::/10) and the cloud metadata address
fd00:ec2::254 are always refused; with WEBHOOK_DENY_PRIVATE, private and loopback addresses
too. The rules are checked when a subscription is saved and again on the addresses a name
resolves to at each delivery, and the delivery connects to the very address checked, so a
name cannot resolve to something else between the check and the connection.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

METADATA_ADDRESSES = frozenset({ipaddress.ip_address("fd00:ec2::254")})


class DestinationRefused(Exception):
    """The URL, or an address its host resolves to, may not receive webhooks."""


def refusal(address: str, deny_private: bool) -> str | None:
    """Why this address may not receive webhooks, or None."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip in METADATA_ADDRESSES or ip.is_link_local:
        return f"{ip} is a link-local or cloud metadata address"
    if ip.is_unspecified or ip.is_multicast:
        return f"{ip} is not an address one can deliver to"
    if deny_private and (ip.is_private or ip.is_loopback):
        return f"{ip} is a private or loopback address (WEBHOOK_DENY_PRIVATE is on)"
    return None


def check_url(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of a URL webhooks may use, or DestinationRefused."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise DestinationRefused("This is not a valid URL.") from None
    if parts.scheme not in ("http", "https"):
        raise DestinationRefused("The URL must start with https:// or http://.")
    if not parts.hostname:
        raise DestinationRefused("The URL needs a host name.")
    if parts.username or parts.password:
        raise DestinationRefused("Put no user name or password in the URL.")
    if parts.fragment:
        raise DestinationRefused("The URL may not have a #fragment.")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)


def resolve(host: str, port: int, deny_private: bool) -> str:
    """The address to connect to: every address the host resolves to must pass."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise DestinationRefused(f"The host {host} could not be found.") from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    for address in addresses:
        why = refusal(address, deny_private)
        if why:
            raise DestinationRefused(f"Refused: {host} resolves to {why}.")
    return addresses[0]
