"""The identifier classifier and serial patterns: pure functions, no database."""

from __future__ import annotations

import time

import pytest

from app.catalog.identifiers import (
    MAX_SERIAL_PATTERN_LENGTH,
    Classification,
    article,
    classify,
    fits_serial_pattern,
    looks_like,
    luhn_check_digit,
    normalise,
    noun,
    problem,
    search_key,
    serial_pattern_problem,
)


def luhn(body: str) -> str:
    return body + luhn_check_digit(body)


IMEI = luhn("35209900176148")  # 15 digits
ICCID_19 = luhn("890126012345678901")
ICCID_20 = luhn("8901260123456789012")
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def wrong_last_digit(value: str) -> str:
    return value[:-1] + str((int(value[-1]) + 1) % 10)


# --- IMEI --------------------------------------------------------------------------------


def test_a_valid_imei_is_an_imei():
    result = classify(IMEI)
    assert (result.kind, result.normalized, result.valid) == ("imei", IMEI, True)
    assert result.recordable_as == ("imei",)
    assert result.description == "an IMEI"


@pytest.mark.parametrize(
    "spelling",
    [f"  {IMEI}\t", f"{IMEI[:2]} {IMEI[2:8]} {IMEI[8:14]} {IMEI[14]}", f"{IMEI[:8]}-{IMEI[8:]}"],
)
def test_an_imei_is_trimmed_and_its_spaces_and_dashes_dropped(spelling):
    result = classify(spelling)
    assert (result.kind, result.normalized, result.valid) == ("imei", IMEI, True)


def test_an_imei_with_a_wrong_check_digit_is_an_invalid_imei_never_a_serial():
    result = classify(wrong_last_digit(IMEI))
    assert result.kind == "imei"
    assert not result.valid
    assert "check digit" in result.problem
    assert result.recordable_as == ()
    assert not result.fits("serial")


@pytest.mark.parametrize("length", [14, 16, 17])
def test_a_number_one_or_two_digits_off_an_imei_is_an_invalid_imei(length):
    result = classify("35" + "1" * (length - 2))
    assert result.kind == "imei"
    assert result.problem == "An IMEI is 15 digits."


@pytest.mark.parametrize("digits", [ARABIC_INDIC, FULL_WIDTH])
def test_non_ascii_digits_are_never_digits(digits):
    result = classify(IMEI.translate(digits))
    assert result.kind == "unreadable"
    assert not result.valid
    assert result.recordable_as == ()


def test_one_non_ascii_digit_in_an_imei_makes_it_unreadable():
    value = IMEI[:7] + IMEI[7].translate(ARABIC_INDIC) + IMEI[8:]
    assert classify(value).kind == "unreadable"


# --- ICCID -------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [ICCID_19, ICCID_20])
def test_a_valid_iccid_is_an_iccid_and_a_sim_card_number(value):
    result = classify(value)
    assert (result.kind, result.normalized, result.valid) == ("iccid", value, True)
    assert result.fits("iccid") and result.fits("simCardNumber")
    assert not result.fits("serial")


def test_an_iccid_with_one_wrong_digit_is_an_invalid_iccid_never_a_serial():
    result = classify(wrong_last_digit(ICCID_19))
    assert result.kind == "iccid"
    assert "check digit" in result.problem
    assert not result.fits("serial")


@pytest.mark.parametrize("length", [18, 21])
def test_a_luhn_valid_iccid_of_18_or_21_digits_is_refused(length):
    value = luhn("8901260" + "3" * (length - 8))
    assert len(value) == length
    result = classify(value)
    assert result.kind == "iccid"
    assert result.problem == "An ICCID is 19 or 20 digits starting with 89."
    assert result.recordable_as == ()


def test_a_spaced_iccid_is_normalised():
    spaced = " ".join(ICCID_20[i : i + 4] for i in range(0, 20, 4))
    assert classify(spaced).normalized == ICCID_20


def test_an_iccid_in_arabic_indic_digits_is_unreadable():
    assert classify(ICCID_19.translate(ARABIC_INDIC)).kind == "unreadable"


# --- MAC addresses -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "spelling",
    [
        "00:1C:05:4A:2B:3C",
        "00:1c:05:4a:2b:3c",
        "00-1C-05-4A-2B-3C",
        "001C054A2B3C",
        "001c054a2b3c",
        "001C.054A.2B3C",
        "  00:1c:05:4A:2b:3C ",
    ],
)
def test_a_mac_address_in_any_spelling_is_normalised(spelling):
    result = classify(spelling)
    assert (result.kind, result.normalized, result.valid) == (
        "macAddress",
        "00:1C:05:4A:2B:3C",
        True,
    )
    assert not result.fits("serial")


@pytest.mark.parametrize(
    "value", ["00:1C:05:4A:2B", "00:1C:05:4A:2B:3C:4D", "00:1C:05:4A:2B:3G", "00-1C-05-4A-2B"]
)
def test_a_near_miss_mac_address_is_an_invalid_mac_never_a_serial(value):
    result = classify(value)
    assert result.kind == "macAddress"
    assert "12 hexadecimal digits" in result.problem
    assert result.recordable_as == ()


# --- Serial numbers ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, normalized",
    [
        ("BP7450-SCAN0002", "BP7450-SCAN0002"),
        ("bp7450-scan0002", "BP7450-SCAN0002"),
        ("  SN-0001  ", "SN-0001"),
        ("12345678", "12345678"),
        ("1234-5678", "1234-5678"),
    ],
)
def test_other_letters_digits_and_dashes_are_a_serial(value, normalized):
    result = classify(value)
    assert (result.kind, result.normalized, result.valid) == ("serial", normalized, True)
    assert result.recordable_as == ("serial",)


@pytest.mark.parametrize(
    "value",
    ["", "   ", "abc", "SN 0001", "SN_0001", "BP7450-SCAN٠٠٠٢", "ＢＰ7450", "ﬁ-1234", "A" * 41],
)
def test_what_is_no_identifier_is_unreadable(value):
    result = classify(value)
    assert result.kind == "unreadable"
    assert result.problem
    assert result.recordable_as == ()


def test_a_lowercase_ligature_does_not_become_ascii_letters():
    # "ﬁ".upper() is "FI": upper-casing before the ASCII check would let it through.
    assert classify("ﬁ1234").kind == "unreadable"


def test_twelve_digits_read_as_a_mac_address():
    """Twelve hex digits are a MAC address, even all decimal: never taken for a serial."""
    assert classify("001122334455").kind == "macAddress"


def test_two_scans_run_together_are_not_an_identifier_of_the_order():
    # Defect 1 of issue 9: a refused scan left in the box, then the next one appended.
    result = classify("BP7450-CLEAN01BP7450-SCAN0002")
    assert result.kind == "serial"  # it is serial-shaped: the item's pattern refuses it
    assert not fits_serial_pattern(r"BP7450-[A-Z0-9]{4,8}", result.normalized)


def test_an_imei_whose_check_digit_is_0_is_valid():
    imei = luhn("35209900176144")
    assert imei[-1] == "0"
    assert classify(imei) == Classification("imei", imei)


# An ICCID is 89 then 14 to 20 more digits (valid or not); an IMEI 14 to 17 digits; any other
# run of 4 to 40 digits is a serial number.
@pytest.mark.parametrize(
    "value, kind",
    [
        ("89" + "1" * 14, "iccid"),  # 16 digits starting with 89: an ICCID, not an IMEI
        ("89" + "1" * 20, "iccid"),  # 22 digits
        ("89" + "1" * 21, "serial"),  # 23 digits
        ("35" + "1" * 16, "serial"),  # 18 digits not starting with 89
    ],
)
def test_the_number_of_digits_says_whether_a_number_is_an_iccid_an_imei_or_a_serial(value, kind):
    assert classify(value).kind == kind


def test_what_is_no_identifier_is_kept_as_typed_with_the_reason():
    unreadable = "unreadable"
    assert classify("  ") == Classification(unreadable, "", "Scan or type the device identifier.")
    not_ascii = "A device identifier is letters A–Z, digits 0–9 and dashes only."
    assert classify("sn-é1") == Classification(unreadable, "sn-é1", not_ascii)
    # Longer than a scan can be (64): refused before it is read at all.
    assert classify("a" * 65) == Classification(unreadable, "a" * 65, not_ascii)
    # Up to 64 characters it is read, in capitals, and is too long for a serial.
    assert classify("a" * 64) == Classification(
        unreadable,
        "A" * 64,
        "This is not a device identifier: a serial number is 4 to 40 letters, digits or dashes.",
    )


def test_a_value_of_a_known_type_is_normalised_for_that_type():
    assert normalise("imei", f" {IMEI[:8]}-{IMEI[8:]} ") == IMEI
    assert normalise("iccid", f"{ICCID_19[:9]} {ICCID_19[9:]}") == ICCID_19
    assert normalise("simCardNumber", f"{ICCID_20[:10]}-{ICCID_20[10:]}") == ICCID_20
    assert normalise("macAddress", "001c.054a.2b3c") == "00:1C:05:4A:2B:3C"
    assert normalise("serial", " bp7450-scan0002 ") == "BP7450-SCAN0002"
    assert normalise("serial", "sné-1") == "sné-1"  # not ASCII: kept, and refused as a serial


def test_a_value_of_a_known_type_is_refused_with_that_types_rule():
    assert problem("imei", IMEI) is None
    assert problem("imei", wrong_last_digit(IMEI)) == (
        "This IMEI's check digit is wrong; check for a mistyped digit."
    )
    assert problem("iccid", ICCID_19) is None
    assert problem("simCardNumber", ICCID_20) is None
    assert problem("simCardNumber", "8901") == (
        "A SIM card number is 19 or 20 digits starting with 89."
    )
    assert problem("iccid", wrong_last_digit(ICCID_19)) == (
        "The check digit is wrong; check for a mistyped digit."
    )
    assert problem("macAddress", "00:1C:05:4A:2B") == (
        "A MAC address is 12 hexadecimal digits, like 00:1C:05:4A:2B:3C."
    )
    assert problem("serial", "SN-1") is None
    serial_rule = "A serial number is 4 to 40 letters, digits or dashes."
    assert problem("serial", "SN1") == serial_rule
    assert problem("serial", "SNÉ-1") == serial_rule
    assert problem("phoneNumber", "SN-1") == "Unknown identifier type phoneNumber."
    assert looks_like("imei", f"{IMEI[:8]} {IMEI[8:]}")
    assert not looks_like("imei", wrong_last_digit(IMEI))


def test_an_identifier_is_searched_by_its_letters_and_digits_in_capitals():
    assert search_key("bp7450-0131 7086") == "BP745001317086"
    assert search_key("00:1c:05:4a:2b:3c") == "001C054A2B3C"
    assert search_key(None) == ""


def test_what_the_packer_records_is_named_with_its_article_and_number():
    assert [noun("imei", 1), noun("imei", 2), noun("serial", 0)] == [
        "IMEI",
        "IMEIs",
        "serial numbers",
    ]
    words = ["IMEI", "ICCID", "MAC address", "SIM card number", "serial number"]
    assert [article(word) for word in words] == ["an", "an", "an", "an", "a"]


# --- Serial patterns ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "pattern, serial, fits",
    [
        (r"BP7450-[A-Z0-9]{4,8}", "BP7450-SCAN0002", True),
        (r"BP7450-[A-Z0-9]{4,8}", "BP7450-SC01", True),
        (r"BP7450-[A-Z0-9]{4,8}", "BP7450-SCAN00021", False),
        (r"BP7450-[A-Z0-9]{4,8}", "XBP7450-SCAN0002", False),  # matched in full
        (r"BP7450-[A-Z0-9]{4,8}", "BP7450-SCAN0002BP7450", False),
        (r"bp7450-\d{4}", "BP7450-1234", True),  # letters match either case
        (r"\d{6}", "١٢٣٤٥٦", False),  # \d is ASCII digits only
        (r"BP7450-.*", "BP7450-ANYTHING", True),  # a prefix
        (r"(SN|GS)-[0-9]+", "GS-12", True),
        (r"(SN|GS)-[0-9]+", "XS-12", False),
        (None, "ANYTHING", True),
        ("", "ANYTHING", True),
    ],
)
def test_a_serial_fits_its_items_pattern_in_full(pattern, serial, fits):
    assert fits_serial_pattern(pattern, serial) is fits


@pytest.mark.parametrize("pattern", [r"BP7450-[A-Z0-9]{4,8}", r"(SN|GS)-\d+", r"^TH-\d{6}$", "."])
def test_simple_patterns_may_be_saved(pattern):
    assert serial_pattern_problem(pattern) is None


@pytest.mark.parametrize(
    "pattern, message",
    [
        ("BP7450-[0-9", "not a valid regular expression"),
        ("(unclosed", "not a valid regular expression"),
        ("*", "not a valid regular expression"),
        ("(a+)+b", "Repeat only single characters"),
        ("(a|aa)*", "Repeat only single characters"),
        (r"(\d{2})+", "Repeat only single characters"),
        (r"\d*\d*\d*\d*x", "At most 3 repeats"),
        (r"(?=A)A", "Use only"),
        (r"(A)\1", "Use only"),
        ("A" * (MAX_SERIAL_PATTERN_LENGTH + 1), "at most"),
        ("BP٧٤٥٠", "ASCII"),
    ],
)
def test_a_bad_pattern_is_refused_with_a_reason(pattern, message):
    assert message in serial_pattern_problem(pattern)
    assert not fits_serial_pattern(pattern, "A")


def test_the_slowest_pattern_allowed_is_still_fast():
    pattern = r"[A-Z0-9]*[A-Z0-9]*[A-Z0-9]*!"
    assert serial_pattern_problem(pattern) is None
    started = time.perf_counter()
    assert not fits_serial_pattern(pattern, "A" * 40)
    assert time.perf_counter() - started < 0.5


def test_a_serial_longer_than_any_serial_fits_no_pattern():
    assert not fits_serial_pattern(".*", "A" * 41)


@pytest.mark.parametrize(
    "pattern",
    [
        "(A|A|A)" * 14,  # 3^14 ways to try before failing
        "(A|A|A)" * 12 + "A*A*A*",  # alternatives times repeats: minutes
        "(A|AA|A)" * 12,
    ],
)
def test_a_pattern_with_too_many_ways_to_match_is_refused(pattern):
    assert len(pattern) <= MAX_SERIAL_PATTERN_LENGTH
    assert "too many ways" in serial_pattern_problem(pattern)
    started = time.perf_counter()
    assert not fits_serial_pattern(pattern, "A" * 39 + "B")
    assert time.perf_counter() - started < 0.5


def test_a_serial_of_the_longest_length_may_fit_a_pattern():
    assert fits_serial_pattern(".*", "A" * 40)


def test_a_pattern_of_the_longest_length_may_be_saved():
    assert serial_pattern_problem("A" * MAX_SERIAL_PATTERN_LENGTH) is None


@pytest.mark.parametrize(
    "pattern, message",
    [
        ("BP٧٤٥٠", "A serial pattern uses ASCII characters only."),
        ("A{99999999999}", "This regular expression is too deeply nested or too large."),
        (
            r"\d*\d*\d*\d*x",
            "At most 3 repeats of varying length (*, +, ?, {2,5}); fix the others to a count, "
            "like {6}.",
        ),
        ("(?=A)A", "Use only letters, digits, character classes, groups, | and repeats."),
        ("(AB)+", "Repeat only single characters or classes, like [0-9]{6}, not groups."),
        ("(AB)+?", "Repeat only single characters or classes, like [0-9]{6}, not groups."),
        (
            "(AB|CD)[0-9]*[A-Z]*[0-9]*",
            "This pattern has too many ways to match (alternatives and repeats multiply): "
            "use fewer | and fixed counts, like [0-9]{6}.",
        ),
    ],
)
def test_a_refused_pattern_is_told_why_in_full(pattern, message):
    assert serial_pattern_problem(pattern) == message


@pytest.mark.parametrize(
    "pattern",
    [
        "(SN-(AB)+)",  # a group repeated inside a group
        "(SN|(AB)+)",  # ... or inside an alternative
        "(SN|(AB)*?)",
    ],
)
def test_a_repeated_group_is_refused_wherever_it_is_nested(pattern):
    assert "Repeat only single characters" in serial_pattern_problem(pattern)


@pytest.mark.parametrize(
    "pattern",
    [
        "([0-9]*)([0-9]*)([0-9]*)([0-9]*)",
        "(A*|B*|C*|D*)",
        "A*?B*?C*?D*?",
    ],
)
def test_repeats_of_varying_length_are_counted_inside_groups_and_alternatives(pattern):
    assert "At most 3 repeats" in serial_pattern_problem(pattern)


@pytest.mark.parametrize(
    "pattern",
    [
        "[0-9]*[A-Z]*[0-9]*(AB|CD)",  # 41 lengths each, times 2 alternatives: 137,842 ways
        "[0-9]*[A-Z]*[0-9]*(?:AB|CD)",  # the same without a group
        "(AB|CD)[0-9]*?[A-Z]*?[0-9]*?",  # lazy repeats count as much
        "[0-9]{0,40}[A-Z]{0,40}[0-9]{0,29}(AB|CD)",  # 41 * 41 * 30 * 2 = 100,860
    ],
)
def test_repeats_and_alternatives_multiply_the_ways_to_match(pattern):
    assert "too many ways" in serial_pattern_problem(pattern)


def test_a_pattern_of_exactly_the_most_ways_to_match_may_be_saved():
    # 2 * 2 alternatives * 25 * 25 * 40 lengths = 100,000; fixed counts add no ways.
    pattern = "(AB|CD)(EF|GH)[0-9]{0,24}[A-Z]{0,24}[0-9]{0,39}X{6}"
    assert serial_pattern_problem(pattern) is None
