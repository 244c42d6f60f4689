"""Loopback fakes of FCM, APNs and a Web Push service that check the real wire format.

FCM: the OAuth assertion is verified with the service account's public key, sends need its token.
APNs: HTTP/2 over TLS (hypercorn, a local CA), the ES256 provider token verified with the .p8's key.
Web Push: the VAPID JWT verified with the key it names, the aes128gcm payload decrypted with the
subscription's private key. Each keeps what it accepted in an inbox; tokens in `gone` are refused.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import http_ece
import jwt
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from hypercorn.asyncio import serve
from hypercorn.config import Config

from domain.push import b64url, b64url_decode
from tests.inbox import Inbox


def pem(key: Any) -> str:
    return str(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
    )


@dataclass
class Pushed:
    platform: str
    token: str
    payload: dict[str, Any]
    headers: dict[str, str]


@dataclass
class PushFakes:
    base: str = ""
    apns_base: str = ""
    ca_file: str = ""
    fcm_key: rsa.RSAPrivateKey = field(default_factory=lambda: rsa.generate_private_key(65537, 2048))
    apns_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    gone: set[str] = field(default_factory=set)
    inbox: Inbox[Pushed] = field(default_factory=Inbox)
    _tokens: set[str] = field(default_factory=set)
    _subscriptions: dict[str, tuple[ec.EllipticCurvePrivateKey, bytes]] = field(default_factory=dict)

    # What the tests register

    def service_account(self) -> dict[str, str]:
        return {
            "type": "service_account",
            "project_id": "fake-project",
            "client_email": "push@fake-project.iam.gserviceaccount.com",
            "private_key": pem(self.fcm_key),
            "token_uri": f"{self.base}/token",
        }

    def apns_credentials(self) -> dict[str, str]:
        return {
            "teamId": "TEAM123456",
            "keyId": "KEY1234567",
            "privateKey": pem(self.apns_key),
            "topic": "com.example.shop",
            "environment": "sandbox",
        }

    def subscription(self, name: str) -> dict[str, Any]:
        """A browser's push subscription; the fake keeps its private key to decrypt what comes."""
        key, auth = ec.generate_private_key(ec.SECP256R1()), os.urandom(16)
        self._subscriptions[name] = (key, auth)
        point = key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {
            "endpoint": f"{self.base}/webpush/{name}",
            "keys": {"p256dh": b64url(point), "auth": b64url(auth)},
        }

    # FCM

    async def fcm_token(self, request: web.Request) -> web.Response:
        form = await request.post()
        try:
            claims = jwt.decode(
                str(form["assertion"]),
                self.fcm_key.public_key(),
                algorithms=["RS256"],
                audience=f"{self.base}/token",
            )
        except (KeyError, jwt.InvalidTokenError) as e:
            return web.json_response({"error": "invalid_grant", "error_description": str(e)}, status=400)
        assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
        assert claims["scope"] == "https://www.googleapis.com/auth/firebase.messaging"
        token = f"ya29.fake-{len(self._tokens)}"
        self._tokens.add(token)
        return web.json_response({"access_token": token, "expires_in": 3600, "token_type": "Bearer"})

    async def fcm_send(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization", "").removeprefix("Bearer ") not in self._tokens:
            return web.json_response({"error": {"code": 401, "status": "UNAUTHENTICATED"}}, status=401)
        assert request.match_info["project"] == "fake-project"
        message = (await request.json())["message"]
        if message["token"] in self.gone:
            error = {
                "code": 404,
                "status": "NOT_FOUND",
                "details": [
                    {
                        "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                        "errorCode": "UNREGISTERED",
                    }
                ],
            }
            return web.json_response({"error": error}, status=404)
        await self.inbox.add(Pushed("fcm", message["token"], message, dict(request.headers)))
        return web.json_response({"name": f"projects/fake-project/messages/{len(self.inbox.items)}"})

    # Web Push

    async def webpush(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        scheme, _, rest = request.headers["Authorization"].partition(" ")
        params = dict(p.strip().split("=", 1) for p in rest.split(","))
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64url_decode(params["k"]))
        try:
            claims = jwt.decode(params["t"], public, algorithms=["ES256"], audience=self.base)
        except jwt.InvalidTokenError as e:
            return web.Response(status=403, text=str(e))
        assert scheme == "vapid" and claims["sub"].startswith("mailto:")
        assert request.headers["Content-Encoding"] == "aes128gcm" and int(request.headers["TTL"]) > 0
        if name in self.gone:
            return web.Response(status=410, text="subscription expired")
        key, auth = self._subscriptions[name]
        payload = json.loads(http_ece.decrypt(await request.read(), private_key=key, auth_secret=auth))
        await self.inbox.add(Pushed("webpush", name, payload, {**dict(request.headers), "k": params["k"]}))
        return web.Response(status=201)

    # APNs, an ASGI app for hypercorn (HTTP/2)

    async def apns(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        token = scope["path"].removeprefix("/3/device/")
        status, answer = 200, b""
        try:
            assert scope["http_version"] == "2", "APNs speaks HTTP/2 only"
            bearer = headers["authorization"].removeprefix("bearer ")
            assert jwt.get_unverified_header(bearer)["kid"] == "KEY1234567"
            assert jwt.decode(bearer, self.apns_key.public_key(), algorithms=["ES256"])["iss"] == "TEAM123456"
            assert headers["apns-topic"] == "com.example.shop" and headers["apns-push-type"] == "alert"
        except (AssertionError, KeyError, jwt.InvalidTokenError) as e:
            status, answer = 403, json.dumps({"reason": f"InvalidProviderToken: {e}"}).encode()
        if status == 200 and token in self.gone:
            status, answer = 410, json.dumps({"reason": "Unregistered", "timestamp": 0}).encode()
        if status == 200:
            await self.inbox.add(Pushed("apns", token, json.loads(body), headers))
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"apns-id", headers.get("apns-id", "").encode())],
            }
        )
        await send({"type": "http.response.body", "body": answer})


def _certificate(folder: Path) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1, which is also the CA the sender is told to trust."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-apns")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "apns.crt", folder / "apns.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_text(pem(key))
    return str(cert_file), str(key_file)


async def start(
    port: int, apns_port: int
) -> tuple[PushFakes, web.AppRunner, asyncio.Event, asyncio.Task[None]]:
    fakes = PushFakes(base=f"http://127.0.0.1:{port}", apns_base=f"https://127.0.0.1:{apns_port}")
    app = web.Application()
    app.router.add_post("/token", fakes.fcm_token)
    app.router.add_post("/v1/projects/{project}/messages:send", fakes.fcm_send)
    app.router.add_post("/webpush/{name}", fakes.webpush)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()

    cert, key = _certificate(Path(tempfile.mkdtemp(prefix="fake-apns-")))
    fakes.ca_file = cert
    config = Config()
    config.bind = [f"127.0.0.1:{apns_port}"]
    config.certfile, config.keyfile = cert, key
    config.alpn_protocols = ["h2"]
    config.loglevel = "WARNING"
    stop = asyncio.Event()
    task = asyncio.create_task(serve(fakes.apns, config, shutdown_trigger=stop.wait))  # type: ignore[arg-type]
    return fakes, runner, stop, task
