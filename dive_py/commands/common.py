"""What the sub-commands share: the image options, loading an image, writing an output file."""

from __future__ import annotations

import argparse
import sys

from dive_py.errors import UsageError, printable

EXIT_OK, EXIT_RULES_FAILED, EXIT_USAGE, EXIT_IMAGE = 0, 1, 2, 3


def add_source_options(p: argparse.ArgumentParser) -> None:
    """Where an image comes from: every command that reads an image takes these."""
    p.add_argument("--source", help="docker (default), podman, docker-archive, oci-archive, oci, registry")
    p.add_argument("--platform", help="os/arch[/variant] to pick from a multi-platform index")
    p.add_argument("--no-cache", dest="cache", action="store_false",
                   help="neither read nor fill the layer cache ($XDG_CACHE_HOME/divepy)")
    p.add_argument("--insecure-registry", action="store_true",
                   help="registry source: allow plain http for any host (always allowed for loopback)")
    p.add_argument("--config", metavar="FILE", action="append",
                   help="read this config file instead of dive's and divepy's usual ones (repeatable)")
    p.add_argument("--debug", action="store_true", help="show tracebacks")


def add_secrets_option(p: argparse.ArgumentParser) -> None:
    """--show-secrets: print Env and ARG values whose names look like secrets (masked otherwise)."""
    p.add_argument("--show-secrets", action="store_true",
                   help="show values of variables named like secrets (PASSWORD, TOKEN, SECRET, KEY)")


def status(text: str) -> None:
    """A progress or warning line for the user: stderr, so stdout stays machine-readable."""
    print(text, file=sys.stderr, flush=True)


def default_engine(args: argparse.Namespace) -> str:
    """The engine for plain image names: --source if it names an engine, else the config's
    container-engine."""
    from dive_py.config import load_config
    from dive_py.sources.resolve import ENGINES

    source = getattr(args, "source", None)
    if source in ENGINES:
        return source
    return load_config(getattr(args, "config", None))["container-engine"]


def source_of(args: argparse.Namespace, ref: str, engine: str | None = None):
    """The Source the source options and a reference name; `engine` for plain image names
    (default: default_engine)."""
    from dive_py.sources.resolve import resolve

    engine = engine or default_engine(args)
    return resolve(ref, getattr(args, "source", None), getattr(args, "platform", None), engine,
                   getattr(args, "insecure_registry", False), getattr(args, "cache", True))


def load_image(args: argparse.Namespace, ref: str):
    """Resolve and read an image, printing its warnings; raises DivePyError on failure."""
    image = source_of(args, ref).load()
    for warning in image.warnings:
        status(f"warning: {printable(warning)}")
    return image


def load_analysis(args: argparse.Namespace, ref: str):
    from dive_py.analysis.analyze import analyze

    return analyze(load_image(args, ref))


def write_output(target: str, text: str) -> None:
    """Write a report to a file the user named, or to stdout for '-'."""
    if target == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    try:
        with open(target, "w", encoding="utf-8", errors="surrogateescape") as fh:
            fh.write(text)
    except OSError as exc:
        raise UsageError(f"cannot write {target}: {exc.strerror}") from None
