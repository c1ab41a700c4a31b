import ipaddress

import pytest

from routing.urls import parse_url
from tests.sessions_helpers import UNSAFE_URLS


@pytest.mark.parametrize(
    ("url", "host", "port", "target", "authority"),
    [
        ("https://hooks.example.com/cb", "hooks.example.com", 443, "/cb", "hooks.example.com"),
        ("HTTP://Hooks.Example.COM:8080", "hooks.example.com", 8080, "/", "hooks.example.com:8080"),
        ("https://B\u00fccher.example/a?b=c#d", "xn--bcher-kva.example", 443, "/a?b=c", "xn--bcher-kva.example"),
        ("http://[2001:DB8::0:1]:81/x", "2001:db8::1", 81, "/x", "[2001:db8::1]:81"),
        ("http://8.8.8.8:80/x", "8.8.8.8", 80, "/x", "8.8.8.8"),
        ("https://my_host.example.com/%7Euser", "my_host.example.com", 443, "/%7Euser", "my_host.example.com"),
    ],
)
def test_a_url_is_split_once_into_the_host_port_and_target_masq_connects_to(url, host, port, target, authority):
    parsed = parse_url(url)

    assert (parsed.text, parsed.host, parsed.port, parsed.target, parsed.authority) == (
        url,
        host,
        port,
        target,
        authority,
    )


def test_an_address_host_is_given_as_an_address_and_a_name_is_not():
    assert parse_url("http://[::1]/").address == ipaddress.IPv6Address("::1")
    assert parse_url("http://10.0.0.1/").address == ipaddress.IPv4Address("10.0.0.1")
    assert parse_url("http://localhost/").address is None


def test_a_name_written_in_full_width_letters_is_read_as_browsers_read_it():
    assert parse_url("http://\uff4c\uff4f\uff43\uff41\uff4c\uff48\uff4f\uff53\uff54/").host == "localhost"


@pytest.mark.parametrize("url", UNSAFE_URLS)
def test_a_url_parsers_read_differently_or_with_control_characters_is_refused_saying_why(url):
    with pytest.raises(ValueError, match="^must "):
        parse_url(url)
