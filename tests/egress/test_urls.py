"""The address guard's verdicts: every non-public range refused, IPv4 embedded in IPv6 judged by itself."""

from __future__ import annotations

import ipaddress

import pytest

from egress.urls import Unreachable, UnsafeUrl, check_url, is_public


async def answer(*addresses: str) -> list[str]:
    return list(addresses)


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2606:4700:4700::1111", True),
        ("10.1.2.3", False),  # private
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("127.0.0.1", False),  # loopback
        ("::1", False),
        ("169.254.169.254", False),  # link-local (cloud metadata)
        ("fe80::1", False),
        ("224.0.0.1", False),  # multicast
        ("239.1.1.1", False),
        ("ff02::1", False),
        ("240.0.0.1", False),  # reserved
        ("255.255.255.255", False),
        ("0.0.0.0", False),  # unspecified
        ("::", False),
        ("100.64.0.1", False),  # shared (carrier-grade NAT)
        ("fc00::1", False),  # unique local
        ("fec0::1", False),  # site-local
        ("::ffff:10.0.0.1", False),  # IPv4-mapped
        ("::ffff:127.0.0.1", False),
        ("::ffff:8.8.8.8", True),
        ("::10.0.0.1", False),  # IPv4-compatible
        ("::127.0.0.1", False),
        ("64:ff9b::a00:1", False),  # NAT64 well-known prefix, 10.0.0.1
        ("64:ff9b::7f00:1", False),
        ("64:ff9b::808:808", True),
        ("64:ff9b:1::a9fe:a9fe", False),  # NAT64 local-use prefix, 169.254.169.254
        ("2002:a00:1::1", False),  # 6to4 of 10.0.0.1
        ("2002:7f00:1::1", False),
        ("2002:808:808::1", True),
        ("2001:0:808:808:0:0:f5ff:fffe", False),  # Teredo, client 10.0.0.1
        ("2001:0:808:808:0:0:80ff:fffe", False),  # Teredo, client 127.0.0.1
        ("2001:0:808:808:0:0:fefd:fcfb", True),  # Teredo, server 8.8.8.8, client 1.2.3.4
    ],
)
def test_address_classification(address: str, public: bool) -> None:
    assert is_public(ipaddress.ip_address(address)) is public


@pytest.mark.parametrize("address", ["10.1.2.3", "::ffff:169.254.169.254", "64:ff9b::a00:1", "fd00::5"])
async def test_refusals_do_not_name_the_address(address: str) -> None:
    async def resolve(host: str, port: int) -> list[str]:
        return ["8.8.8.8", address]  # one inside address among public ones is enough

    with pytest.raises(UnsafeUrl) as refused:
        await check_url("https://hook.example/x", allow_private=False, resolve=resolve)
    assert str(refused.value) == "the host resolves to a non-public address"
    assert address not in str(refused.value) and "hook.example" not in str(refused.value)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/x",
        "file:///etc/passwd",
        "http:///x",
        "example.com/x",
        "http://user:pw@example.com/x",
        "http://user@example.com/x",
        "http://example.com\\@10.0.0.1/x",
    ],
)
async def test_only_plain_http_urls(url: str) -> None:
    with pytest.raises(UnsafeUrl):
        await check_url(url, allow_private=True, resolve=lambda h, p: answer("8.8.8.8"))


async def test_what_is_checked_is_what_is_returned() -> None:
    target = await check_url("https://Hook.Example:8443/a?b=1", False, lambda h, p: answer("8.8.8.8"))
    assert target.addresses == ["8.8.8.8"]
    assert str(target.at("8.8.8.8")) == "https://8.8.8.8:8443/a?b=1"
    assert target.host_header == "hook.example:8443" and target.server_hostname == "hook.example"


async def test_allow_private_still_resolves_and_pins() -> None:
    target = await check_url("http://inside.test/x", True, lambda h, p: answer("10.0.0.7"))
    assert target.addresses == ["10.0.0.7"] and target.server_hostname is None


async def test_a_name_that_does_not_resolve() -> None:
    async def fail(host: str, port: int) -> list[str]:
        raise OSError("Name or service not known")

    with pytest.raises(Unreachable, match="does not resolve"):
        await check_url("https://nowhere.test/", False, fail)
