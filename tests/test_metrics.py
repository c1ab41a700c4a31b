import pytest
from prometheus_client.parser import text_string_to_metric_families

from app import create_app
from routing import metrics, outbox, settings
from routing.clock import US, now_us
from routing.sessions import lifecycle
from tests.conftest import changed, make_tenant, redis_commands
from tests.sessions_helpers import credential
from tests.twilio_helpers import call
from workers.deliveries import Sender
from workers.dispatcher import Dispatcher

PARTIES = {"first_party": "+14155551234", "second_party": "+14155554321"}
TOKEN = "metrics-" + "0123456789abcdef" * 3
BEARER = {"Authorization": f"Bearer {TOKEN}"}
OTHER_NUMBERS = ["+14155550110", "+14155550111"]


@pytest.fixture
def app_config():
    return {"MASQ_METRICS_TOKEN": TOKEN}


def scrape(client, store=None):
    """Return the samples of a scrape with the token, after summing the figures as the worker does (with `store`)."""
    if store is not None:
        metrics.gather(store, now_us())
    response = client.get("/metrics", headers=BEARER)
    assert response.status_code == 200 and response.mimetype == "text/plain"
    samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


# -- who may read them --------------------------------------------------------------------------------------
def test_without_the_token_the_metrics_are_refused_with_a_bearer_challenge(client, store, tenant):
    metrics.gather(store, now_us())

    response = client.get("/metrics")

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="masq metrics"'
    assert set(response.get_json()) == {"api_id", "error"}
    assert tenant.auth_id not in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "authorization",
    [f"Bearer {changed(TOKEN)}", f"Bearer {TOKEN[:-1]}", f"Bearer {TOKEN}x", "Bearer ", f"bearer  {changed(TOKEN)}"],
)
def test_a_token_that_is_not_the_one_is_refused_as_invalid(client, authorization):
    response = client.get("/metrics", headers={"Authorization": authorization})

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="masq metrics", error="invalid_token"'
    assert "error" in response.get_json()


def test_a_tenants_credentials_are_not_the_metrics_token(client, tenant):
    basic = client.get("/metrics", auth=tenant.basic)
    api_key = client.get("/metrics", headers={"X-API-Key": tenant.api_key})

    assert basic.status_code == api_key.status_code == 401


def test_the_scheme_is_read_as_any_case_as_http_asks(client):
    assert client.get("/metrics", headers={"Authorization": f"bEaReR {TOKEN}"}).status_code == 200


def test_with_no_token_set_the_metrics_answer_no_one(make_app):
    client = make_app(MASQ_METRICS_TOKEN="").test_client()

    for headers in ({}, {"Authorization": "Bearer "}, {"Authorization": f"Bearer {TOKEN}"}):
        response = client.get("/metrics", headers=headers)
        assert response.status_code == 403, headers
        assert "MASQ_METRICS_TOKEN" in response.get_json()["error"]


def test_the_token_setting_is_read_from_the_environment_without_surrounding_space():
    assert settings.from_environment({"MASQ_METRICS_TOKEN": f" {TOKEN}\n"})["MASQ_METRICS_TOKEN"] == TOKEN
    assert settings.from_environment({})["MASQ_METRICS_TOKEN"] == ""


@pytest.mark.parametrize("token", ["short", "x" * 31, "has space " + "x" * 32, "é" * 40, "x" * 513])
def test_a_token_too_short_to_be_safe_or_not_sendable_stops_the_app(store, token):
    with pytest.raises(ValueError, match="MASQ_METRICS_TOKEN"):
        create_app({"STORE": store, "MASQ_METRICS_TOKEN": token})


# -- what they say --------------------------------------------------------------------------------------------
def test_no_figure_names_a_tenant(client, store, tenant):
    lifecycle.open_session(store, credential(tenant), PARTIES, now_us())

    metrics.gather(store, now_us())
    text = client.get("/metrics", headers=BEARER).get_data(as_text=True)

    assert "masq_sessions_total" in text
    assert tenant.auth_id not in text and "acme" not in text and "tenant=" not in text


def test_sessions_are_counted_by_what_happened_to_them_across_tenants(client, store, tenant):
    other = make_tenant(store, OTHER_NUMBERS, "other")
    one = lifecycle.open_session(store, credential(tenant), PARTIES, now_us())
    lifecycle.open_session(store, credential(tenant), {**PARTIES, "session_expiry": 60}, now_us() - 61 * US)
    lifecycle.open_session(store, credential(other), PARTIES, now_us())
    lifecycle.end_session(store, tenant.auth_id, one.session_uuid, now_us())
    lifecycle.reclaim_expired(store, tenant.auth_id, now_us())

    samples = scrape(client, store)

    assert value(samples, "masq_sessions_total", event="opened") == 3
    assert value(samples, "masq_sessions_total", event="completed") == 1
    assert value(samples, "masq_sessions_total", event="expired") == 1
    assert value(samples, "masq_tenants") == 2


def test_an_exhausted_pool_is_counted_as_a_refusal(client, store):
    tenant = make_tenant(store, ["+14155550100"])
    lifecycle.open_session(store, credential(tenant), PARTIES, now_us())
    client.post(tenant.plivo_base, json=PARTIES, auth=tenant.basic)

    assert value(scrape(client, store), "masq_sessions_total", event="refused") == 1


def test_pool_sizes_are_summed_by_state(client, store, tenant):
    make_tenant(store, OTHER_NUMBERS, "other")
    lifecycle.open_session(store, credential(tenant), PARTIES, now_us())

    samples = scrape(client, store)

    assert value(samples, "masq_pool_numbers", state="in_use") == 1
    assert value(samples, "masq_pool_numbers", state="free") == 4
    assert value(samples, "masq_pool_numbers", state="suspended") == 0


def test_callback_deliveries_are_counted_by_outcome_with_what_is_still_owed(client, store, tenant):
    stream = store.keys.events(tenant.auth_id)
    for seq in "123":
        store.redis.xadd(stream, {"EventName": "SessionTimeout", "SequenceNumber": seq})
    first, second, third = outbox.claim(store, tenant.auth_id, "w", now_us())
    outbox.delivered(store, tenant.auth_id, [first])
    outbox.failed(store, tenant.auth_id, second, "HTTP 500", now_us())
    outbox.failed(store, tenant.auth_id, third, "bad URL", now_us(), retry=False)

    samples = scrape(client, store)

    for outcome, count in (("delivered", 1), ("failed", 1), ("dead", 1)):
        assert value(samples, "masq_callback_deliveries_total", outcome=outcome) == count
    assert value(samples, "masq_callbacks_owed", state="retrying") == 1
    assert value(samples, "masq_callbacks_owed", state="dead") == 1


def test_the_figures_say_when_they_were_summed(client, store, tenant):
    at = now_us()
    metrics.gather(store, at)

    assert value(scrape(client), "masq_figures_timestamp_seconds") == at / US


def test_before_any_sum_a_scrape_shows_only_what_the_web_process_knows(client, app):
    samples = scrape(client)

    assert not any(name.startswith(("masq_sessions", "masq_pool", "masq_tenants")) for name, _ in samples)
    assert value(samples, "masq_queue_jobs", queue=app.extensions["masq.queue"].name) == 0


def test_the_worker_sums_the_figures_and_one_worker_per_period_does(store, tenant):
    lifecycle.open_session(store, credential(tenant), PARTIES, now_us())
    workers = [Dispatcher(store, Sender(threads=1)) for _ in range(2)]

    for worker in workers:
        worker.tick()
        worker.sender.close()

    figures = metrics.read(store)
    assert figures is not None and figures.counters["sessions_opened"] == 1 and figures.tenants == 1
    assert metrics.gather_if_due(store, now_us()) is None  # the first worker's lease still holds
    assert store.redis.pttl(store.keys.metrics_lease()) <= metrics.EVERY // 1000


def test_webhook_latency_is_measured_per_step(client, store, tenant):
    session = lifecycle.open_session(store, credential(tenant), PARTIES, now_us())
    call(client, "+14155551234", session.virtual_number)

    samples = scrape(client)

    assert value(samples, "masq_webhook_seconds_count", step="voice.inbound") == 1
    assert value(samples, "masq_webhook_seconds_bucket", step="voice.inbound", le="+Inf") == 1


def test_the_queue_depth_is_reported(client, app):
    app.extensions["masq.queue"].enqueue("workers.outbound.call_first_party", "MA", "x")

    assert value(scrape(client), "masq_queue_jobs", queue=app.extensions["masq.queue"].name) == 1


# -- what a scrape costs ----------------------------------------------------------------------------------------
def test_a_scrape_costs_the_same_few_redis_commands_for_1_and_for_50_tenants(real_store):
    client = create_app({"STORE": real_store, "TESTING": True, "MASQ_METRICS_TOKEN": TOKEN}).test_client()
    costs = {}
    for tenant_count in (1, 50):
        while (made := real_store.redis.scard(real_store.keys.tenants())) < tenant_count:
            tenant = make_tenant(real_store, [f"+1415555{100 + made:04d}"], name=f"tenant-{made}")
            lifecycle.open_session(real_store, credential(tenant), PARTIES, now_us())
        metrics.gather(real_store, now_us())
        client.get("/metrics", headers=BEARER)  # the clients' connections are made before counting
        response, costs[tenant_count] = redis_commands(real_store, lambda: client.get("/metrics", headers=BEARER))
        text = response.get_data(as_text=True)
        assert f"masq_tenants {tenant_count}.0" in text
        assert f'masq_sessions_total{{event="opened"}} {tenant_count}.0' in text

    assert len(costs[1]) == len(costs[50]) <= 2, costs
