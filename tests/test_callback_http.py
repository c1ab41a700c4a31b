import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import pytest
import trustme
import urllib3.util.connection
from plivo.utils.signature_v3 import validate_v3_signature

from tests.receiver import QuietServer, Receiver
from workers.callback_addresses import Refused, is_public
from workers.callback_http import Delivery, callback_session, destination, send

TOKEN = "tenant-token-0123456789"
PUBLIC = "93.184.215.14"
REAL_GETADDRINFO = socket.getaddrinfo


def delivery(url: str, method: str = "POST") -> Delivery:
    return Delivery(url, method, {"EventName": "SessionTimeout", "SequenceNumber": "1"}, TOKEN, "evt-1")


def refusal(url: str, allow_private: bool) -> str:
    """Return why `url` may not be called, or `""` when it may."""
    try:
        destination(url, allow_private)
    except Refused as refused:
        return refused.message
    return ""


def answers(monkeypatch, table: dict[str, list[list[str]]]) -> list[str]:
    """Answer names in `table` with their lists of addresses in turn (cycling); others as the system does.

    Returns the names asked, one item per lookup.
    """
    asked: list[str] = []

    def getaddrinfo(host, port, *args, **kwargs):
        if host not in table:
            return REAL_GETADDRINFO(host, port, *args, **kwargs)
        asked.append(host)
        found = table[host][(len([h for h in asked if h == host]) - 1) % len(table[host])]
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in found]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


# -- what an address reaches ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/cb",
        "http://localhost/cb",
        "http://10.1.2.3/cb",
        "http://192.168.1.1/cb",
        "http://172.16.0.9/cb",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/cb",
        "http://0.0.0.0/cb",
        "http://100.64.0.1/cb",
        "http://[fe80::1]/cb",
        "http://[fd00::1]/cb",
        # IPv6 addresses that carry a private IPv4 one: NAT64 (RFC 6052, and RFC 8215's local-use prefix),
        # 6to4, IPv4-mapped and IPv4-compatible, and Teredo
        "http://[64:ff9b::7f00:1]/cb",
        "http://[64:ff9b::a01:203]/cb",
        "http://[64:ff9b:1::7f00:1]/cb",
        "http://[64:ff9b:1:7f00:1::]/cb",
        "http://[2002:7f00:1::1]/cb",
        "http://[2002:a9fe:a9fe::1]/cb",
        "http://[::ffff:127.0.0.1]/cb",
        "http://[::ffff:a9fe:a9fe]/cb",
        "http://[::127.0.0.1]/cb",
        "http://[::a00:1]/cb",
        "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/cb",
        # IPv4-translated (RFC 2765), and IPv6 outside global unicast or set aside: site-local, SRv6, documentation
        "http://[::ffff:0:7f00:1]/cb",
        "http://[fec0::1]/cb",
        "http://[5f00::1]/cb",
        "http://[3fff::1]/cb",
        "http://[2001:db8::1]/cb",
    ],
)
def test_private_loopback_and_metadata_addresses_are_refused(url):
    assert "not a public address" in refusal(url, allow_private=False)


@pytest.mark.parametrize(
    "address",
    ["8.8.8.8", "2001:4860:4860::8888", "64:ff9b::808:808", "2002:808:808::1", "::ffff:8.8.8.8", "::ffff:0:808:808"],
)
def test_a_public_address_is_public_in_any_of_its_ipv6_forms(address):
    assert is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["64:ff9b::7f00:1", "2002:7f00:1::1", "::ffff:7f00:1", "::7f00:1"])
def test_a_name_that_resolves_to_a_private_address_in_an_ipv6_form_is_refused(monkeypatch, address):
    answers(monkeypatch, {"hooks.example.com": [[address]]})

    assert "hooks.example.com resolves to" in refusal("https://hooks.example.com/cb", allow_private=False)


def test_a_name_with_one_private_address_among_public_ones_is_refused(monkeypatch):
    answers(monkeypatch, {"hooks.example.com": [[PUBLIC, "10.0.0.7"]]})

    assert "10.0.0.7, which is not a public address" in refusal("https://hooks.example.com/cb", allow_private=False)


def test_the_operator_may_allow_private_addresses():
    assert refusal("http://127.0.0.1/cb", allow_private=True) == ""
    assert refusal("http://[64:ff9b::7f00:1]/cb", allow_private=True) == ""


def test_a_public_address_is_allowed(monkeypatch):
    answers(monkeypatch, {"tenant.example.com": [[PUBLIC]]})

    assert refusal("https://tenant.example.com/cb", allow_private=False) == ""


# -- what a URL may look like -----------------------------------------------------------------------------
@pytest.mark.parametrize("url", ["ftp://example.com/cb", "file:///etc/passwd", "gopher://x", "http:///nohost"])
def test_only_http_and_https_urls_may_be_called(url):
    assert refusal(url, allow_private=True) == "callback URL refused: it must be an http or https URL"


@pytest.mark.parametrize(
    ("url", "why"),
    [
        # urlsplit reads the host as 8.8.8.8; requests (and browsers) connect to 127.0.0.1
        ("http://127.0.0.1:9471\\@8.8.8.8/x", "backslash"),
        ("http://8.8.8.8\\.127.0.0.1/x", "backslash"),
        ("http://user:secret@hooks.example.com/x", "user information"),
        ("http://8.8.8.8@127.0.0.1/x", "user information"),
        ("http://hooks.example.com/x\r\nX-Injected: 1", "control characters"),
        ("http://hooks.example.com/\x00", "control characters"),
        ("http://127.0.0.1\t/x", "control characters"),
        ("http://hooks.example.com/a b", "spaces"),
        (" http://hooks.example.com/x", "spaces"),
        ("http://hooks.example.com/caf\u00e9", "ASCII"),
        ("http://ex\u2024ample.com/x", "internationalised"),
        ("http://2130706433/x", "four decimal numbers"),
        ("http://0177.0.0.1/x", "four decimal numbers"),
        ("http://0x7f.1/x", "four decimal numbers"),
        ("http://0x7f000001/x", "four decimal numbers"),
        ("http://127.1/x", "four decimal numbers"),
        ("http://127.0.0.01/x", "four decimal numbers"),
        ("http://\uff11\uff12\uff17.1/x", "four decimal numbers"),
        ("http://localhost./x", "dot"),
        ("http://hooks.example.com./x", "dot"),
        ("http://[fe80::1%25eth0]/x", "zone"),
        ("http://hooks.example.com:0/x", "port"),
        ("http://hooks.example.com:99999/x", "port"),
        ("http://hooks.example.com%2f@x/", "user information"),
        ("http://hooks%2eexample.com/x", "letters, digits"),
    ],
)
@pytest.mark.parametrize("allow_private", [False, True])
def test_a_url_two_parsers_could_read_differently_is_never_called(url, why, allow_private):
    refused = refusal(url, allow_private)

    assert refused.startswith("callback URL refused: it must") and why in refused


def test_a_backslash_url_reaches_no_listener_even_when_its_other_reading_is_public(receiver):
    port = receiver.url.split(":")[2].split("/")[0]

    outcome = send(callback_session(), delivery(f"http://127.0.0.1:{port}\\@8.8.8.8/x"), allow_private=False)

    assert not outcome.delivered and not outcome.retry and "backslash" in outcome.error
    assert receiver.requests == []


def test_a_delivery_to_a_private_address_is_refused_without_a_request(receiver):
    outcome = send(callback_session(), delivery(receiver.url), allow_private=False)

    assert not outcome.delivered and "not a public address" in outcome.error
    assert receiver.requests == []


# -- where the connection goes ----------------------------------------------------------------------------
@pytest.mark.integration
def test_a_rebinding_name_reaches_only_the_address_that_was_checked(monkeypatch, receiver):
    """The resolver answers a public address, then loopback, in turn: a second lookup would reach loopback."""
    inside = receiver  # a private service on loopback: the target
    outside = Receiver().start()  # stands in for the public address
    port = int(inside.url.split(":")[2].split("/")[0])
    asked = answers(monkeypatch, {"rebind.example.com": [[PUBLIC], ["127.0.0.1"]]})
    connected: list[str] = []
    real_connect = urllib3.util.connection.create_connection

    def network(address, *args, **kwargs):
        connected.append(address[0])
        if address == (PUBLIC, port):
            address = ("127.0.0.1", int(outside.url.split(":")[2].split("/")[0]))
        return real_connect(address, *args, **kwargs)

    monkeypatch.setattr(urllib3.util.connection, "create_connection", network)
    http = callback_session()
    try:
        outcomes = [
            send(http, delivery(f"http://rebind.example.com:{port}/cb"), allow_private=False) for _ in range(20)
        ]
    finally:
        outside.stop()

    assert inside.requests == []
    assert [o.delivered for o in outcomes] == [True, False] * 10
    assert all("127.0.0.1, which is not a public address" in o.error for o in outcomes[1::2])
    assert len(outside.requests) == 10 and set(connected) == {PUBLIC}
    assert {r.headers["Host"] for r in outside.requests} == {f"rebind.example.com:{port}"}
    assert len(asked) == 20  # one lookup per delivery: the one that was checked


@pytest.mark.integration
def test_the_addresses_of_a_name_are_tried_in_turn_until_one_accepts(monkeypatch, receiver):
    port = int(receiver.url.split(":")[2].split("/")[0])
    answers(monkeypatch, {"two.example.com": [["127.0.0.2", "127.0.0.1"]]})

    outcome = send(callback_session(), delivery(f"http://two.example.com:{port}/cb"), allow_private=True)

    assert outcome.delivered and receiver.requests[0].headers["Host"] == f"two.example.com:{port}"


@pytest.mark.integration
@pytest.mark.parametrize("method", ["POST", "GET"])
def test_a_2xx_is_delivered_with_a_signature_the_plivo_sdk_accepts(receiver, method):
    outcome = send(callback_session(), delivery(receiver.url, method), allow_private=True)

    assert outcome.delivered and outcome.status == 200
    got = receiver.requests[0]
    assert got.method == method and got.params == {"EventName": "SessionTimeout", "SequenceNumber": "1"}
    assert got.headers["Idempotency-Key"] == "evt-1"
    assert validate_v3_signature(
        method,
        receiver.url,
        got.headers["X-Plivo-Signature-V3-Nonce"],
        TOKEN,
        got.headers["X-Plivo-Signature-V3"],
        got.params,
    )


@pytest.mark.integration
@pytest.mark.parametrize("status", [302, 400, 404, 500, 503])
def test_anything_but_a_2xx_is_not_delivered_and_is_retried(receiver, status):
    receiver.status = status

    outcome = send(callback_session(), delivery(receiver.url), allow_private=True)

    assert not outcome.delivered and outcome.status == status and outcome.retry


def test_a_refused_connection_is_an_outcome_not_an_exception():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    outcome = send(callback_session(), delivery(f"http://127.0.0.1:{port}/cb"), allow_private=True)

    assert not outcome.delivered and outcome.retry and "ConnectionError" in outcome.error


# -- https: the name, not the address, in SNI and in the certificate check --------------------------------
class TLSReceiver:
    """A loopback HTTPS server with a certificate for `names`; records the SNI names and Host headers it sees."""

    def __init__(self, ca: trustme.CA, *names: str) -> None:
        self.server_names: list[str | None] = []
        self.hosts: list[str] = []
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert(*names).configure_cert(context)
        context.sni_callback = lambda _sock, name, _context: self.server_names.append(name)
        seen = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                seen.hosts.append(self.headers["Host"])
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = QuietServer(("127.0.0.1", 0), Handler)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def ca(tmp_path, monkeypatch) -> Iterator[trustme.CA]:
    """A certificate authority that requests trusts, and only it (`REQUESTS_CA_BUNDLE`, as an operator sets it)."""
    authority = trustme.CA()
    path = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(path))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(path))
    yield authority


@pytest.mark.integration
def test_https_sends_and_verifies_the_urls_name_while_connecting_to_the_checked_address(monkeypatch, ca):
    server = TLSReceiver(ca, "hooks.example.com")
    answers(monkeypatch, {"hooks.example.com": [["127.0.0.1"]]})
    try:
        outcome = send(callback_session(), delivery(f"https://hooks.example.com:{server.port}/cb"), allow_private=True)
    finally:
        server.stop()

    assert outcome.delivered and outcome.status == 204
    assert server.server_names == ["hooks.example.com"]
    assert server.hosts == [f"hooks.example.com:{server.port}"]


@pytest.mark.integration
def test_https_to_a_server_whose_certificate_names_another_host_is_not_delivered(monkeypatch, ca):
    server = TLSReceiver(ca, "other.example.com", "127.0.0.1")
    answers(monkeypatch, {"hooks.example.com": [["127.0.0.1"]]})
    try:
        outcome = send(callback_session(), delivery(f"https://hooks.example.com:{server.port}/cb"), allow_private=True)
    finally:
        server.stop()

    assert not outcome.delivered and "SSLError" in outcome.error and server.hosts == []
