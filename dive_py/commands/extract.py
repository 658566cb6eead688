"""`divepy extract IMAGE PATH --to DIR [--layer N]`: a file or subtree of the image into DIR."""

from __future__ import annotations

from dive_py.commands.common import EXIT_OK, status
from dive_py.commands.files import open_image, parser
from dive_py.errors import printable


def plural(n: int, one: str, many: str = "") -> str:
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


def main(argv: list[str]) -> int:
    p = parser("extract", "Write a file or a directory of the image (as of a layer) into DIR, "
                          "with its modes; nothing is ever written outside DIR.")
    p.add_argument("path", help="path in the image ('/' for everything)")
    p.add_argument("--to", required=True, metavar="DIR", help="target directory (created if missing)")
    args = p.parse_args(argv)
    opened = open_image(args)
    from dive_py.extract import extract

    analysis = opened.analysis
    report = extract(opened.source, analysis.image, analysis.trees, opened.layer, args.path, args.to)
    for path, why in report.skipped:
        status(f"skipped {printable(path)}: {printable(why)}")
    status(f"extracted {plural(report.files, 'file')} ({report.bytes:,} bytes), "
           f"{plural(report.dirs, 'directory', 'directories')}, {plural(report.links, 'symlink')} "
           f"from layer {opened.layer} into {printable(args.to)}"
           + (f"; skipped {len(report.skipped)}" if report.skipped else ""))
    return EXIT_OK
