"""Webhook target URLs: http(s) only, and never private or loopback addresses unless allowed."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit


class UnsafeUrl(ValueError):
    pass


async def check_url(url: str, allow_private: bool) -> None:
    """Raise `UnsafeUrl` saying why; resolves the host, so a name pointing inside is refused too."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeUrl("the URL must be absolute http or https")
    if allow_private:
        return
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            parts.hostname, parts.port or 443, type=socket.SOCK_STREAM
        )
    except OSError as e:
        raise UnsafeUrl(f"the host {parts.hostname!r} does not resolve") from e
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            raise UnsafeUrl(f"{parts.hostname} resolves to {address}, a private or loopback address")
