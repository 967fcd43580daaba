"""Which URLs a subscription may point at, and which events it may ask for.

A webhook is a request the service makes on an admin's say-so, from inside the network: it
must not become a way to reach what only the service can reach (the cloud metadata address,
Redis, the database, the AMI port, anything on loopback or a private network). So the
addresses a target resolves to are checked when the subscription is added and again for
every connection (:class:`TargetPolicy` ``.socket_factory``: the address actually dialled,
whatever DNS said at creation and whatever numeric form the URL used — ``0x7f000001``,
``[::ffff:127.0.0.1]``). Networks listed in ``webhooks.allow_networks`` are let through.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from contact_center.webhooks.errors import InvalidTarget, TargetRefused, UnknownEventKind

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# What other systems subscribe to. ``call.disposition`` is the operator's disposition of a
# call (an ``operator.action`` with action "disposition"), sent after the call ended.
WEBHOOK_KINDS: tuple[str, ...] = (
    "call.arrived",
    "call.offered",
    "call.answered",
    "call.abandoned",
    "call.ended",
    "call.disposition",
    "call.callback_requested",
    "recording.ready",
    "call.charged",
    "call.outcome",  # webhooks/outcomes.py: one record per call once its parts are in
)
MAX_URL_LENGTH = 400


def validate_target_url(url: str) -> str:
    """The URL, stripped, if it is an absolute http(s) URL safe to put in a request line.

    CR/LF and other control characters are refused outright: they could split the request
    or inject headers in a client that does not escape them.
    """
    url = url.strip()
    if not url:
        raise InvalidTarget(url, "empty")
    if len(url) > MAX_URL_LENGTH:
        raise InvalidTarget(url, f"longer than {MAX_URL_LENGTH} characters")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url) or " " in url:
        raise InvalidTarget(url, "contains spaces, CR/LF or other control characters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise InvalidTarget(url, "only http and https URLs are allowed")
    if not parts.hostname:
        raise InvalidTarget(url, "no host")
    if parts.username or parts.password:
        raise InvalidTarget(url, "credentials in the URL would be stored in clear; use the secret")
    try:
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise InvalidTarget(url, "malformed port") from None
    return url


def validate_kinds(kinds: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """The distinct kinds in catalogue order; at least one, all known."""
    chosen = {k.strip() for k in kinds if k.strip()}
    for kind in chosen:
        if kind not in WEBHOOK_KINDS:
            raise UnknownEventKind(kind, WEBHOOK_KINDS)
    if not chosen:
        raise UnknownEventKind("", WEBHOOK_KINDS)
    return tuple(k for k in WEBHOOK_KINDS if k in chosen)


def parse_networks(raw: str) -> tuple[Network, ...]:
    """``"10.1.2.0/24, ::1"`` → networks (``webhooks.allow_networks``)."""
    out: list[Network] = []
    for part in raw.replace(";", ",").split(","):
        if part.strip():
            try:
                out.append(ipaddress.ip_network(part.strip(), strict=False))
            except ValueError:
                from contact_center.config import ConfigError

                raise ConfigError(
                    f"webhooks.allow_networks: {part.strip()!r} is not an address or network"
                ) from None
    return tuple(out)


def _plain(address: Address) -> Address:
    # ::ffff:127.0.0.1 and friends are IPv4 addresses in IPv6 clothing: judge the IPv4 one.
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.sixtofour is not None:
            return address.sixtofour
    return address


def forbidden_reason(address: Address) -> str | None:
    """Why a webhook may not connect to this address, or None when it may (public unicast)."""
    plain = _plain(address)
    for test, reason in (
        (plain.is_unspecified, "unspecified"),
        (plain.is_loopback, "loopback"),
        (plain.is_link_local, "link-local"),
        (plain.is_multicast, "multicast"),
        (plain.is_private, "private"),
        (plain.is_reserved, "reserved"),
        (not plain.is_global, "not public"),
    ):
        if test:
            return reason
    return None


@dataclass(frozen=True, slots=True)
class TargetPolicy:
    """Which addresses webhooks may reach: public unicast ones, plus ``allow``."""

    allow: tuple[Network, ...] = ()

    def check_address(self, raw: str) -> None:
        """Raise TargetRefused unless a webhook may connect to this address."""
        try:
            address = ipaddress.ip_address(raw.split("%", 1)[0])
        except ValueError:
            raise TargetRefused("not an IP address") from None
        if any(_plain(address) in net or address in net for net in self.allow):
            return
        reason = forbidden_reason(address)
        if reason is not None:
            raise TargetRefused(f"a {reason} address")

    async def check_url(self, url: str) -> str:
        """The URL (syntax checked) if its host resolves only to allowed addresses.

        A name that does not resolve now is accepted: every connection is checked anyway.
        """
        url = validate_target_url(url)
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )
        except (OSError, UnicodeError):
            return url
        for info in infos:
            try:
                self.check_address(str(info[4][0]))
            except TargetRefused as exc:
                raise InvalidTarget(
                    url, f"{host} resolves to {exc.reason} (see webhooks.allow_networks)"
                ) from None
        return url

    def socket_factory(self, addr_info: Any) -> socket.socket:
        """For ``aiohttp.TCPConnector(socket_factory=…)``: refuses to open a socket to a
        forbidden address, so the check holds for the address really dialled."""
        family, type_, proto, _, sockaddr = addr_info
        self.check_address(str(sockaddr[0]))
        return socket.socket(family=family, type=type_, proto=proto)
