"""Where webhooks may go: http(s) URLs that httpx parses, whose addresses pass the deny rules.

A URL is read once, by httpx's own parser (the one that sends), and refused when it holds
whitespace, control or format characters or a backslash, a port that is not 1-65535 in ASCII
digits, or a host that is neither an IP address nor a host name. Host names may be
internationalised (IDNA, as httpx encodes them: ``bücher.example``), but may not hold digits
other than 0-9, which some parsers read as an IP address (``１２７.0.0.1``, ``①②⑦.0.0.1``).

Addresses are judged after unwrapping the IPv4 address an IPv6 one may carry (IPv4-mapped,
IPv4-compatible, IPv4-translated, NAT64, 6to4, Teredo). Always refused: link-local addresses
(169.254.0.0/16, fe80::/10), the cloud metadata addresses, and addresses one cannot deliver
to (unspecified, "this network" 0.0.0.0/8, multicast, reserved and broadcast, the IETF's
192.0.0.0/24, local-use NAT64 64:ff9b:1::/48 whose target cannot be told). With
WEBHOOK_DENY_PRIVATE, private, loopback and carrier-grade NAT (100.64.0.0/10) addresses too.
The rules are checked when a subscription is saved and again on the addresses a name
resolves to at each delivery, and the delivery connects to the very address checked, so a
name cannot resolve to something else between the check and the connection.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# AWS (IPv6), Alibaba Cloud, Oracle Cloud; 169.254.169.254 (AWS, GCP, Azure) is link-local.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("fd00:ec2::254", "100.100.100.200", "192.0.0.192")
)
NOT_DELIVERABLE = tuple(
    ipaddress.ip_network(n) for n in ("0.0.0.0/8", "192.0.0.0/24", "64:ff9b:1::/48")
)
SHARED_ADDRESS_SPACE = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT
# IPv6 prefixes whose low 32 bits are an IPv4 address: the IPv4 address decides.
CARRY_IPV4_IN_LOW_BITS = tuple(
    ipaddress.ip_network(n)
    for n in (
        "::/96",  # IPv4-compatible (deprecated)
        "::ffff:0:0/96",  # IPv4-mapped
        "::ffff:0:0:0/96",  # IPv4-translated (SIIT)
        "64:ff9b::/96",  # NAT64, the well-known prefix
    )
)
# Characters no URL of ours holds: whitespace, control, format (zero-width, bidi) and
# private-use or unassigned characters, and the backslash that browsers read as "/".
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp"})
_HOST_NAME = re.compile(r"[A-Za-z0-9_.-]+")
_AUTHORITY_PORT = re.compile(r"(?:\[[^\]]*\]|[^:]*)(?::([^:]*))?")


class DestinationRefused(Exception):
    """The URL, or an address its host resolves to, may not receive webhooks."""


class HostNotFound(DestinationRefused):
    """The host name does not resolve (now)."""


@dataclass(frozen=True)
class Destination:
    url: httpx.URL
    scheme: str
    host: str  # ASCII: an IP address, or the name as sent (IDNA-encoded)
    port: int

    @property
    def address(self) -> IPAddress | None:
        """The host, if it is an IP address rather than a name."""
        try:
            return ipaddress.ip_address(self.host)
        except ValueError:
            return None


def _carried_ipv4(ip: IPAddress) -> list[ipaddress.IPv4Address]:
    if ip.version == 4:
        return []
    if any(ip in network for network in CARRY_IPV4_IN_LOW_BITS) and int(ip) > 1:
        return [ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)]
    if ip.sixtofour is not None:
        return [ip.sixtofour]
    if ip.teredo is not None:
        return list(ip.teredo)  # the Teredo server and the client's own address
    return []


def _judged(ip: IPAddress) -> list[IPAddress]:
    """The addresses that decide whether ``ip`` may be called: an IPv6 address of a prefix
    that only wraps an IPv4 address is judged by that address; 6to4 and Teredo addresses by
    themselves and the addresses they carry."""
    carried = _carried_ipv4(ip)
    if carried and any(ip in network for network in CARRY_IPV4_IN_LOW_BITS):
        return carried
    return [ip, *carried]


PRIVATE = "a private or loopback address (WEBHOOK_DENY_PRIVATE is on)"


def _why_not(ip: IPAddress, deny_private: bool) -> str | None:
    if ip in METADATA_ADDRESSES or ip.is_link_local:
        return "a link-local or cloud metadata address"
    if ip.is_loopback:  # before "reserved": IPv6's reserved ::/8 holds ::1
        return PRIVATE if deny_private else None
    if (
        ip.is_unspecified
        or ip.is_multicast
        or ip.is_reserved  # IPv4: 240.0.0.0/4 and the broadcast address
        or any(ip in network for network in NOT_DELIVERABLE)
    ):
        return "not an address one can deliver to"
    if deny_private and (ip.is_private or ip in SHARED_ADDRESS_SPACE):
        return PRIVATE
    return None


def refusal(address: str, deny_private: bool) -> str | None:
    """Why this address may not receive webhooks, or None."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    for judged in _judged(ip):
        why = _why_not(judged, deny_private)
        if why:
            return f"{ip} is {why}" if judged == ip else f"{ip} carries {judged}, {why}"
    return None


def _refused_character(text: str) -> str | None:
    for ch in text:
        if ch == "\\" or unicodedata.category(ch) in _REFUSED_CATEGORIES:
            return ch
    return None


def check_url(url: str) -> Destination:
    """The destination of a URL webhooks may use, read as httpx reads it when it sends, or
    DestinationRefused. Its address is not checked here (see ``check_destination``)."""
    import httpx

    refused = _refused_character(url)
    if refused is not None:
        raise DestinationRefused(
            f"The URL may not contain {_named(refused)} (percent-encode it if it belongs there)."
        )
    authority = url.partition("://")[2]
    for end in "/?#":
        authority = authority.split(end, 1)[0]
    if any(not ch.isascii() and unicodedata.numeric(ch, None) is not None for ch in authority):
        raise DestinationRefused("The host name may hold no digits other than 0-9.")
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as invalid:
        raise DestinationRefused(f"This is not a valid URL ({invalid}).") from None
    if parsed.scheme not in ("http", "https"):
        raise DestinationRefused("The URL must start with https:// or http://.")
    if not parsed.host:
        raise DestinationRefused("The URL needs a host name.")
    if parsed.userinfo:
        raise DestinationRefused("Put no user name or password in the URL.")
    if parsed.fragment:
        raise DestinationRefused("The URL may not have a #fragment.")
    host = parsed.raw_host.decode("ascii")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if not _HOST_NAME.fullmatch(host):
            raise DestinationRefused("The host is neither a host name nor an IP address.") from None
    if "%" in host:
        raise DestinationRefused("The host may not name a network interface (%).")
    # httpx reads the port with int(), which takes digits of any script, and any number.
    written = _AUTHORITY_PORT.fullmatch(authority)
    port_text = written.group(1) if written else ""
    if port_text is not None and not (
        re.fullmatch(r"[0-9]{1,5}", port_text) and 1 <= int(port_text) <= 65535
    ):
        raise DestinationRefused("The port must be a number from 1 to 65535.")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    return Destination(parsed, parsed.scheme, host, port)


def _named(ch: str) -> str:
    if ch == "\\":
        return "a backslash"
    if ch.isspace():
        return "whitespace"
    return f"the character U+{ord(ch):04X}"


def check_destination(url: str, deny_private: bool) -> Destination:
    """When a subscription is saved: a valid URL whose host is an allowed address, or a name
    that resolves only to allowed addresses. A name that does not resolve now is accepted
    (it may be added to DNS later, or resolve only where the worker runs): every delivery
    resolves and checks it again, and fails while it does not resolve."""
    destination = check_url(url)
    if destination.address is not None:
        why = refusal(destination.host, deny_private)
        if why:
            raise DestinationRefused(f"Refused: {why}.")
        return destination
    try:
        resolve(destination.host, destination.port, deny_private)
    except HostNotFound:
        pass
    return destination


def resolve(host: str, port: int, deny_private: bool) -> str:
    """The address to connect to: every address the host resolves to must pass."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise HostNotFound(f"The host {host} could not be found.") from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    for address in addresses:
        why = refusal(address, deny_private)
        if why:
            raise DestinationRefused(f"Refused: {host} resolves to an address not allowed: {why}.")
    return addresses[0]
