"""`divepy config`: the resolved configuration, and where each value came from."""

from __future__ import annotations

import argparse
import json

from dive_py.commands.common import EXIT_OK, status
from dive_py.config import Config, load_config
from dive_py.errors import printable


def _scalar(value) -> str:
    import yaml

    text = yaml.safe_dump(list(value) if isinstance(value, tuple) else value,
                          default_flow_style=True, width=10_000).strip()
    return text.removesuffix("\n...").removesuffix("...").strip()


def render(config: Config) -> str:
    """The config as YAML that could be pasted into a config file, with the origin of each
    value as a comment."""
    lines = ["# files read, lowest precedence first:"]
    lines += [f"#   {printable(path)}" for path in config.files] or ["#   (none: all defaults)"]
    section = None
    for key in sorted(config.values, key=lambda k: (k.count("."), k)):
        head, dot, name = key.rpartition(".")
        if head != section:
            section = head
            if head:
                lines.append(f"{head}:")
        indent = "  " if dot else ""
        lines.append(f"{indent}{name}: {_scalar(config.values[key])}  # {printable(config.origins[key])}")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="divepy config",
                                description="Print the resolved configuration and where each value came from.")
    p.add_argument("--config", metavar="FILE", action="append",
                   help="read this config file instead of the usual ones (repeatable)")
    p.add_argument("--json", action="store_true", help="print {key: {value, origin}} as JSON")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    args = p.parse_args(argv)
    config = load_config(args.config)
    for warning in config.warnings:
        status(f"warning: {printable(warning)}")
    if args.json:
        data = {key: {"value": list(v) if isinstance(v, tuple) else v, "origin": config.origins[key]}
                for key, v in sorted(config.values.items())}
        print(json.dumps({"files": list(config.files), "values": data}, indent=2))
    else:
        print(render(config), end="")
    return EXIT_OK
