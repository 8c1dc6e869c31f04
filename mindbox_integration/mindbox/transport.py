"""The HTTP transport to Mindbox: connections only to the addresses the outbound guard approved,
many requests at once on one asyncio loop per process (aiohttp). No Django.

Checking a name and then letting the HTTP library resolve it again leaves a gap: the name can
resolve to a public address for the check and to an internal one for the connection (DNS
rebinding). Here the connector's resolver answers only with the addresses the guard approved
for the request being sent, so a new connection goes to an approved address, while the Host
header, TLS SNI and the certificate check still name the host. A kept-alive connection goes
to the address that was approved when it was opened (the same policy approved both). Redirects
are never followed, proxies and .netrc from the environment are ignored, and a CA bundle named
by REQUESTS_CA_BUNDLE (or CURL_CA_BUNDLE) is honoured as by requests.
"""

import asyncio
import atexit
import contextlib
import dataclasses
import os
import socket
import ssl
import threading
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, TypeVar

import aiohttp
import certifi
from aiohttp.abc import AbstractResolver, ResolveResult

from mindbox_integration.mindbox.error_codes import ErrorCode
from mindbox_integration.mindbox.guard import Approved
from mindbox_integration.mindbox.outcome import Outcome, OutcomeKind, classify, retry_after, unsendable

RESPONSE_READ_LIMIT = 1 << 20  # bytes decoded; an answer is kept to RESPONSE_KEEP_CHARS anyway

T = TypeVar("T")
Post = tuple[str, bytes, dict[str, str], Approved]  # url, body, headers, where it may go


def longest_request(*, connect_timeout: float, read_timeout: float) -> float:
    """How long one request may take in all: connecting, then the answer, whose parts may each
    take up to `read_timeout` apart, bounded at half as much again."""
    return connect_timeout + 1.5 * read_timeout


class PinnedResolver(AbstractResolver):
    """Resolves a host only to the addresses the guard approved for it: fail closed otherwise."""

    def __init__(self) -> None:
        self.approved: dict[tuple[str, int], Approved] = {}

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        approved = self.approved.get((host.lower(), port))
        if approved is None:
            raise OSError(f"{host}:{port} was not checked by the outbound guard")
        return [
            ResolveResult(
                hostname=host,
                host=str(address),
                port=port,
                family=socket.AF_INET6 if address.version == 6 else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for address in approved.addresses[:1]
        ]

    async def close(self) -> None:
        pass


class Transport:
    """One asyncio loop on a thread of its own and one aiohttp session, per process; callers on
    any thread hand it a batch of requests and wait for the outcomes."""

    def __init__(self, *, connect_timeout: float, read_timeout: float, pool_size: int) -> None:
        # A request as a whole, its wait for a pooled connection included, is bounded too: an
        # answer trickled byte by byte must not outlive the delivery's claim.
        self.total = longest_request(connect_timeout=connect_timeout, read_timeout=read_timeout)
        self.timeout = aiohttp.ClientTimeout(
            total=self.total, connect=connect_timeout, sock_connect=connect_timeout, sock_read=read_timeout
        )
        self.pool_size = pool_size
        self.ca_file = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or certifi.where()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid = 0
        self._session: aiohttp.ClientSession | None = None
        self._resolver = PinnedResolver()

    def post_many(
        self, posts: Sequence[Post], *, on_answer: Callable[[int, Outcome], None] | None = None
    ) -> list[Outcome]:
        """POST each at once; the outcomes in order. `on_answer(i, outcome)` is called on the
        loop's thread as soon as post i has its outcome, before the slowest one is in."""
        if not posts:
            return []
        return self._run(self._post_all(posts, on_answer))

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        # Every request is bounded by `total`; a margin for the loop's own turn.
        return asyncio.run_coroutine_threadsafe(coroutine, self._running_loop()).result(timeout=self.total + 5)

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            # A forked child (a prefork pool) has the loop object but not its thread: start anew.
            if self._loop is None or self._pid != os.getpid():
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="mindbox-transport", daemon=True).start()
                self._loop, self._pid, self._session = loop, os.getpid(), None
                self._resolver = PinnedResolver()
                atexit.register(self.close)
            return self._loop

    def close(self) -> None:
        """Close the kept-alive connections and stop the loop (at exit, or when done with it)."""
        with self._lock:
            loop, session, self._loop, self._session = self._loop, self._session, None, None
        if loop is None or self._pid != os.getpid() or not loop.is_running():
            return
        if session is not None:
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(session.close(), loop).result(timeout=2)
        loop.call_soon_threadsafe(loop.stop)

    def _client_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            context = ssl.create_default_context(cafile=self.ca_file)
            connector = aiohttp.TCPConnector(
                resolver=self._resolver, use_dns_cache=False, limit=self.pool_size, ssl=context
            )
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=self.timeout, trust_env=False, auto_decompress=True
            )
        return self._session

    async def _post_all(self, posts: Sequence[Post], on_answer: Callable[[int, Outcome], None] | None) -> list[Outcome]:
        session = self._client_session()

        async def post(index: int, post: Post) -> Outcome:
            outcome = await self._post(session, post)
            if on_answer is not None:
                on_answer(index, outcome)
            return outcome

        return list(await asyncio.gather(*(post(index, item) for index, item in enumerate(posts))))

    async def _post(self, session: aiohttp.ClientSession, post: Post) -> Outcome:
        url, body, headers, approved = post
        started = time.monotonic()
        self._resolver.approved[(approved.host, approved.port)] = approved
        try:
            async with session.post(url, data=body, headers=headers, allow_redirects=False) as response:
                # Read whole: a body shorter than its Content-Length is a broken answer, not an answer.
                raw = await response.read()
                text = raw[:RESPONSE_READ_LIMIT].decode(response.charset or "utf-8", errors="replace")
                outcome = classify(
                    response.status, text, retry_after(response.headers), content_type=response.content_type
                )
        except (TimeoutError, aiohttp.ServerTimeoutError):
            outcome = Outcome(kind=OutcomeKind.RETRY, error="timed out waiting for Mindbox", code=ErrorCode.TIMEOUT)
        except aiohttp.ClientPayloadError as exc:
            outcome = Outcome(
                kind=OutcomeKind.RETRY,
                error=f"connection broke while reading the answer: {type(exc).__name__}",
                code=ErrorCode.CONNECTION_BROKE,
                params={"exception": type(exc).__name__},
            )
        except (aiohttp.ClientConnectionError, OSError) as exc:
            detail = str(exc)[:300]
            outcome = Outcome(
                kind=OutcomeKind.RETRY,
                error=f"connection error: {detail}",
                code=ErrorCode.CONNECTION_FAILED,
                params={"detail": detail},
            )
        # Below, only the exception's type is kept: its text may quote the headers, key included.
        except (aiohttp.ClientError, UnicodeError, ValueError) as exc:
            outcome = unsendable(exc)
        except Exception as exc:  # anything else: retry on the schedule, which is bounded
            outcome = Outcome(
                kind=OutcomeKind.RETRY,
                error=f"unexpected error: {type(exc).__name__}",
                code=ErrorCode.UNEXPECTED,
                params={"exception": type(exc).__name__},
            )
        return dataclasses.replace(outcome, duration_ms=int((time.monotonic() - started) * 1000))
