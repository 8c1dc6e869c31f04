"""A requests transport that connects to the address the outbound guard approved. No Django.

Checking a name and then letting the HTTP library resolve it again leaves a gap: the name can
resolve to a public address for the check and to an internal one for the connection (DNS
rebinding). Here the connection pool is keyed by, and connects to, the approved IP address,
while the Host header, TLS SNI and the certificate check still name the host, so TLS is
verified exactly as for a connection by name. Redirects are never followed (the client asks for
none), so every request this adapter sends was checked.

Through a proxy for plain http the proxy resolves the name itself; https through a proxy
tunnels to the approved address.
"""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from requests.adapters import HTTPAdapter
from requests.models import PreparedRequest

from mindbox_integration.mindbox.guard import DEFAULT_PORTS, Approved, Refused


class PinnedAdapter(HTTPAdapter):
    """Sends a request only to the address approved for it, set with `pinned()` (per thread)."""

    def __init__(self, pool_maxsize: int = 10) -> None:
        super().__init__(pool_maxsize=pool_maxsize)
        self._local = threading.local()

    @contextmanager
    def pinned(self, approved: Approved) -> Iterator[None]:
        self._local.approved = approved
        try:
            yield
        finally:
            self._local.approved = None

    def _approved(self, request: PreparedRequest) -> Approved:
        approved: Approved | None = getattr(self._local, "approved", None)
        parts = urlsplit(request.url or "")
        scheme = parts.scheme.lower()
        target = (scheme, (parts.hostname or "").lower(), parts.port or DEFAULT_PORTS.get(scheme))
        if approved is None or target != (approved.scheme, approved.host, approved.port):
            # Fail closed: nothing reaches the network unless the guard approved this very host.
            raise Refused(f"{parts.netloc} was not checked by the outbound guard", "send through MindboxClient.send")
        return approved

    def build_connection_pool_key_attributes(
        self, request: PreparedRequest, verify: bool | str, cert: str | tuple[str, str] | None = None
    ) -> tuple[Any, Any]:
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        approved = self._approved(request)
        params: dict[str, Any] = {**host_params, "host": str(approved.addresses[0])}
        kwargs: dict[str, Any] = dict(pool_kwargs)
        if approved.scheme == "https":
            kwargs["server_hostname"] = approved.host  # SNI and the certificate's name: the host, not the IP
        return params, kwargs

    def add_headers(self, request: PreparedRequest, **kwargs: Any) -> None:
        approved = self._approved(request)
        host = f"[{approved.host}]" if ":" in approved.host else approved.host
        request.headers["Host"] = host if approved.port == DEFAULT_PORTS[approved.scheme] else f"{host}:{approved.port}"
