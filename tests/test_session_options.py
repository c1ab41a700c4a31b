import pytest

from routing.errors import InvalidInput
from routing.sessions import options
from routing.sessions.options import CREATE_FIELDS, UPDATE_FIELDS, check_create, check_update
from tests.sessions_helpers import UNSAFE_URLS

PARTIES = {"first_party": "+14155550123", "second_party": "+14155550124"}
URL = "https://example.com/prompt.mp3"
# What a PIN field needs around it to be allowed at all.
PIN_AUTH = {
    "is_pin_authentication_required": True,
    "first_party_pin": "1234",
    "second_party_pin": "5678",
    "pin_prompt_play": URL,
}
PIN_GENERATED = {"is_pin_authentication_required": True, "generate_pin": True, "pin_prompt_play": URL}


def create(**fields):
    return check_create({**PARTIES, **fields})


def created_value(request, field):
    return request.session_expiry if field == "session_expiry" else request.fields[field]


# -- integer bounds ---------------------------------------------------------------------------------------
INTEGER_BOUNDS = [
    ("session_expiry", 60, 86400, {}),
    ("call_time_limit", 60, 86400, {}),
    ("ring_timeout", 15, 120, {}),
    ("pin_retry", 0, 5, {}),
    ("pin_retry_wait", 5, 10, {}),
    ("generate_pin_length", 4, 15, PIN_GENERATED),
    ("virtual_number_cooloff_period", 0, 3600, {}),
]


@pytest.mark.parametrize(("field", "low", "high", "context"), INTEGER_BOUNDS)
def test_an_integer_field_accepts_both_ends_of_its_range(field, low, high, context):
    assert created_value(create(**context, **{field: low}), field) == low
    assert created_value(create(**context, **{field: high}), field) == high


@pytest.mark.parametrize(("field", "low", "high", "context"), INTEGER_BOUNDS)
def test_an_integer_field_refuses_one_past_either_end_naming_the_field(field, low, high, context):
    for value in (low - 1, high + 1):
        with pytest.raises(InvalidInput, match=f"between {low} and {high}") as caught:
            create(**context, **{field: value})
        assert caught.value.field == field


@pytest.mark.parametrize(("given", "expected"), [("600", 600), ("0600", 600), (600.0, 600)])
def test_an_integer_may_arrive_as_a_string_of_digits_or_a_whole_float(given, expected):
    assert create(session_expiry=given).session_expiry == expected


@pytest.mark.parametrize("given", ["ten minutes", "600s", 600.5, True, [600], "", " 600 ", "600\n", "+600"])
def test_something_that_is_not_an_integer_is_refused(given):
    with pytest.raises(InvalidInput, match="must be an integer") as caught:
        create(ring_timeout=given)
    assert caught.value.field == "ring_timeout"


def test_session_expiry_defaults_to_an_hour_and_is_not_a_session_field():
    request = create()
    assert request.session_expiry == 3600
    assert "session_expiry" not in request.fields


# -- choices, methods, URLs, booleans, subaccount ---------------------------------------------------------
@pytest.mark.parametrize(("given", "expected"), [("mp3", "mp3"), ("wav", "wav"), ("WAV", "wav")])
def test_record_file_format_is_mp3_or_wav(given, expected):
    assert create(record_file_format=given).fields["record_file_format"] == expected


@pytest.mark.parametrize("given", ["ogg", "mp4", "", 3])
def test_any_other_record_file_format_is_refused(given):
    with pytest.raises(InvalidInput) as caught:
        create(record_file_format=given)
    assert caught.value.field == "record_file_format"


@pytest.mark.parametrize("field", ["callback_method", "recording_callback_method"])
@pytest.mark.parametrize(("given", "expected"), [("GET", "GET"), ("POST", "POST"), ("get", "GET"), ("post", "POST")])
def test_a_method_is_get_or_post(field, given, expected):
    assert create(**{field: given}).fields[field] == expected


@pytest.mark.parametrize("field", ["callback_method", "recording_callback_method"])
@pytest.mark.parametrize("given", ["PUT", "DELETE", "", 1])
def test_any_other_method_is_refused(field, given):
    with pytest.raises(InvalidInput, match="GET or POST") as caught:
        create(**{field: given})
    assert caught.value.field == field


URL_FIELDS = [
    ("recording_callback_url", {}),
    ("callback_url", {}),
    ("first_party_play_url", {}),
    ("second_party_play_url", {}),
    ("unknown_caller_play", {}),
    ("incorrect_pin_play", PIN_AUTH),
    ("pin_prompt_play", PIN_AUTH),
]


@pytest.mark.parametrize(("field", "context"), URL_FIELDS)
@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/a.xml",
        "https://example.com:8443/b?c=d",
        "https://B\u00fccher.example/prompt.mp3",
        "https://[2001:db8::1]/a.xml",
        "https://hooks.example.com/a%20b.xml#part",
    ],
)
def test_a_url_field_takes_http_and_https(field, context, url):
    assert create(**{**context, field: url}).fields[field] == url


@pytest.mark.parametrize(("field", "context"), URL_FIELDS)
@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/a.xml",
        "javascript:alert(1)",
        "example.com/a.xml",
        "https://",
        "/relative/path",
        42,
    ],
)
def test_a_url_field_refuses_anything_but_an_absolute_http_url(field, context, url):
    with pytest.raises(InvalidInput, match="http or https URL") as caught:
        create(**{**context, field: url})
    assert caught.value.field == field


@pytest.mark.parametrize(("field", "context"), URL_FIELDS)
@pytest.mark.parametrize("url", [*UNSAFE_URLS, "https://example.com/" + "a" * 2048])
def test_a_url_field_refuses_a_url_parsers_read_differently_or_with_control_characters(field, context, url):
    with pytest.raises(InvalidInput, match=f"^{field}: must") as caught:
        create(**{**context, field: url})
    assert caught.value.field == field


@pytest.mark.parametrize("field", ["callback_url", "recording_callback_url", "first_party_play_url"])
def test_an_update_refuses_the_same_urls_as_a_create(field):
    for url in UNSAFE_URLS:
        with pytest.raises(InvalidInput) as caught:
            check_update({field: url}, single_party_open=False)
        assert caught.value.field == field


def test_an_empty_url_clears_the_field():
    assert create(callback_url="").fields["callback_url"] == ""


BOOLEAN_FIELDS = [
    "record",
    "initiate_call_to_first_party",
    "geomatch",
    "create_session_with_single_party",
    "is_pin_authentication_required",
    "generate_pin",
    "force_pin_authentication",
]


@pytest.mark.parametrize(
    ("given", "expected"),
    [(True, True), (False, False), ("true", True), ("false", False), ("TRUE", True), ("False", False)],
)
def test_a_boolean_is_a_json_boolean_or_the_strings_true_and_false(given, expected):
    assert options.as_bool(given, "record") is expected


@pytest.mark.parametrize("field", BOOLEAN_FIELDS)
@pytest.mark.parametrize("given", ["yes", "1", 1, 0, "", [True]])
def test_anything_else_is_not_a_boolean(field, given):
    with pytest.raises(InvalidInput, match="true or false") as caught:
        create(**{field: given})
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("field", "given"), [("record", "true"), ("geomatch", "false"), ("initiate_call_to_first_party", True)]
)
def test_booleans_reach_the_request_as_bools(field, given):
    assert create(**{field: given}).fields[field] is (given in (True, "true"))


def test_a_subaccount_is_sa_and_eighteen_upper_case_letters_or_digits():
    assert create(subaccount="SA0123456789ABCDEFGH").fields["subaccount"] == "SA0123456789ABCDEFGH"


@pytest.mark.parametrize(
    "given",
    [
        "MA0123456789ABCDEFGH",
        "SA0123456789ABCDEFG",
        "SA0123456789ABCDEFGHI",
        "sa0123456789abcdefgh",
        "SA0123456789ABCDEF-H",
        12,
    ],
)
def test_anything_else_is_not_a_subaccount(given):
    with pytest.raises(InvalidInput, match="subaccount auth_id") as caught:
        create(subaccount=given)
    assert caught.value.field == "subaccount"


# -- parties ----------------------------------------------------------------------------------------------
def test_parties_are_kept_in_e164():
    request = check_create({"first_party": "14155550123", "second_party": "+1 415 555 0124"})
    assert request.fields["first_party"] == "+14155550123"
    assert request.fields["second_party"] == "+14155550124"


def test_first_party_is_always_required():
    with pytest.raises(InvalidInput, match="is required") as caught:
        check_create({"second_party": "+14155550124"})
    assert caught.value.field == "first_party"


@pytest.mark.parametrize("single", [None, False, "false"])
def test_second_party_is_required_unless_the_session_is_single_party(single):
    with pytest.raises(InvalidInput, match="create_session_with_single_party") as caught:
        check_create({"first_party": "+14155550123", "create_session_with_single_party": single})
    assert caught.value.field == "second_party"


@pytest.mark.parametrize("single", [True, "true"])
def test_a_single_party_session_needs_only_the_first_party(single):
    request = check_create({"first_party": "+14155550123", "create_session_with_single_party": single})
    assert request.fields["create_session_with_single_party"] is True
    assert "second_party" not in request.fields


@pytest.mark.parametrize("second", ["+14155550123", "14155550123", "+1 415 555 0123"])
def test_the_two_parties_must_differ(second):
    with pytest.raises(InvalidInput, match="must differ") as caught:
        check_create({"first_party": "+14155550123", "second_party": second})
    assert caught.value.field == "second_party"


def test_an_invalid_party_number_is_refused_naming_the_party():
    with pytest.raises(InvalidInput) as caught:
        check_create({"first_party": "+14155550123", "second_party": "not a number"})
    assert caught.value.field == "second_party"


# -- unknown and absent fields ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["colour", "session_uuid", "virtual_number", "First_Party"])
def test_an_unknown_field_is_refused_by_name(name):
    with pytest.raises(InvalidInput, match="is not a parameter") as caught:
        create(**{name: "x"})
    assert caught.value.field == name


def test_a_null_field_counts_as_absent():
    request = create(callback_url=None, record=None)
    assert "callback_url" not in request.fields
    assert "record" not in request.fields


def test_every_updatable_field_is_a_create_field():
    assert set(CREATE_FIELDS) >= set(UPDATE_FIELDS)


# -- PINs -------------------------------------------------------------------------------------------------
def test_pin_authentication_with_both_pins_and_a_prompt_is_accepted():
    fields = create(**PIN_AUTH).fields
    assert (fields["first_party_pin"], fields["second_party_pin"]) == ("1234", "5678")
    assert fields["pin_prompt_play"] == URL


@pytest.mark.parametrize(
    ("missing", "expected_field"),
    [
        ("first_party_pin", "first_party_pin"),
        ("second_party_pin", "second_party_pin"),
        ("pin_prompt_play", "pin_prompt_play"),
    ],
)
def test_pin_authentication_requires_both_pins_and_a_prompt(missing, expected_field):
    given = {name: value for name, value in PIN_AUTH.items() if name != missing}
    with pytest.raises(InvalidInput, match="is required when is_pin_authentication_required") as caught:
        create(**given)
    assert caught.value.field == expected_field


def test_generated_pins_still_need_a_prompt():
    with pytest.raises(InvalidInput) as caught:
        create(is_pin_authentication_required=True, generate_pin=True)
    assert caught.value.field == "pin_prompt_play"


@pytest.mark.parametrize(
    ("pin", "expected"), [("1234", "1234"), ("0007", "0007"), ("1" * 15, "1" * 15), (4321, "4321")]
)
def test_a_pin_is_four_to_fifteen_digits(pin, expected):
    assert create(**{**PIN_AUTH, "first_party_pin": pin}).fields["first_party_pin"] == expected


@pytest.mark.parametrize("pin", ["123", "1" * 16, "12a4", "12 34", "-1234", "", 123, True])
def test_anything_else_is_not_a_pin(pin):
    with pytest.raises(InvalidInput, match="4 to 15 digits") as caught:
        create(**{**PIN_AUTH, "second_party_pin": pin})
    assert caught.value.field == "second_party_pin"


def test_the_two_pins_must_differ():
    with pytest.raises(InvalidInput, match="must differ") as caught:
        create(**{**PIN_AUTH, "second_party_pin": "1234"})
    assert caught.value.field == "second_party_pin"


@pytest.mark.parametrize(
    ("length_given", "length"), [({}, 4), ({"generate_pin_length": 9}, 9), ({"generate_pin_length": "15"}, 15)]
)
def test_generate_pin_makes_two_distinct_pins_of_the_asked_length(length_given, length):
    fields = create(**PIN_GENERATED, **length_given).fields
    first, second = fields["first_party_pin"], fields["second_party_pin"]
    assert first.isdigit() and len(first) == length
    assert second.isdigit() and len(second) == length
    assert first != second


def test_generate_pin_draws_again_when_both_pins_come_out_the_same(monkeypatch):
    draws = iter(["1111", "1111", "1111", "2222"])
    monkeypatch.setattr(options, "random_pin", lambda length: next(draws))
    fields = create(**PIN_GENERATED).fields
    assert (fields["first_party_pin"], fields["second_party_pin"]) == ("1111", "2222")


@pytest.mark.parametrize("pin_field", ["first_party_pin", "second_party_pin"])
def test_given_pins_and_generate_pin_do_not_go_together(pin_field):
    with pytest.raises(InvalidInput, match="generate_pin is true") as caught:
        create(**PIN_GENERATED, **{pin_field: "1234"})
    assert caught.value.field == pin_field


def test_generate_pin_length_needs_generate_pin():
    with pytest.raises(InvalidInput, match="only when generate_pin") as caught:
        create(**PIN_AUTH, generate_pin_length=6)
    assert caught.value.field == "generate_pin_length"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("generate_pin", True),
        ("generate_pin_length", 6),
        ("first_party_pin", "1234"),
        ("second_party_pin", "5678"),
        ("pin_prompt_play", URL),
        ("incorrect_pin_play", URL),
        ("force_pin_authentication", True),
    ],
)
@pytest.mark.parametrize("pin_auth", [{}, {"is_pin_authentication_required": False}])
def test_a_pin_field_without_pin_authentication_is_refused_by_name(field, value, pin_auth):
    with pytest.raises(InvalidInput, match="only when is_pin_authentication_required") as caught:
        create(**pin_auth, **{field: value})
    assert caught.value.field == field


@pytest.mark.parametrize("field", ["generate_pin", "force_pin_authentication"])
def test_a_pin_switch_left_off_is_fine_without_pin_authentication(field):
    assert create(**{field: False}).fields[field] is False


# -- updates ----------------------------------------------------------------------------------------------
NOT_UPDATABLE = sorted(set(CREATE_FIELDS) - set(UPDATE_FIELDS))


@pytest.mark.parametrize("field", NOT_UPDATABLE)
@pytest.mark.parametrize("single_party_open", [True, False])
def test_a_field_fixed_at_creation_cannot_be_updated_and_is_named(field, single_party_open):
    with pytest.raises(InvalidInput, match="cannot be updated") as caught:
        check_update({"callback_url": URL, field: "anything"}, single_party_open)
    assert caught.value.field == field


def test_the_fields_fixed_at_creation_include_pins_geomatch_and_cooloff():
    for field in (
        "geomatch",
        "first_party_pin",
        "is_pin_authentication_required",
        "virtual_number_cooloff_period",
        "subaccount",
        "create_session_with_single_party",
    ):
        assert field in NOT_UPDATABLE


def test_an_unknown_field_in_an_update_is_refused_by_name():
    with pytest.raises(InvalidInput, match="is not a parameter") as caught:
        check_update({"colour": "red"}, single_party_open=False)
    assert caught.value.field == "colour"


@pytest.mark.parametrize("party", ["first_party", "second_party"])
def test_parties_can_be_updated_only_on_a_single_party_session(party):
    with pytest.raises(InvalidInput, match="single party") as caught:
        check_update({party: "+14155550199"}, single_party_open=False)
    assert caught.value.field == party


def test_a_single_party_session_takes_its_second_party_in_an_update():
    changes, expiry = check_update({"second_party": "14155550199"}, single_party_open=True)
    assert changes == {"second_party": "+14155550199"}
    assert expiry is None


@pytest.mark.parametrize("raw", [{}, {"callback_url": None}, {"callback_url": None, "record": None}])
def test_an_update_with_nothing_in_it_is_refused(raw):
    with pytest.raises(InvalidInput, match="nothing to update") as caught:
        check_update(raw, single_party_open=False)
    assert caught.value.field == "session"


def test_session_expiry_comes_back_apart_from_the_changes():
    changes, expiry = check_update({"session_expiry": "600", "record": "true"}, single_party_open=False)
    assert changes == {"record": True}
    assert expiry == 600


def test_an_update_of_session_expiry_alone_is_not_empty():
    assert check_update({"session_expiry": 120}, single_party_open=False) == ({}, 120)


@pytest.mark.parametrize(
    ("field", "value"),
    [("session_expiry", 59), ("ring_timeout", 121), ("callback_method", "PUT"), ("callback_url", "ftp://x")],
)
def test_an_update_is_held_to_the_same_bounds_as_a_create(field, value):
    with pytest.raises(InvalidInput) as caught:
        check_update({field: value}, single_party_open=False)
    assert caught.value.field == field


# -- what Plivo's Go SDK sends (plivo-go, maskingsession.go) -------------------------------------------------
def test_the_go_sdks_spelling_of_single_party_is_read_as_plivos():
    request = check_create({"first_party": "+14155551234", "create_session_with_single_Party": True})

    assert request.fields["create_session_with_single_party"] is True and "second_party" not in request.fields
    with pytest.raises(InvalidInput) as refused:  # an update names it as Plivo documents it
        check_update({"create_session_with_single_Party": True}, single_party_open=True)
    assert refused.value.field == "create_session_with_single_party"


def test_single_party_given_under_both_spellings_is_refused():
    raw = {"first_party": "+14155551234", "create_session_with_single_party": True}
    with pytest.raises(InvalidInput) as refused:
        check_create({**raw, "create_session_with_single_Party": True})
    assert refused.value.field == "create_session_with_single_party"


def test_a_session_expiry_of_zero_is_the_go_sdks_unset_one_on_create():
    request = check_create({"first_party": "+14155551234", "second_party": "+14155554321", "session_expiry": 0})

    assert request.session_expiry == options.DEFAULT_SESSION_EXPIRY
    for refused in ("0", 0.5, 59):
        with pytest.raises(InvalidInput):
            check_create({"first_party": "+14155551234", "second_party": "+14155554321", "session_expiry": refused})
