"""Webhook signatures (server side and the SDK's `verify`), URL validation, retry schedule."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from backend.errors import ValidationFailed
from backend.webhooks import retry_delay_s, sign, validate_webhook_url
from plinth import webhooks as sdk

SECRET = "whsec_test"
BODY = json.dumps({"id": "r1", "status": "SUCCEEDED", "result": [1]}).encode()


def test_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    header = sign(SECRET, BODY, 1_700_000_000)
    expected = hmac.new(SECRET.encode(), b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"
    assert sdk.sign(SECRET, BODY, 1_700_000_000) == header  # the SDK's helper agrees


def test_verify_accepts_a_valid_delivery_and_returns_the_body() -> None:
    headers = {"x-plinth-signature": sign(SECRET, BODY, 1000)}  # header names are any case
    assert sdk.verify(SECRET, headers, BODY, now=1100) == json.loads(BODY)
    assert sdk.verify(SECRET, headers, BODY.decode(), now=1100)["id"] == "r1"


@pytest.mark.parametrize(
    ("headers", "body", "now", "needle"),
    [
        ({}, BODY, 1000, "no X-Plinth-Signature"),
        ({"X-Plinth-Signature": "v1=abc"}, BODY, 1000, "t=... and v1"),
        ({"X-Plinth-Signature": "t=x,v1=abc"}, BODY, 1000, "bad timestamp"),
        ({"X-Plinth-Signature": sign("whsec_other", BODY, 1000)}, BODY, 1000, "does not match"),
        ({"X-Plinth-Signature": sign(SECRET, BODY, 1000)}, BODY + b" ", 1000, "does not match"),
        ({"X-Plinth-Signature": sign(SECRET, BODY, 1000)}, BODY, 1301, "away from now"),
        ({"X-Plinth-Signature": sign(SECRET, BODY, 1000)}, BODY, 699, "away from now"),
    ],
)
def test_verify_refuses(headers: dict[str, str], body: bytes, now: float, needle: str) -> None:
    with pytest.raises(sdk.WebhookVerificationError, match=needle):
        sdk.verify(SECRET, headers, body, now=now)


def test_verify_accepts_any_of_several_signatures() -> None:
    good = sign(SECRET, BODY, 1000).split(",")[1]
    headers = {"X-Plinth-Signature": f"t=1000,v1={'0' * 64},{good}"}
    assert sdk.verify(SECRET, headers, BODY, now=1000)["id"] == "r1"


def _resolver(table: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise OSError("Name or service not known")
        return table[host]

    return resolve


PUBLIC = _resolver(
    {
        "hooks.example.com": ["93.184.216.34"],
        "v6.example.com": ["2606:2800:220:1:248:1893:25c8:1946"],
        "sneaky.example.com": ["93.184.216.34", "10.0.0.5"],
        "metadata.example.com": ["169.254.169.254"],
        "mapped.example.com": ["::ffff:127.0.0.1"],
    }
)


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/plinth",
        "http://hooks.example.com:8080/x?y=1",
        "https://v6.example.com/",
        "https://93.184.216.34/hook",
    ],
)
def test_public_urls_are_allowed(url: str) -> None:
    assert validate_webhook_url(url, resolve=PUBLIC) == url


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("ftp://hooks.example.com/x", "scheme 'ftp'"),
        ("file:///etc/passwd", "scheme 'file'"),
        ("hooks.example.com/x", "scheme ''"),
        ("https:///path", "has no host"),
        ("https://user:pw@hooks.example.com/", "user name or password"),
        ("http://127.0.0.1:8000/hook", "non-public address 127.0.0.1"),
        ("http://localhost/hook", "does not resolve"),  # not in the test resolver
        ("http://10.1.2.3/", "non-public"),
        ("http://192.168.0.1/", "non-public"),
        ("http://172.16.5.4/", "non-public"),
        ("http://169.254.169.254/latest/meta-data/", "non-public"),
        ("http://100.100.100.200/", "non-public"),  # shared address space (a cloud metadata IP)
        ("http://[::1]/", "non-public"),
        ("http://[fe80::1]/", "non-public"),
        ("http://[fd00:ec2::254]/", "non-public"),  # AWS metadata over IPv6 (ULA)
        ("http://[::ffff:169.254.169.254]/", "non-public"),  # IPv4-mapped IPv6
        ("http://0.0.0.0/", "non-public"),
        ("http://224.0.0.1/", "non-public"),
        ("http://sneaky.example.com/", "10.0.0.5"),  # any private address refuses the host
        ("http://metadata.example.com/", "169.254.169.254"),
        ("http://mapped.example.com/", "non-public"),
        ("http://nowhere.invalid/", "does not resolve"),
        ("https://hooks.example.com:99999/", "not a valid URL"),
        ("https://hooks.example.com/" + "a" * 2100, "longer than 2048"),
    ],
)
def test_unsafe_urls_are_refused_naming_the_field(url: str, needle: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        validate_webhook_url(url, resolve=PUBLIC)
    assert caught.value.field == "webhook_url"
    assert needle in caught.value.message


def test_the_operator_may_allow_private_targets() -> None:
    url = "http://127.0.0.1:9000/hook"
    assert validate_webhook_url(url, allow_private=True, resolve=PUBLIC) == url
    assert validate_webhook_url(url, allowed_hosts=["127.0.0.0/8"], resolve=PUBLIC) == url
    internal = "http://hooks.internal/x"
    resolver = _resolver({"hooks.internal": ["10.0.0.7"]})
    assert validate_webhook_url(internal, allowed_hosts=["hooks.internal"], resolve=resolver)
    assert validate_webhook_url(internal, allowed_hosts=["10.0.0.0/24"], resolve=resolver)
    with pytest.raises(ValidationFailed):
        validate_webhook_url(internal, allowed_hosts=["10.0.1.0/24"], resolve=resolver)
    with pytest.raises(ValidationFailed, match="scheme"):  # never other schemes
        validate_webhook_url("gopher://127.0.0.1/", allow_private=True)


def test_retry_schedule_doubles_up_to_the_cap() -> None:
    delays = [retry_delay_s(n, base_s=1.0, cap_s=30.0) for n in range(1, 8)]
    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert retry_delay_s(0, base_s=0.5, cap_s=10) == 0.5
