from routing.clock import now_us
from routing.sessions import lifecycle
from tests.sessions_helpers import credential


def test_a_session_on_the_real_redis_gets_a_number_from_the_pool(real_store):
    from tests.conftest import make_tenant

    tenant = make_tenant(real_store)
    session = lifecycle.open_session(
        real_store, credential(tenant), {"first_party": "+14155551234", "second_party": "+14155554321"}, now_us()
    )
    assert session.virtual_number in tenant.numbers
