"""The outbound guard (SSRF): may a request go to this URL, and to which address? No Django.

Checked again before every request, not only when a notification is saved: the scheme (https
unless MINDBOX_REQUIRE_HTTPS is off), the host and port (MINDBOX_ALLOWED_HOSTS: names or
`*.domain` patterns, since Mindbox's API domain may differ per project), and every
address the host resolves to. An address that is not public (private, loopback, link-local,
multicast, reserved, unspecified, shared) is refused unless MINDBOX_ALLOW_PRIVATE_NETWORKS
covers it. The caller connects to an address this module approved (see transport.py), so a
name that resolves differently a moment later (DNS rebinding) cannot redirect the request.
"""

import ipaddress
import re
import socket
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from mindbox_integration.mindbox.error_codes import ErrorCode

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Iterable[str]]  # (host, port) -> IP address strings

DEFAULT_PORTS = {"https": 443, "http": 80}
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # a NAT64 gateway reaches the IPv4 address in the last 32 bits


class Refused(Exception):
    """The URL may not be sent to; the message says why and what to fix, `code` and `params` the
    same for a translation (error_codes.py)."""

    def __init__(self, reason: str, fix: str, *, code: str, params: dict[str, Any] | None = None) -> None:
        super().__init__(f"{reason}; {fix}")
        self.reason = reason
        self.fix = fix
        self.code = code
        self.params = params or {}


class Unresolved(Exception):
    """The host did not resolve (a DNS failure may pass: the caller retries)."""

    def __init__(self, message: str, *, host: str) -> None:
        super().__init__(message)
        self.host = host


@dataclass(frozen=True)
class Policy:
    """The settings the guard applies: MINDBOX_ALLOWED_HOSTS, MINDBOX_REQUIRE_HTTPS and
    MINDBOX_ALLOW_PRIVATE_NETWORKS."""

    allowed_hosts: tuple[str, ...]
    require_https: bool = True
    allowed_networks: tuple[str, ...] = ()


@dataclass(frozen=True)
class Approved:
    """Where the request may go: connect to `addresses[0]`, speaking to `host` (Host header, TLS)."""

    scheme: str
    host: str  # lower case, IPv6 without brackets
    port: int  # the effective port
    addresses: tuple[IPAddress, ...]


def system_resolver(host: str, port: int) -> list[str]:
    return [str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


def scheme_allowed(scheme: str, *, require_https: bool) -> bool:
    return scheme == "https" or (scheme == "http" and not require_https)


# Subdomain labels a `*.` pattern stands for: letters, digits and hyphens, one or more labels.
_SUBDOMAIN = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+")


def _entry(entry: str) -> tuple[str, int | None] | None:
    """An allowed-hosts entry as (host or `*.`pattern, port or None for the scheme's default);
    None if unreadable (a `*` anywhere but as the whole first label, say)."""
    entry = entry.strip().lower()
    if entry.startswith("["):  # [IPv6] or [IPv6]:port
        host, _, rest = entry[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else rest
    elif entry.count(":") == 1:
        host, _, port = entry.partition(":")
    else:  # a name, an IPv4 address or a bare IPv6 address
        host, port = entry, ""
    if not host or (port and not port.isdigit()):
        return None
    if "*" in host and not (host.startswith("*.") and "*" not in host[2:] and "." in host[2:]):
        return None  # `*.` stands for subdomains of a domain with at least two labels, nothing else
    return host, int(port) if port else None


def _host_matches(host: str, pattern: str) -> bool:
    """`host` is `pattern`, or, for `*.mindbox.cloud`, a subdomain of mindbox.cloud at any depth
    (`api-ru.mindbox.cloud`, `api.s.mindbox.ru` under `*.mindbox.ru`), never the domain itself."""
    if not pattern.startswith("*."):
        return host == pattern
    suffix = pattern[1:]  # ".mindbox.cloud"
    return host.endswith(suffix) and _SUBDOMAIN.fullmatch(host[: -len(suffix)] + ".") is not None


def host_allowed(*, scheme: str, host: str, port: int | None, allowed_hosts: Collection[str]) -> bool:
    """Whether host:port is on the list: an entry `host` (or `*.domain`, any of its subdomains)
    allows the scheme's default port only, `host:port` that port only. Shared by the save-time
    validation and the send-time guard; the addresses are checked apart, whatever the name."""
    host = host.lower()
    effective_port = port if port is not None else DEFAULT_PORTS.get(scheme)
    for raw in allowed_hosts:
        entry = _entry(raw)
        if entry is None:
            continue
        entry_host, entry_port = entry
        wanted = entry_port if entry_port is not None else DEFAULT_PORTS.get(scheme)
        if _host_matches(host, entry_host) and effective_port == wanted:
            return True
    return False


def unreadable_hosts(allowed_hosts: Collection[str]) -> list[str]:
    """Entries of MINDBOX_ALLOWED_HOSTS that allow nothing (for the start-up check)."""
    return [raw for raw in allowed_hosts if _entry(raw) is None]


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one leads to (IPv4-mapped, NAT64, 6to4), if any."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour


# Ranges some Python versions' is_global still calls public: IETF protocol assignments and the
# deprecated IPv6 site-local space.
_ALSO_NOT_PUBLIC = [ipaddress.ip_network("192.0.0.0/24"), ipaddress.ip_network("fec0::/10")]


def _kind(address: IPAddress) -> str:
    """What kind of non-public address this is ("" for a public one). An IPv4-mapped or NAT64
    address is judged by the IPv4 address it stands for; a 6to4 one by both."""
    embedded = _embedded_ipv4(address)
    if isinstance(address, ipaddress.IPv6Address) and embedded is not None and address.sixtofour is None:
        return _kind(embedded)
    for kind in ("unspecified", "loopback", "link_local", "multicast", "private", "reserved"):
        if getattr(address, f"is_{kind}"):
            return kind.replace("_", "-")
    if not address.is_global or any(address in net for net in _ALSO_NOT_PUBLIC if net.version == address.version):
        return "non-public"  # e.g. shared address space 100.64.0.0/10 (a cloud's metadata service)
    return _kind(embedded) if embedded is not None else ""


def _networks(entries: Iterable[str], setting_prefix: str) -> list[IPNetwork]:
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise Refused(
                f"{setting_prefix}_ALLOW_PRIVATE_NETWORKS has {entry!r}, which is not an address or network",
                "correct the setting (e.g. 10.0.0.0/8 or 127.0.0.1)",
                code=ErrorCode.NETWORK_SETTING,
                params={"setting": f"{setting_prefix}_ALLOW_PRIVATE_NETWORKS", "entry": entry},
            ) from None
    return networks


def _allowed(address: IPAddress, networks: list[IPNetwork]) -> bool:
    embedded = _embedded_ipv4(address)
    candidates = [address] if embedded is None else [address, embedded]
    return any(candidate in network for candidate in candidates for network in networks)


def check(
    *,
    url: str,
    allowed_hosts: Collection[str],
    require_https: bool,
    allowed_networks: Collection[str],
    resolve: Resolver = system_resolver,
    service: str = "Mindbox",
    setting_prefix: str = "MINDBOX",
) -> Approved:
    """Approve the URL and resolve its host, or raise Refused (or Unresolved when DNS fails).
    `service` and `setting_prefix` name the target and its settings in the reasons: the same
    guard serves UIS's Data API (UIS_DATA_API_*)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise Refused(
            f"the URL cannot be read ({exc})",
            "paste the operation's URL from Mindbox again",
            code=ErrorCode.UNREADABLE_URL,
            params={"detail": str(exc)},
        ) from None
    scheme = parts.scheme.lower()
    if not scheme_allowed(scheme, require_https=require_https):
        fix = "the URL must start with https://"
        if scheme == "http":
            fix += f" (plain http is allowed only when {setting_prefix}_REQUIRE_HTTPS is off)"
        raise Refused(
            f"{scheme}:// is not allowed" if scheme else "the URL has no scheme",
            fix,
            code=ErrorCode.SCHEME_REFUSED,
            params={"scheme": scheme},
        )
    host = (parts.hostname or "").lower()
    if not host:
        raise Refused("the URL has no host", "paste the whole URL, starting with https://", code=ErrorCode.NO_HOST)
    if not host_allowed(scheme=scheme, host=host, port=port, allowed_hosts=allowed_hosts):
        shown_host = parts.netloc.rpartition("@")[2]  # never the URL's user and password
        raise Refused(
            f"host {shown_host} is not an allowed {service} host",
            f"allowed hosts are set by {setting_prefix}_ALLOWED_HOSTS ({', '.join(allowed_hosts) or 'none'})",
            code=ErrorCode.REFUSED_HOST,
            params={"host": shown_host},
        )
    effective_port = port if port is not None else DEFAULT_PORTS[scheme]
    try:
        resolved = list(resolve(host, effective_port))
    except (OSError, UnicodeError) as exc:  # socket.gaierror is an OSError; an over-long label a UnicodeError
        raise Unresolved(f"cannot resolve host {host}: {type(exc).__name__}", host=host) from None
    addresses: list[IPAddress] = []
    for text in resolved:
        address = ipaddress.ip_address(text)
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise Unresolved(f"cannot resolve host {host}: no addresses", host=host)

    networks: list[IPNetwork] | None = None
    for address in addresses:
        kind = _kind(address)
        if not kind:
            continue
        if networks is None:
            networks = _networks(allowed_networks, setting_prefix)
        if not _allowed(address, networks):
            raise Refused(
                f"host {host} resolves to {address}, a {kind} address",
                f"private, loopback and link-local addresses are allowed only by {setting_prefix}_ALLOW_PRIVATE_NETWORKS",
                code=ErrorCode.PRIVATE_ADDRESS,
                params={"host": host, "address": str(address), "kind": kind},
            )
    return Approved(scheme=scheme, host=host, port=effective_port, addresses=tuple(addresses))
