"""Reading the store's URL: one Redis server, or a Redis Cluster named by its nodes; and where the job queue goes."""

from __future__ import annotations

import pytest

from routing import settings
from routing.store import ClusterNodes, Store, cluster_nodes


@pytest.mark.parametrize(
    "url", ["redis://127.0.0.1:6379/11", "rediss://cache.example.com:6380/0", "unix:///run/redis.sock?db=2"]
)
def test_a_single_servers_url_names_no_cluster(url):
    assert cluster_nodes(url) is None


@pytest.mark.parametrize(
    "url, expected",
    [
        ("redis+cluster://10.0.0.1:7000", ClusterNodes((("10.0.0.1", 7000),))),
        (
            "redis+cluster://a.example.com:7000,b.example.com:7001, c.example.com:7002/",
            ClusterNodes((("a.example.com", 7000), ("b.example.com", 7001), ("c.example.com", 7002))),
        ),
        ("rediss+cluster://h:6379/0", ClusterNodes((("h", 6379),), tls=True)),
        ("REDISS+CLUSTER://[::1]:7000,[fd00::2]:7001", ClusterNodes((("::1", 7000), ("fd00::2", 7001)), tls=True)),
        ("redis+cluster://masq:p%40ss@h:7000", ClusterNodes((("h", 7000),), username="masq", password="p@ss")),
        ("redis+cluster://:secret@h:7000", ClusterNodes((("h", 7000),), password="secret")),
    ],
)
def test_a_cluster_url_names_its_nodes_tls_and_credentials(url, expected):
    assert cluster_nodes(url) == expected


@pytest.mark.parametrize(
    "url, said",
    [
        ("http://127.0.0.1:6379", "REDIS_URL must start with one of redis://, rediss://, unix://, redis+cluster://"),
        ("127.0.0.1:6379", "REDIS_URL must start with one of"),
        ("redis+clustr://h:7000", "REDIS_URL must start with one of"),
        ("redis+cluster://h:7000/3", "takes no database or options"),
        ("redis+cluster://h:7000?ssl_cert_reqs=none", "takes no database or options"),
        ("redis+cluster://h", "each node of a Redis Cluster URL is host:port, not 'h'"),
        ("redis+cluster://h:7000,", "each node of a Redis Cluster URL is host:port, not ''"),
        ("redis+cluster://h:70000", "host:port, not 'h:70000'"),
        ("redis+cluster://:7000", "host:port, not ':7000'"),
    ],
)
def test_a_bad_url_is_a_value_error_naming_redis_url(url, said):
    with pytest.raises(ValueError, match="^REDIS_URL") as raised:
        cluster_nodes(url)
    assert said in str(raised.value)


@pytest.mark.parametrize(
    "url",
    [
        "redis+cluster://u:s3cret@127.0.0.1",
        "redis+cluster://:s3cret@h:7000,host",
        "redis+cluster://u:s3cret@h:7000/3",
        "http://u:s3cret@h:6379",
        "redis+cluster://u:p@s3cret@h",
    ],
)
def test_a_bad_urls_error_shows_no_password(url):
    with pytest.raises(ValueError) as raised:
        cluster_nodes(url)
    assert "s3cret" not in str(raised.value) and ":***@" in str(raised.value)


def test_a_bad_single_server_url_is_told_as_redis_urls_fault():
    with pytest.raises(ValueError, match="^REDIS_URL cannot be read"):
        Store.connect("redis://127.0.0.1:notaport/0")


# -- where the job queue goes -----------------------------------------------------------------------------------
CLUSTER = "redis+cluster://127.0.0.1:7000,127.0.0.1:7001"


def test_the_queue_defaults_to_the_stores_own_redis():
    assert settings.from_environment({"REDIS_URL": "redis://h:6379/1"})["QUEUE_REDIS_URL"] == ""
    assert settings.queue_url(settings.from_environment({"REDIS_URL": "redis://h:6379/1"})) == ""


def test_a_cluster_store_needs_a_queue_of_its_own_on_a_plain_redis():
    config = settings.from_environment({"REDIS_URL": CLUSTER})
    assert config["QUEUE_REDIS_URL"] == ""
    with pytest.raises(ValueError, match="^REDIS_URL names a Redis Cluster.*set QUEUE_REDIS_URL to a plain Redis"):
        settings.queue_url(config)
    given = settings.from_environment({"REDIS_URL": CLUSTER, "QUEUE_REDIS_URL": "redis://q:6379/0"})
    assert settings.queue_url(given) == "redis://q:6379/0"


def test_a_queue_on_a_cluster_is_refused():
    config = settings.from_environment({"REDIS_URL": "redis://h:6379/1", "QUEUE_REDIS_URL": CLUSTER})
    with pytest.raises(ValueError, match="^QUEUE_REDIS_URL names a Redis Cluster"):
        settings.queue_url(config)


def test_a_store_handed_in_brings_its_queue_unless_it_is_a_cluster(store, monkeypatch):
    monkeypatch.setattr(Store, "is_cluster", property(lambda self: True))
    with pytest.raises(ValueError, match="the store is a Redis Cluster"):
        settings.queue_connection(store)
