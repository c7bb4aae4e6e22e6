from decimal import Decimal

import pytest

from cost_mcp.money import (
    NANOS_PER_USD,
    format_usd,
    from_nanos,
    parse_usd,
    rounding_note,
    shown_left,
    shown_usd,
    to_nanos,
)


@pytest.mark.parametrize(
    ("usd", "nanos"),
    [
        (Decimal("18"), 18 * NANOS_PER_USD),
        (Decimal("0.000003"), 3_000),  # one token at $3/MTok
        (Decimal("0.0000000375"), 38),  # half a nano rounds half-even: 37.5 -> 38
        (Decimal("0.0000000365"), 36),  # 36.5 -> 36
        (Decimal("-1.5"), -1_500_000_000),
    ],
)
def test_to_nanos_rounds_half_even_only_below_a_nano(usd: Decimal, nanos: int) -> None:
    assert to_nanos(usd) == nanos


def test_nanos_round_trip_is_exact() -> None:
    for n in (0, 1, 999_999_999, 123_456_789_012, -7):
        assert to_nanos(from_nanos(n)) == n


def test_sum_of_many_small_amounts_is_exact() -> None:
    # 0.1 USD ten times is 1 USD exactly, which a float sum is not.
    assert sum(to_nanos(Decimal("0.1")) for _ in range(10)) == NANOS_PER_USD


@pytest.mark.parametrize("bad", ["abc", "NaN", "Infinity", ""])
def test_parse_usd_rejects_non_numbers(bad: str) -> None:
    with pytest.raises(ValueError, match="amount"):
        parse_usd(bad)


def test_parse_usd_accepts_strings_and_ints() -> None:
    assert parse_usd("12.345") == Decimal("12.345")
    assert parse_usd(7) == Decimal(7)


@pytest.mark.parametrize(
    ("amount", "shown"),
    [
        (Decimal("1234.565"), "$1,234.56"),
        (Decimal("0.004"), "$0.0040"),
        (Decimal("0"), "$0.00"),
        (Decimal("-2.5"), "-$2.50"),
        # Money spent never reads "$0.0000": as many places as the first significant digit needs.
        (Decimal("0.000006"), "$0.00001"),
        (Decimal("0.0000025"), "$0.000002"),
        (Decimal("0.00005"), "$0.00005"),
        (Decimal("0.000051"), "$0.0001"),
        (Decimal("-0.000000001"), "-$0.000000001"),
    ],
)
def test_format_usd(amount: Decimal, shown: str) -> None:
    assert format_usd(amount) == shown


@pytest.mark.parametrize(
    ("pico", "nanos"),
    [(0, 0), (1_499, 1), (1_500, 2), (2_500, 2), (2_501, 3), (3_000_000, 3_000), (37_500, 38)],
)
def test_pico_to_nanos_rounds_half_even(pico: int, nanos: int) -> None:
    from cost_mcp.money import pico_to_nanos

    assert pico_to_nanos(pico) == nanos


@pytest.mark.parametrize(
    ("rows", "total", "shown_sum"),
    [
        (["3.335", "3.335", "3.335"], "10.005", "$10.02"),  # half-even: 3.34 each, 10.00 once
        (["0.125", "0.125"], "0.25", "$0.24"),  # 0.12 each (half-even), 0.25 once
        (["-1.005", "2.015"], "1.01", "$1.02"),  # a credit: -1.00 and 2.02
    ],
)
def test_rounding_note_says_what_rounded_rows_add_up_to(rows: list[str], total: str, shown_sum: str) -> None:
    note = rounding_note([Decimal(r) for r in rows], Decimal(total))
    assert note is not None
    assert f"add up to {shown_sum}; {format_usd(Decimal(total))} is their exact sum" in note


@pytest.mark.parametrize(
    ("rows", "total"),
    [
        (["3.33", "3.33", "3.34"], "10"),
        # Sub-cent rows show more places ($0.0004) but read to the cent with the rest they add up.
        (["3.34", "3.33", "3.33", "0.0004"], "10.0004"),
        (["1.25", None], "1.25"),  # an unpriced row counts nothing, in the total too
        ([], "0"),
        (["3.335", "3.335"], "10.005"),  # not the total's split (a row left out): not a rounding matter
    ],
)
def test_rounding_note_is_silent_when_rows_add_up_as_shown(rows: list[str | None], total: str) -> None:
    assert rounding_note([None if r is None else Decimal(r) for r in rows], Decimal(total)) is None


@pytest.mark.parametrize(
    ("limit", "spent"),
    [("10.01", "5.005"), ("10.01", "15.005"), ("10", "0.0000025"), ("10.015", "5.0049"), ("7.5", "2.125")],
)
def test_left_is_within_half_a_cent_and_adds_up_where_the_limit_is_whole_cents(
    limit: str, spent: str
) -> None:
    lim, sp = Decimal(limit), Decimal(spent)
    left = shown_left(lim, sp)
    assert abs(left - (lim - sp)) <= Decimal("0.005")  # as near the exact amount as a cent allows
    if shown_usd(lim) == lim:  # a limit in whole cents: limit, spent and left add up as shown
        assert shown_usd(shown_usd(left) + shown_usd(sp)) == lim  # read to the cent, as the limit
