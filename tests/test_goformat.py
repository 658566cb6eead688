"""Go's number formats: the exponent taken from a float's repr is Decimal's."""

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from dive_py.ci.goformat import decimal_exponent, go_value


@given(st.floats(allow_nan=False, allow_infinity=False).filter(bool))
def test_the_exponent_of_a_repr_is_decimals(value):
    assert decimal_exponent(repr(value)) == Decimal(repr(value)).adjusted()


def test_go_value_of_floats_as_go_prints_them():
    # fmt.Sprintf("%v", x) in Go 1.24
    assert [go_value(x) for x in (0.8408995127833638, 0.0123, 1e21, 1e20, 1e-05, 0.0001, -2.5, 100.0)] == [
        "0.8408995127833638", "0.0123", "1e+21", "100000000000000000000", "1e-05", "0.0001", "-2.5", "100"]
