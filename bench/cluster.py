"""Session create and the inbound webhook on a Redis Cluster of three masters, against one Redis server, in one run.

Two masq web processes are served as the Procfile serves them, one on each store (the cluster's job queue on the
single server, as the README deploys it), each with a tenant, its sessions and its free DIDs made the same way
(`webhook.prepare`, `create.prepare`). The loads take turns, single then cluster, webhook then create, ROUNDS
times, so that a burst of other work lands on both alike, and the best round of each is kept. The figures are the
cluster's requests per second over the single server's: what the cluster client costs a request (a tenant's
script runs on the node of its slot; the DID → tenant lookup may be on another).
"""

from __future__ import annotations

from pathlib import Path

from bench import create, webhook
from bench.common import Figure, Server, WrkResult, procfile_web, ratio
from routing.store import Store
from tests import redis_cluster

# Requests each store must have sessions (webhook) or free DIDs (create) for, per second of load: above what one
# masq web process answers on two cores, so that no round runs out.
RATE_BOUND = 3000
TARGET = 0.8
Call = tuple[str, str]  # a signed webhook: the form body and its X-Twilio-Signature


def run(workdir: Path, quick: bool, redis_url: str) -> list[Figure]:
    """Measure the webhook and the create on the single Redis at `redis_url` and on a cluster started here."""
    seconds, rounds = webhook.ROUND_SECONDS[quick], webhook.ROUNDS[quick]
    per_round = int(RATE_BOUND * seconds)
    folder = workdir / "cluster"
    folder.mkdir()
    with redis_cluster.running(folder) as cluster_url:
        stores = {"single": redis_url, "cluster": cluster_url}
        calls = {name: _calls(workdir, name, url, per_round, rounds) for name, url in stores.items()}  # (files, spare)
        creators = {name: create.prepare(url, per_round * rounds + 100) for name, url in stores.items()}
        nodes = _nodes(cluster_url, creators["cluster"].auth_id)
        env = {name: {**webhook.masq_env(url), "QUEUE_REDIS_URL": redis_url} for name, url in stores.items()}
        served: dict[str, list[WrkResult]] = {f"{kind} {name}": [] for kind in ("webhook", "create") for name in stores}
        with procfile_web(env["single"], workdir) as single, procfile_web(env["cluster"], workdir) as clustered:
            servers: dict[str, Server] = {"single": single, "cluster": clustered}
            for name, server in servers.items():
                webhook.warm_up(server.url, calls[name][1])
                creators[name].warm_up(server)
            for r in range(rounds):
                for name, server in servers.items():
                    served[f"webhook {name}"].append(webhook.load(server, calls[name][0][r], seconds, 16, stores[name]))
                    served[f"create {name}"].append(creators[name].load(server, seconds))
    return [
        _figure("inbound webhook", served["webhook cluster"], served["webhook single"], nodes),
        _figure("session create (Plivo API)", served["create cluster"], served["create single"], nodes),
    ]


def _calls(workdir: Path, name: str, redis_url: str, per_round: int, rounds: int) -> tuple[list[Path], list[Call]]:
    """Prepare a tenant with a session on each of enough DIDs on `redis_url`; return one file of signed calls per
    round, and SPARE calls for the warm-up."""
    calls = webhook.signed_calls(webhook.prepare(redis_url, per_round * rounds + webhook.SPARE))
    files = [
        webhook.write_calls(workdir / f"{name}-calls-{r}.txt", calls[r * per_round : (r + 1) * per_round])
        for r in range(rounds)
    ]
    return files, calls[rounds * per_round :]


def _nodes(cluster_url: str, auth_id: str) -> dict[str, object]:
    """Say where the creates' tenant is: its slot's node, among the cluster's primaries."""
    store = Store.connect(cluster_url)
    try:
        return {
            "primaries": sorted(node.name for node in store.redis.get_primaries()),
            "create_tenant_node": store.redis.get_node_from_key(store.keys.tenant_base(auth_id)).name,
        }
    finally:
        store.redis.close()


def _figure(what: str, cluster: list[WrkResult], single: list[WrkResult], nodes: dict[str, object]) -> Figure:
    best, floor = max(cluster, key=lambda run: run.rps), max(single, key=lambda run: run.rps)
    bad = sum(run.counts.get("non200", 0) + run.counts.get("unexpected", 0) for run in cluster)
    found = ratio(best.rps, floor.rps)
    return Figure(
        f"{what} on a 3-master Redis Cluster, requests/s at 16 connections (floor: one Redis server)",
        round(best.rps, 1),
        "req/s",
        f"≥ {TARGET}× single",
        found >= TARGET and bad == 0,
        round(floor.rps, 1),
        found,
        {
            "cluster_16_rounds": [run.as_dict() for run in cluster],
            "single_16_rounds": [run.as_dict() for run in single],
            "cluster_p99_ms": best.p99_ms,
            "single_p99_ms": floor.p99_ms,
            "answers_not_ok_on_the_cluster": bad,
            **nodes,
        },
    )
