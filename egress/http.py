"""Outbound HTTP through the guard: the checked address pinned, no redirects, a capped body, safe errors.

aiohttp: the request goes to the checked address itself (`Target.at`), with the URL's `Host` header
and its hostname as `server_hostname`, so TLS sends that name (SNI) and verifies the certificate
against it; aiohttp keys pooled connections by `server_hostname` too. httpx (APNs, HTTP/2): the
transport's network backend resolves and checks once, then connects to the address; httpcore
still starts TLS with the URL's hostname.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import httpcore
import httpx

from egress.urls import (
    EgressError,
    Resolve,
    Target,
    Unreachable,
    check_url,
    checked_addresses,
    system_resolve,
)

LIMIT = 64 * 1024  # the most of a response body ever read
EXCERPT = 500  # the most of it ever stored
TIMEOUT = aiohttp.ClientTimeout(total=15)


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Mapping[str, str]
    body: bytes  # at most LIMIT bytes

    def text(self, limit: int = EXCERPT) -> str:
        return self.body.decode(errors="replace")[:limit]

    def json_object(self) -> dict[str, Any]:
        """The body as a JSON object, or {} when it is not one (a cut-off body is not)."""
        try:
            value = json.loads(self.body)
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}


async def read_capped(chunks: AsyncIterator[bytes], limit: int = LIMIT) -> bytes:
    """Stop reading at `limit`: an endpoint cannot make us hold an endless body."""
    body = bytearray()
    async for chunk in chunks:
        body += chunk
        if len(body) >= limit:
            break
    return bytes(body[:limit])


@contextmanager
def safe_errors() -> Iterator[None]:
    """Transport errors as `Unreachable` with a message naming no address (theirs often do)."""
    try:
        yield
    except EgressError:
        raise
    except (TimeoutError, httpx.TimeoutException) as e:
        raise Unreachable("the host did not answer in time") from e
    except (aiohttp.ClientSSLError, ssl.SSLError) as e:
        raise Unreachable("the TLS handshake with the host failed") from e
    except (aiohttp.ClientConnectorError, httpx.ConnectError, ConnectionRefusedError) as e:
        raise Unreachable("could not connect to the host") from e
    except (aiohttp.ClientError, httpx.HTTPError, OSError) as e:
        raise Unreachable(f"the request failed ({type(e).__name__})") from e


class Egress:
    """The one way out to a URL someone gave us; `allow_private` is FULFILLMENT_WEBHOOK_ALLOW_PRIVATE."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        allow_private: bool,
        resolve: Resolve = system_resolve,
        tls: ssl.SSLContext | bool = True,
    ) -> None:
        self._http, self.allow_private, self.resolve, self._tls = http, allow_private, resolve, tls

    async def post(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        data: Any = None,
        json: Any = None,
        timeout: float | None = None,  # noqa: ASYNC109 (per request: aiohttp's, on connecting and reading)
    ) -> Reply:
        return await self.request("POST", url, headers=headers, data=data, json=json, timeout=timeout)

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        data: Any = None,
        json: Any = None,
        timeout: float | None = None,  # noqa: ASYNC109 (per request: aiohttp's, on connecting and reading)
    ) -> Reply:
        """Send to a checked address of `url`; a 3xx is returned as it is, never followed. `timeout`
        (seconds) bounds all of it, the host's lookup included, instead of the exchange's 15 s."""
        with safe_errors():
            async with asyncio.timeout(timeout):
                target = await check_url(url, self.allow_private, self.resolve)
                sent = {**(headers or {}), "Host": target.host_header}
                *others, last = target.addresses
                for address in others:
                    try:
                        return await self._send(method, target, address, sent, data, json, TIMEOUT)
                    except aiohttp.ClientConnectorError:
                        continue  # the next checked address, as aiohttp would try the next resolved one
                return await self._send(method, target, last, sent, data, json, TIMEOUT)

    async def _send(
        self,
        method: str,
        target: Target,
        address: str,
        headers: dict[str, str],
        data: Any,
        json: Any,
        timeout: aiohttp.ClientTimeout,  # noqa: ASYNC109
    ) -> Reply:
        async with self._http.request(
            method,
            target.at(address),
            headers=headers,
            data=data,
            json=json,
            timeout=timeout,
            allow_redirects=False,
            server_hostname=target.server_hostname,
            ssl=self._tls,
        ) as r:
            body = await read_capped(r.content.iter_any())
            if not r.content.at_eof():
                r.close()  # drop the connection rather than drain the rest
            return Reply(r.status, r.headers, body)

    def transport(self, verify: ssl.SSLContext | bool = True) -> httpx.AsyncHTTPTransport:
        """An HTTP/2 httpx transport whose connections go to checked addresses only."""
        transport = httpx.AsyncHTTPTransport(http2=True, verify=verify)
        pool = transport._pool  # httpx has no public hook for the network backend
        pool._network_backend = _PinnedBackend(pool._network_backend, self)
        return transport


class _PinnedBackend(httpcore.AsyncNetworkBackend):
    """httpcore opens sockets here: one checked lookup, then the socket to a checked address."""

    def __init__(self, inner: httpcore.AsyncNetworkBackend, egress: Egress) -> None:
        self._inner, self._egress = inner, egress

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's signature)
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await checked_addresses(host, port, self._egress.allow_private, self._egress.resolve)
        *others, last = addresses
        for address in others:
            try:
                return await self._inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except httpcore.ConnectError:
                continue
        return await self._inner.connect_tcp(last, port, timeout, local_address, socket_options)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's signature)
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise Unreachable("unix sockets are not an egress target")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)
