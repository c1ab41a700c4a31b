from prometheus_client.parser import text_string_to_metric_families

from routing import outbox
from routing.clock import US, now_us
from routing.sessions import lifecycle
from tests.conftest import make_tenant
from tests.sessions_helpers import credential
from tests.twilio_helpers import call

PARTIES = {"first_party": "+14155551234", "second_party": "+14155554321"}


def scrape(client):
    response = client.get("/metrics")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_sessions_are_counted_by_what_happened_to_them(client, store, tenant):
    one = lifecycle.open_session(store, credential(tenant), PARTIES, now_us())
    lifecycle.open_session(store, credential(tenant), {**PARTIES, "session_expiry": 60}, now_us() - 61 * US)
    lifecycle.end_session(store, tenant.auth_id, one.session_uuid, now_us())

    samples = scrape(client)

    assert value(samples, "masq_sessions_total", tenant=tenant.auth_id, event="opened") == 2
    assert value(samples, "masq_sessions_total", tenant=tenant.auth_id, event="completed") == 1
    assert value(samples, "masq_sessions_total", tenant=tenant.auth_id, event="expired") == 1


def test_an_exhausted_pool_is_counted_as_a_refusal(client, store):
    tenant = make_tenant(store, ["+14155550100"])
    lifecycle.open_session(store, credential(tenant), PARTIES, now_us())
    client.post(tenant.plivo_base, json=PARTIES, auth=tenant.basic)

    assert value(scrape(client), "masq_sessions_total", tenant=tenant.auth_id, event="refused") == 1


def test_pool_sizes_are_reported_per_tenant_and_state(client, store, tenant):
    lifecycle.open_session(store, credential(tenant), PARTIES, now_us())

    samples = scrape(client)

    assert value(samples, "masq_pool_numbers", tenant=tenant.auth_id, state="in_use") == 1
    assert value(samples, "masq_pool_numbers", tenant=tenant.auth_id, state="free") == 2
    assert value(samples, "masq_pool_numbers", tenant=tenant.auth_id, state="suspended") == 0


def test_callback_deliveries_are_counted_by_outcome_with_what_is_still_owed(client, store, tenant):
    stream = store.keys.events(tenant.auth_id)
    for seq in "123":
        store.redis.xadd(stream, {"EventName": "SessionTimeout", "SequenceNumber": seq})
    first, second, third = outbox.claim(store, tenant.auth_id, "w", now_us())
    outbox.delivered(store, tenant.auth_id, [first])
    outbox.failed(store, tenant.auth_id, second, "HTTP 500", now_us())
    outbox.failed(store, tenant.auth_id, third, "bad URL", now_us(), retry=False)

    samples = scrape(client)

    for outcome, count in (("delivered", 1), ("failed", 1), ("dead", 1)):
        assert value(samples, "masq_callback_deliveries_total", tenant=tenant.auth_id, outcome=outcome) == count
    assert value(samples, "masq_callbacks_owed", tenant=tenant.auth_id, state="retrying") == 1
    assert value(samples, "masq_callbacks_owed", tenant=tenant.auth_id, state="dead") == 1


def test_webhook_latency_is_measured_per_step(client, store, tenant):
    session = lifecycle.open_session(store, credential(tenant), PARTIES, now_us())
    call(client, "+14155551234", session.virtual_number)

    samples = scrape(client)

    assert value(samples, "masq_webhook_seconds_count", step="voice.inbound") == 1
    assert value(samples, "masq_webhook_seconds_bucket", step="voice.inbound", le="+Inf") == 1


def test_the_queue_depth_is_reported(client, app):
    app.extensions["masq.queue"].enqueue("workers.outbound.call_first_party", "MA", "x")

    assert value(scrape(client), "masq_queue_jobs", queue=app.extensions["masq.queue"].name) == 1
