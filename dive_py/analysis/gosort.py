"""A faithful port of Go's ``sort.Sort`` (the unstable pdqsort of Go >= 1.19).

Why this exists: dive orders its "inefficient files" list with Go's
``sort.Sort``, which is *not* stable.  Entries that compare equal (for example
two paths with the same wasted size) come out in an order that depends on the
exact steps of Go's algorithm, not on their input order.  To list such ties in
the same order as dive, we have to sort exactly the way Go does, so this module
ports ``src/sort/zsortinterface.go`` and ``Sort``/``xorshift``/``nextPowerOfTwo``
from ``src/sort/sort.go`` line by line.  Keep it that way: any "improvement"
changes the order of equal elements.

The port follows go1.24.3, the Go that dive 0.13.1 is built with (go1.24.x;
``go version $(which dive)`` prints go1.24.1).  It was checked against
go1.24.3's ``sort.Sort``: same final orders and the same sequence of Less/Swap
calls on thousands of inputs.  Compared with go1.19.8 the only change in this
code is the xorshift used by ``breakPatterns`` (13/7/17 now, 13/17/5 then),
which changes the order of ties on some inputs.

Go's ``Interface`` works on indices; here ``_Data`` wraps a Python list and a
``less(a, b)`` function on elements to provide ``Less(i, j)`` and ``Swap(i, j)``.
"""

from __future__ import annotations

from typing import Any, Callable

_MASK64 = (1 << 64) - 1

# sortedHint values
_UNKNOWN_HINT = 0
_INCREASING_HINT = 1
_DECREASING_HINT = 2


class _Data:
    """Go's sort.Interface over a Python list."""

    __slots__ = ("items", "less_fn")

    def __init__(self, items: list, less_fn: Callable[[Any, Any], bool]) -> None:
        self.items = items
        self.less_fn = less_fn

    def less(self, i: int, j: int) -> bool:
        return bool(self.less_fn(self.items[i], self.items[j]))

    def swap(self, i: int, j: int) -> None:
        items = self.items
        items[i], items[j] = items[j], items[i]


class _KeyData:
    """Go's sort.Interface over a list and its keys, compared with `<`: the same calls as
    _Data with less(a, b) = key(a) < key(b), without a Python call per comparison."""

    __slots__ = ("items", "keys")

    def __init__(self, items: list, keys: list) -> None:
        self.items = items
        self.keys = keys

    def less(self, i: int, j: int) -> bool:
        keys = self.keys
        return keys[i] < keys[j]

    def swap(self, i: int, j: int) -> None:
        items, keys = self.items, self.keys
        items[i], items[j] = items[j], items[i]
        keys[i], keys[j] = keys[j], keys[i]


def go_sort_by_key(items: list, key: Callable[[Any], Any]) -> None:
    """``go_sort(items, lambda a, b: key(a) < key(b))``, faster. Where no two keys are equal
    there are no ties, and every sort gives Go's order: Python's own sort does it."""
    keys = [key(item) for item in items]
    if len(set(keys)) == len(keys):
        order = sorted(range(len(items)), key=keys.__getitem__)  # the keys made once
        items[:] = [items[i] for i in order]
        return
    if len(items) > 1:
        _pdqsort(_KeyData(items, keys), 0, len(items), len(items).bit_length())  # type: ignore[arg-type]


def go_sort(items: list, less: Callable[[Any, Any], bool]) -> None:
    """Sort ``items`` in place exactly like Go's ``sort.Sort``.

    ``less(a, b)`` compares two elements and returns True if ``a`` sorts
    before ``b``.  The sort is not stable; ties end up where Go puts them.
    """
    n = len(items)
    if n <= 1:
        return
    limit = n.bit_length()  # bits.Len(uint(n))
    _pdqsort(_Data(items, less), 0, n, limit)


# --- sort.go helpers ---------------------------------------------------------


class _Xorshift:
    """Go's ``type xorshift uint64`` and its Next method (Go 1.24 shifts: 13/7/17)."""

    __slots__ = ("r",)

    def __init__(self, seed: int) -> None:
        self.r = seed & _MASK64

    def next(self) -> int:
        r = self.r
        r ^= (r << 13) & _MASK64
        r ^= r >> 7
        r ^= (r << 17) & _MASK64
        self.r = r
        return r


def _next_power_of_two(length: int) -> int:
    return 1 << length.bit_length()


# --- zsortinterface.go ---------------------------------------------------------


def _insertion_sort(data: _Data, a: int, b: int) -> None:
    for i in range(a + 1, b):
        j = i
        while j > a and data.less(j, j - 1):
            data.swap(j, j - 1)
            j -= 1


def _sift_down(data: _Data, lo: int, hi: int, first: int) -> None:
    root = lo
    while True:
        child = 2 * root + 1
        if child >= hi:
            break
        if child + 1 < hi and data.less(first + child, first + child + 1):
            child += 1
        if not data.less(first + root, first + child):
            return
        data.swap(first + root, first + child)
        root = child


def _heap_sort(data: _Data, a: int, b: int) -> None:
    first = a
    lo = 0
    hi = b - a
    # Build heap with greatest element at top.  ((hi-1)//2 equals Go's
    # truncating division here because hi >= 1.)
    for i in range((hi - 1) // 2, -1, -1):
        _sift_down(data, i, hi, first)
    # Pop elements, largest first, into end of data.
    for i in range(hi - 1, -1, -1):
        data.swap(first, first + i)
        _sift_down(data, lo, i, first)


def _pdqsort(data: _Data, a: int, b: int, limit: int) -> None:
    max_insertion = 12
    was_balanced = True  # whether the last partitioning was reasonably balanced
    was_partitioned = True  # whether the slice was already partitioned

    while True:
        length = b - a

        if length <= max_insertion:
            _insertion_sort(data, a, b)
            return

        # Fall back to heapsort if too many bad choices were made.
        if limit == 0:
            _heap_sort(data, a, b)
            return

        # If the last partitioning was imbalanced, break patterns.
        if not was_balanced:
            _break_patterns(data, a, b)
            limit -= 1

        pivot, hint = _choose_pivot(data, a, b)
        if hint == _DECREASING_HINT:
            _reverse_range(data, a, b)
            pivot = (b - 1) - (pivot - a)
            hint = _INCREASING_HINT

        # The slice is likely already sorted.
        if was_balanced and was_partitioned and hint == _INCREASING_HINT:
            if _partial_insertion_sort(data, a, b):
                return

        # Probably many duplicates: partition into == pivot and > pivot.
        if a > 0 and not data.less(a - 1, pivot):
            a = _partition_equal(data, a, b, pivot)
            continue

        mid, already_partitioned = _partition(data, a, b, pivot)
        was_partitioned = already_partitioned

        left_len, right_len = mid - a, b - mid
        balance_threshold = length // 8
        if left_len < right_len:
            was_balanced = left_len >= balance_threshold
            _pdqsort(data, a, mid, limit)
            a = mid + 1
        else:
            was_balanced = right_len >= balance_threshold
            _pdqsort(data, mid + 1, b, limit)
            b = mid


def _partition(data: _Data, a: int, b: int, pivot: int) -> tuple[int, bool]:
    if type(data) is _KeyData:
        return _partition_keys(data, a, b, pivot)  # type: ignore[arg-type]
    data.swap(a, pivot)
    i, j = a + 1, b - 1  # inclusive bounds of the elements left to partition

    while i <= j and data.less(i, a):
        i += 1
    while i <= j and not data.less(j, a):
        j -= 1
    if i > j:
        data.swap(j, a)
        return j, True
    data.swap(i, j)
    i += 1
    j -= 1

    while True:
        while i <= j and data.less(i, a):
            i += 1
        while i <= j and not data.less(j, a):
            j -= 1
        if i > j:
            break
        data.swap(i, j)
        i += 1
        j -= 1
    data.swap(j, a)
    return j, False


def _partition_keys(data: _KeyData, a: int, b: int, pivot: int) -> tuple[int, bool]:
    """_partition over keys, the comparisons written out: the same steps, and where most of
    a sort with many ties goes (data.less is a Python call per comparison)."""
    keys, items = data.keys, data.items

    def swap(i: int, j: int) -> None:
        items[i], items[j] = items[j], items[i]
        keys[i], keys[j] = keys[j], keys[i]

    swap(a, pivot)
    key = keys[a]  # the pivot stays at a until the end
    i, j = a + 1, b - 1

    while i <= j and keys[i] < key:
        i += 1
    while i <= j and not keys[j] < key:
        j -= 1
    if i > j:
        swap(j, a)
        return j, True
    swap(i, j)
    i += 1
    j -= 1

    while True:
        while i <= j and keys[i] < key:
            i += 1
        while i <= j and not keys[j] < key:
            j -= 1
        if i > j:
            break
        swap(i, j)
        i += 1
        j -= 1
    swap(j, a)
    return j, False


def _partition_equal(data: _Data, a: int, b: int, pivot: int) -> int:
    data.swap(a, pivot)
    i, j = a + 1, b - 1

    while True:
        while i <= j and not data.less(a, i):
            i += 1
        while i <= j and data.less(a, j):
            j -= 1
        if i > j:
            break
        data.swap(i, j)
        i += 1
        j -= 1
    return i


def _partial_insertion_sort(data: _Data, a: int, b: int) -> bool:
    max_steps = 5  # maximum number of adjacent out-of-order pairs that get shifted
    shortest_shifting = 50  # don't shift any elements on short arrays
    i = a + 1
    for _ in range(max_steps):
        while i < b and not data.less(i, i - 1):
            i += 1

        if i == b:
            return True

        if b - a < shortest_shifting:
            return False

        data.swap(i, i - 1)

        # Shift the smaller one to the left.  (Go's loop bound really is
        # ``j >= 1``, not ``j > a``; kept as is.)
        if i - a >= 2:
            j = i - 1
            while j >= 1:
                if not data.less(j, j - 1):
                    break
                data.swap(j, j - 1)
                j -= 1
        # Shift the greater one to the right.
        if b - i >= 2:
            j = i + 1
            while j < b:
                if not data.less(j, j - 1):
                    break
                data.swap(j, j - 1)
                j += 1
    return False


def _break_patterns(data: _Data, a: int, b: int) -> None:
    length = b - a
    if length >= 8:
        random = _Xorshift(length)
        modulus = _next_power_of_two(length)

        idx = a + (length // 4) * 2 - 1
        while idx <= a + (length // 4) * 2 + 1:
            other = random.next() & (modulus - 1)
            if other >= length:
                other -= length
            data.swap(idx, a + other)
            idx += 1


def _choose_pivot(data: _Data, a: int, b: int) -> tuple[int, int]:
    shortest_ninther = 50
    max_swaps = 4 * 3

    length = b - a  # Go calls this l
    swaps = [0]  # stands in for Go's *int
    i = a + length // 4 * 1
    j = a + length // 4 * 2
    k = a + length // 4 * 3

    if length >= 8:
        if length >= shortest_ninther:
            # Tukey ninther method.
            i = _median_adjacent(data, i, swaps)
            j = _median_adjacent(data, j, swaps)
            k = _median_adjacent(data, k, swaps)
        # Find the median among i, j, k and store it into j.
        j = _median(data, i, j, k, swaps)

    if swaps[0] == 0:
        return j, _INCREASING_HINT
    if swaps[0] == max_swaps:
        return j, _DECREASING_HINT
    return j, _UNKNOWN_HINT


def _order2(data: _Data, a: int, b: int, swaps: list[int]) -> tuple[int, int]:
    if data.less(b, a):
        swaps[0] += 1
        return b, a
    return a, b


def _median(data: _Data, a: int, b: int, c: int, swaps: list[int]) -> int:
    a, b = _order2(data, a, b, swaps)
    b, c = _order2(data, b, c, swaps)
    a, b = _order2(data, a, b, swaps)
    return b


def _median_adjacent(data: _Data, a: int, swaps: list[int]) -> int:
    return _median(data, a - 1, a, a + 1, swaps)


def _reverse_range(data: _Data, a: int, b: int) -> None:
    i = a
    j = b - 1
    while i < j:
        data.swap(i, j)
        i += 1
        j -= 1
