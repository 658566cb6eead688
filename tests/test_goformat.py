"""Go's number formats: the exponent taken from a float's repr is Decimal's (how go_value prints
against dive itself: tests/test_cli.py, test_failed_rules_print_numbers_as_dive_does)."""

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from dive_py.ci.goformat import decimal_exponent


@given(st.floats(allow_nan=False, allow_infinity=False).filter(bool))
def test_the_exponent_of_a_repr_is_decimals(value):
    assert decimal_exponent(repr(value)) == Decimal(repr(value)).adjusted()
