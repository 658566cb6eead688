"""`divepy blame IMAGE PATH`: every layer that added, changed or removed PATH."""

from __future__ import annotations

import sys

from dive_py.commands.common import EXIT_OK, EXIT_USAGE, status
from dive_py.commands.files import open_image, parser
from dive_py.errors import printable
from dive_py.model.lookup import clean


def main(argv: list[str]) -> int:
    p = parser("blame", "List every layer that touched PATH: added, content modified, attributes only, "
                        "removed, hidden by an opaque directory; with size and the layer's command.",
               with_layer=False)
    p.add_argument("path", help="path in the image, e.g. /etc/passwd")
    args = p.parse_args(argv)
    opened = open_image(args)
    from dive_py.analysis.trace import blame

    touches = blame(opened.analysis, args.path)
    path = "/" + clean(args.path)
    if not touches:
        status(f"{printable(path)}: no layer of the image touches it")
        return EXIT_USAGE
    out = sys.stdout
    out.write(f"{'Layer':>5}  {'Change':<20} {'Size':>12}  Command\n")
    for t in touches:
        change = t.change.value + (f" (via /{t.via})" if t.via and t.via != clean(args.path) else "")
        out.write(f"{t.layer:>5}  {change:<20} {t.size:>12,}  {printable(' '.join(t.command.split()))}\n")
    return EXIT_OK
