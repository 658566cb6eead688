"""`divepy cat IMAGE PATH [--layer N]`: a file's bytes as of a layer, on stdout."""

from __future__ import annotations

import sys

from dive_py.commands.common import EXIT_OK
from dive_py.commands.files import open_image, parser
from dive_py.sources.content import copy_file


def main(argv: list[str]) -> int:
    p = parser("cat", "Write a file of the image (as of a layer) to stdout; links are followed inside the image.")
    p.add_argument("path", help="path in the image, e.g. /etc/os-release")
    args = p.parse_args(argv)
    opened = open_image(args)
    analysis = opened.analysis
    copy_file(opened.source, analysis.image, analysis.trees, opened.layer, args.path, sys.stdout.buffer)
    sys.stdout.buffer.flush()
    return EXIT_OK
