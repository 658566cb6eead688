"""`divepy find IMAGE PATTERN`: every path any layer wrote that matches, with the layer that
last changed it (a regex searched in the '/'-rooted path; an invalid regex is taken literally)."""

from __future__ import annotations

import sys

from dive_py.commands.common import EXIT_OK, status
from dive_py.commands.files import open_image, parser
from dive_py.errors import printable


def main(argv: list[str]) -> int:
    p = parser("find", "Search every layer for paths matching PATTERN; each with the layer that last changed it.",
               with_layer=False)
    p.add_argument("pattern", help="regex searched in each path, e.g. 'apt/lists' or '\\.pyc$'")
    p.add_argument("--sort", choices=("size", "name"), default="size", help="largest first (default) or by path")
    args = p.parse_args(argv)
    opened = open_image(args)
    from dive_py.analysis.trace import find

    found = find(opened.analysis, args.pattern, args.sort)
    out = sys.stdout
    out.write(f"{'Layer':>5}  {'Change':<20} {'Size':>12}  Path\n")
    for f in found:
        gone = "" if f.present else "  (not in the final image)"
        out.write(f"{f.layer:>5}  {f.change.value:<20} {f.size:>12,}  /{printable(f.path)}{gone}\n")
    status(f"{len(found):,} paths match")
    return EXIT_OK
