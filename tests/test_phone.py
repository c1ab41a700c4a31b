import pytest

from routing.errors import InvalidInput
from routing.phone import country_of, mask, to_e164, without_plus


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+14155550100", "+14155550100"),
        ("14155550100", "+14155550100"),
        ("  +14155550100  ", "+14155550100"),
        ("+1 (415) 555-0100", "+14155550100"),
        ("+1-415-555-0100", "+14155550100"),
        (14155550100, "+14155550100"),
        ("+442079460958", "+442079460958"),
        ("442079460958", "+442079460958"),
        ("919876543210", "+919876543210"),
        ("+2348012345622", "+2348012345622"),
    ],
)
def test_a_number_with_or_without_plus_comes_back_in_e164(raw, expected):
    assert to_e164(raw, "first_party") == expected


@pytest.mark.parametrize(
    "raw",
    [
        "abc",
        "+abcdefghijk",
        "+1415555FLOW",
        "+14155550100 ext. 5",
        "+1415",
        "12",
        "4155550100",
        "+99912345678",
        "",
        "   ",
        True,
        False,
        None,
        1.5,
        ["+14155550100"],
    ],
)
def test_anything_but_a_valid_number_is_invalid_input_naming_the_field(raw):
    with pytest.raises(InvalidInput) as caught:
        to_e164(raw, "second_party")
    assert caught.value.field == "second_party"
    assert caught.value.message.startswith("second_party: ")


@pytest.mark.parametrize(
    ("e164", "country"),
    [
        ("+14155550100", "US"),
        ("+442079460958", "GB"),
        ("+919876543210", "IN"),
        ("+2348012345622", "NG"),
        ("+61291234567", "AU"),
        ("+99912345678", "ZZ"),
    ],
)
def test_country_of_gives_the_iso_code_or_zz_when_unknown(e164, country):
    assert country_of(e164) == country


def test_without_plus_leaves_the_digits_as_plivo_shows_parties():
    assert without_plus("+919876543210") == "919876543210"


@pytest.mark.parametrize(
    ("e164", "masked"),
    [
        ("+2348011223322", "+2348011****22"),
        ("+14155550100", "+14155****00"),
        ("+1234567", "+1****67"),
        ("+123456", "****"),
        ("", "****"),
    ],
)
def test_mask_hides_the_middle_of_a_number_for_logs(e164, masked):
    assert mask(e164) == masked


def test_mask_never_shows_the_subscriber_digits():
    assert "5501" not in mask("+14155550100")
