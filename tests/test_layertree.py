"""dive's visiting order, computed on plain strings, is the order of the paths' components."""

from hypothesis import given, settings
from hypothesis import strategies as st

from dive_py.analysis.layertree import dive_order

# names as tar gives them: anything but '/' and NUL, including characters below and above '/'
names = st.text(alphabet=st.characters(blacklist_characters="/\0", blacklist_categories=("Cs",)),
                min_size=1, max_size=4)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.lists(names, min_size=1, max_size=4).map("/".join), max_size=30))
def test_dive_order_is_the_order_of_component_lists(paths):
    assert dive_order(paths) == sorted(paths, key=lambda p: p.split("/"))
