"""`divepy container NAME_OR_ID`: the container's image plus its writable layer on top, in the
explorer, CI or JSON like any image."""

from __future__ import annotations

import argparse

from dive_py.commands.common import default_engine
from dive_py.errors import UsageError
from dive_py.sources.resolve import ENGINES


def main(argv: list[str]) -> int:
    from dive_py.cli import add_analysis_options, run_analysis
    from dive_py.sources.container import ContainerSource

    p = argparse.ArgumentParser(
        prog="divepy container",
        description="Open a container (running or stopped) as its image with one more layer: what the "
                    "container added, changed and deleted. Read-only, through the engine API.")
    p.add_argument("container", metavar="NAME_OR_ID")
    add_analysis_options(p)
    args = p.parse_args(argv)
    if args.source and args.source not in ENGINES:
        raise UsageError(f"--source {args.source!r}: containers live in an engine ({', '.join(ENGINES)})")
    engine = default_engine(args)
    return run_analysis(args, ContainerSource(args.container, engine))
