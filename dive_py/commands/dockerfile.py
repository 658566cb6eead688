"""`divepy dockerfile IMAGE`: the Dockerfile behind an image, reconstructed from its history."""

from __future__ import annotations

import argparse

from dive_py.commands.common import EXIT_OK, add_secrets_option, add_source_options, load_image, write_output
from dive_py.errors import printable


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="divepy dockerfile",
        description="Print the Dockerfile reconstructed from an image's history, with the layer "
                    "index and size each step produced (metadata steps say 'no layer').")
    p.add_argument("image", help="image reference, docker-archive://FILE, oci-archive://FILE, oci://DIR or a path")
    add_source_options(p)
    add_secrets_option(p)
    p.add_argument("-o", "--output", metavar="FILE", default="-", help="write to FILE instead of stdout")
    args = p.parse_args(argv)

    from dive_py.analysis.dockerfile import reconstruct, render

    image = load_image(args, args.image)
    text = render(image, reconstruct(image, args.show_secrets))
    # Line breaks are kept; control characters from the image (tabs too) are escaped.
    write_output(args.output, "\n".join(printable(line) for line in text.split("\n")))
    return EXIT_OK
