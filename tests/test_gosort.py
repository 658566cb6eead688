"""Tests for dive_py.analysis.gosort, the port of Go's unstable sort.Sort."""

import hashlib
import random

import pytest

from dive_py.analysis.gosort import go_sort


def by_key(a, b):
    return a[0] < b[0]


def go_order(keys):
    """Sort (key, id) pairs by key only, the way Go's sort.Sort would; return the ids."""
    items = [(k, i) for i, k in enumerate(keys)]
    go_sort(items, by_key)
    return [i for _, i in items]


def order_hash(ids):
    return hashlib.sha256(",".join(map(str, ids)).encode()).hexdigest()[:16]


# --- (1) the result is sorted and a permutation of the input -------------------


@pytest.mark.parametrize("seed", range(4))
def test_sorted_for_random_inputs(seed):
    rng = random.Random(seed)
    sizes = list(range(0, 40)) + [rng.randint(40, 2000) for _ in range(40)] + [2000]
    for n in sizes:
        for key_range in (1, 2, 3, 10, max(n, 1)):
            keys = [rng.randrange(key_range) for _ in range(n)]
            for shape in ("random", "sorted", "reversed"):
                if shape == "sorted":
                    keys = sorted(keys)
                elif shape == "reversed":
                    keys = sorted(keys, reverse=True)
                ids = go_order(keys)
                assert sorted(ids) == list(range(n))
                out = [keys[i] for i in ids]
                assert out == sorted(keys), (n, key_range, shape)


def test_plain_values_and_custom_less():
    rng = random.Random(99)
    values = [rng.randrange(50) for _ in range(500)]
    asc = list(values)
    go_sort(asc, lambda a, b: a < b)
    assert asc == sorted(values)
    desc = list(values)
    go_sort(desc, lambda a, b: a > b)
    assert desc == sorted(values, reverse=True)
    empty = []
    go_sort(empty, lambda a, b: a < b)
    assert empty == []


# --- (2) up to 12 elements Go uses a plain (stable) insertion sort --------------


def test_short_inputs_are_insertion_sorted():
    rng = random.Random(7)
    for n in range(13):
        for _ in range(50):
            keys = [rng.randrange(4) for _ in range(n)]
            stable = sorted(range(n), key=lambda i: keys[i])
            assert go_order(keys) == stable


# --- (3) exact orders produced by Go -----------------------------------------------
#
# The expected id orders below were produced by Go's own sort.Sort (go1.19.8
# linux/amd64, the Debian golang-go package) on a []struct{key, id int} whose
# Less compares key only. The port also matched Go's full sequence of Less/Swap
# calls on thousands of other inputs, including ones that reach heapSort. The Go
# program was not added to the repository.

HEAP_30 = [16, 16, 9, 12, 16, 2, 16, 15, 15, 6, 15, 14, 7, 10, 0,
           8, 15, 15, 15, 15, 16, 1, 5, 3, 16, 11, 16, 13, 15, 4]  # runs out its limit: ends in heapSort


def lcg_keys(n, key_range, seed=12345):
    out, s = [], seed
    for _ in range(n):
        s = (s * 6364136223846793005 + 1442695040888963407) % (1 << 64)
        out.append((s >> 33) % key_range)
    return out


def nearly_sorted(n):
    keys = [i // 3 for i in range(n)]
    keys[10], keys[60] = keys[60], keys[10]
    return keys


GO_EXACT = {
    "mod5_13": (
        [(i * 7919) % 5 for i in range(13)],
        [5, 10, 0, 9, 4, 3, 8, 7, 2, 12, 6, 1, 11],
    ),
    "mod5_20": (
        [(i * 7919) % 5 for i in range(20)],
        [10, 15, 5, 0, 19, 9, 4, 14, 13, 3, 18, 8, 17, 7, 12, 2, 11, 1, 6, 16],
    ),
    "mod3_50": (
        [i % 3 for i in range(50)],
        [18, 48, 45, 3, 42, 39, 6, 36, 33, 9, 30, 27, 12, 0, 24, 15, 21,
         25, 4, 19, 49, 16, 22, 1, 46, 13, 43, 40, 28, 37, 10, 31, 7, 34,
         17, 11, 32, 29, 8, 5, 35, 41, 38, 26, 44, 2, 14, 47, 23, 20],
    ),
    "heap_30": (
        HEAP_30,
        [14, 21, 5, 23, 29, 22, 9, 12, 15, 2, 13, 25, 3, 27, 11, 18, 7,
         10, 19, 16, 28, 17, 8, 26, 6, 1, 4, 24, 20, 0],
    ),
    "rev_capped_64": (  # decreasing pivot samples: reverseRange, then done
        [max(0, min(50, 60 - i)) for i in range(64)],
        list(range(63, -1, -1)),
    ),
}

# Longer orders, kept as sha256(",".join(ids))[:16].
GO_HASHES = {
    "mod7_100": ([(i * 31) % 7 for i in range(100)], "375c7f7ff60eae1f"),
    "mod5_1000": ([(i * 7919) % 5 for i in range(1000)], "8089121bccb12f5d"),
    "nearly_100": (nearly_sorted(100), "f72ca551c9428160"),
    "rev_ties_300": ([(300 - i) // 4 for i in range(300)], "3ae3c3bcac8bd58b"),
    "rev_capped_1000": ([max(0, min(900, 950 - i)) for i in range(1000)], "cd1e6887751fd901"),
    "lcg10_2000": (lcg_keys(2000, 10), "7298064403716d64"),
}


@pytest.mark.parametrize("name", sorted(GO_EXACT))
def test_matches_go_exactly(name):
    keys, want = GO_EXACT[name]
    assert go_order(keys) == want


@pytest.mark.parametrize("name", sorted(GO_HASHES))
def test_matches_go_order_hash(name):
    keys, want = GO_HASHES[name]
    assert order_hash(go_order(keys)) == want
