"""Paths in narrow columns wrap after `/` (then after `_ - .`), never mid-name when avoidable."""

from dive_py.ui.pathtext import wrap_path

APT = "/var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages"


def test_paths_break_after_slashes_and_long_names_after_separators():
    assert wrap_path(APT, 30) == ["/var/lib/apt/lists/", "deb.debian.org_debian_dists_",
                                  "bookworm_main_binary-amd64_", "Packages"]
    assert wrap_path("/app/static/logo.png", 30) == ["/app/static/logo.png"]
    assert wrap_path("/app/static/logo.png", 12) == ["/app/static/", "logo.png"]


def test_every_line_fits_and_nothing_is_lost():
    for width in range(1, 40):
        lines = wrap_path(APT, width)
        assert "".join(lines) == APT
        assert all(0 < len(line) <= width for line in lines)


def test_a_name_without_separators_is_cut_only_when_it_must_be():
    assert wrap_path("/bin/abcdefghij", 6) == ["/bin/", "abcdef", "ghij"]
    assert wrap_path("", 5) == [""]
