"""The guard on the wire, against a loopback server: one lookup pinned, no redirects, a capped body."""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import httpx
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from egress.http import LIMIT, Egress
from egress.urls import Unreachable, UnsafeUrl
from tests.support import free_port


@dataclass
class Server:
    port: int
    tls_port: int
    ca: ssl.SSLContext  # trusts the TLS site's certificate, which names hook.test only
    hits: list[tuple[str, str]] = field(default_factory=list)  # (path, Host header)


@dataclass
class Resolver:
    """A DNS that answers `first` once and `later` after that: a rebinding attacker's."""

    first: str = "127.0.0.1"
    later: str = "127.0.0.2"  # nothing listens there
    asked: list[str] = field(default_factory=list)

    async def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        return [self.first if len(self.asked) == 1 else self.later]


def certificate(folder: Path, name: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / f"{name}.crt", folder / f"{name}.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_file, key_file


@pytest.fixture(scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Server]:
    cert, key = certificate(tmp_path_factory.mktemp("tls"), "hook.test")
    served = Server(free_port(), free_port(), ssl.create_default_context(cafile=str(cert)))

    async def hit(request: web.Request) -> web.Response:
        served.hits.append((request.path, request.headers["Host"]))
        return web.Response(text="ok")

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound("/target")

    async def endless(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        while True:  # until the client goes away
            await response.write(b"x" * 8192)

    app = web.Application()
    app.router.add_route("*", "/hit", hit)
    app.router.add_route("*", "/target", hit)
    app.router.add_post("/redirect", redirect)
    app.router.add_post("/endless", endless)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", served.port).start()
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    await web.TCPSite(runner, "127.0.0.1", served.tls_port, ssl_context=tls).start()
    yield served
    await runner.cleanup()


def guard(http: aiohttp.ClientSession, server: Server, resolve: Resolver, private: bool = True) -> Egress:
    return Egress(http, allow_private=private, resolve=resolve, tls=server.ca)


async def test_the_checked_address_is_the_one_connected_to(
    http: aiohttp.ClientSession, server: Server
) -> None:
    resolve = Resolver()
    reply = await guard(http, server, resolve).post(f"http://hook.test:{server.port}/hit?x=1", data=b"{}")
    assert reply.status == 200 and reply.text() == "ok"
    assert resolve.asked == ["hook.test"]  # one lookup: the connection did not ask again
    assert server.hits[-1] == ("/hit", f"hook.test:{server.port}")


async def test_tls_is_verified_against_the_url_hostname(http: aiohttp.ClientSession, server: Server) -> None:
    reply = await guard(http, server, Resolver()).post(f"https://hook.test:{server.tls_port}/hit")
    assert reply.status == 200  # the certificate names hook.test, not 127.0.0.1
    with pytest.raises(Unreachable, match="TLS") as failed:
        await guard(http, server, Resolver()).post(f"https://other.test:{server.tls_port}/hit")
    assert "127.0.0.1" not in str(failed.value)


async def test_httpx_connections_are_pinned_and_verified(http: aiohttp.ClientSession, server: Server) -> None:
    resolve = Resolver()
    transport = guard(http, server, resolve).transport(server.ca)
    async with httpx.AsyncClient(transport=transport) as client:
        answered = await client.post(f"https://hook.test:{server.tls_port}/hit")
        assert answered.status_code == 200 and resolve.asked == ["hook.test"]
        with pytest.raises(httpx.ConnectError):  # a certificate for another name
            await client.post(f"https://other.test:{server.tls_port}/hit")
    refusing = guard(http, server, Resolver(), private=False).transport(server.ca)
    async with httpx.AsyncClient(transport=refusing) as client:
        with pytest.raises(UnsafeUrl, match="non-public"):
            await client.post(f"https://hook.test:{server.tls_port}/hit")


async def test_redirects_are_not_followed(http: aiohttp.ClientSession, server: Server) -> None:
    before = [h for h in server.hits if h[0] == "/target"]
    reply = await guard(http, server, Resolver()).post(f"http://hook.test:{server.port}/redirect")
    assert reply.status == 302 and reply.headers["Location"] == "/target"
    # A followed redirect would have been fetched before `post` returned: the target was never asked.
    assert [h for h in server.hits if h[0] == "/target"] == before


async def test_the_body_read_stops_at_the_cap(http: aiohttp.ClientSession, server: Server) -> None:
    async with asyncio.timeout(10):
        reply = await guard(http, server, Resolver()).post(f"http://hook.test:{server.port}/endless")
    assert reply.status == 200 and len(reply.body) == LIMIT and len(reply.text()) == 500


async def test_refusals_and_failures_name_no_address(http: aiohttp.ClientSession, server: Server) -> None:
    with pytest.raises(UnsafeUrl) as refused:
        await guard(http, server, Resolver(first="10.9.8.7"), private=False).post("http://hook.test/hit")
    assert str(refused.value) == "the host resolves to a non-public address"
    with pytest.raises(Unreachable) as failed:
        await guard(http, server, Resolver()).post(f"http://hook.test:{free_port()}/hit")
    assert str(failed.value) == "could not connect to the host" and "127.0.0.1" not in str(failed.value)


async def test_loopback_is_refused_unless_allowed(http: aiohttp.ClientSession, server: Server) -> None:
    url = f"http://127.0.0.1:{server.port}/hit"
    with pytest.raises(UnsafeUrl):
        await guard(http, server, Resolver(), private=False).post(url)
    assert (await guard(http, server, Resolver(), private=True).post(url)).status == 200
