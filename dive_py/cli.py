"""The divepy command: argument parsing, sub-commands and exit codes.

Exit codes: 0 ok, 1 CI rules failed, 2 usage or configuration error, 3 image could not be
loaded or read. Errors are one line on stderr; a traceback only with --debug.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

import importlib

from dive_py import __version__
from dive_py.commands.common import (
    EXIT_IMAGE,
    EXIT_OK,
    EXIT_RULES_FAILED,
    EXIT_USAGE,
    add_secrets_option,
    add_source_options,
    source_of,
    status,
    write_output,
)
from dive_py.errors import DivePyError, UsageError, printable
from dive_py.gcpause import collector_paused

__all__ = ["EXIT_IMAGE", "EXIT_OK", "EXIT_RULES_FAILED", "EXIT_USAGE", "main", "run_analysis"]


def _ci_env() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def add_analysis_options(p: argparse.ArgumentParser) -> None:
    """The options of `divepy IMAGE` (dive's), shared by the commands that end in the explorer."""
    add_source_options(p)
    p.add_argument("--ci", action="store_true", help="skip the UI and validate against CI rules (same as CI=true)")
    p.add_argument("--ci-config", metavar="FILE", help="YAML rules file (default: .dive-ci if present)")
    p.add_argument("-j", "--json", metavar="FILE", help="write dive's JSON analysis to FILE ('-' for stdout)")
    p.add_argument("--junit", metavar="FILE", help="CI mode: also write the rules as JUnit XML")
    p.add_argument("--markdown", metavar="FILE", help="CI mode: also write a Markdown summary")
    for key in ("lowestEfficiency", "highestWastedBytes", "highestUserWastedPercent", "highestReclaimableBytes"):
        p.add_argument(f"--{key}", dest=key, metavar="VALUE", help=f"CI rule threshold for {key} ('disabled' to skip)")
    p.add_argument("-i", "--ignore-errors", action="store_true",
                   help="analyse the image even if some layers can't be read (they count as empty)")
    add_secrets_option(p)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="divepy",
        description="Explore a Docker/OCI image layer by layer; measure wasted space (dive-compatible).",
        epilog="sub-commands (divepy COMMAND --help for each):\n" + "\n".join(
            f"  {name:<11} {summary}" for name, (_, summary) in COMMANDS.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("image", help="image reference, docker-archive://FILE, oci-archive://FILE, oci://DIR or a path")
    add_analysis_options(p)
    p.add_argument("--version", action="version", version=f"divepy {__version__}")
    return p


def run_analysis(args: argparse.Namespace, ref) -> int:
    """The explorer, CI or JSON for a reference, or for a ready Source (`divepy container`)."""
    from dive_py.config import load_config

    ci_mode = args.ci or _ci_env()
    config = load_config(args.config)
    for warning in config.warnings:
        status(f"warning: {printable(warning)}")
    source = source_of(args, ref, config["container-engine"]) if isinstance(ref, str) else ref
    if not ci_mode and not args.json:
        if not (sys.stdin.isatty() and sys.stdout.isatty()):
            raise UsageError("not a terminal: the explorer needs one (use --ci or --json for output)")
        from dive_py.ui import run_ui

        return run_ui(source, config, show_secrets=args.show_secrets)

    rules = None
    if ci_mode:
        from dive_py.ci.rules import build_rules, load_ci_config

        overrides = {k: getattr(args, k) for k in ("lowestEfficiency", "highestWastedBytes",
                                                  "highestUserWastedPercent", "highestReclaimableBytes")}
        values, origin = load_ci_config(args.ci_config)
        rules = build_rules(values, origin, overrides)
        print(f"  Using CI config: {origin}" if origin else "  Using default CI config")
        print(f"Image Source: {printable(source.describe())}")
        print(f"Extracting image from {source.kind}... (this can take a while for large images)")
        print("Analyzing image...", flush=True)

    with collector_paused():  # a batch run over millions of acyclic objects: see dive_py.gcpause
        return _report(args, source, config, rules)


def _report(args: argparse.Namespace, source, config, rules) -> int:
    """CI report and JSON for the image (rules None: no CI report)."""
    analysis = _analysis(source, keep_broken=args.ignore_errors or config["ignore-errors"],
                         summary_will_do=not args.json)

    if args.json:
        from dive_py.export.json_export import dumps

        write_output(args.json, dumps(analysis, args.show_secrets))
    if rules is None:
        return EXIT_OK

    from dive_py.ci.report import junit_xml, markdown, print_report
    from dive_py.ci.rules import Status, evaluate_all

    results = evaluate_all(rules, analysis)
    print_report(analysis, results)
    if args.junit:
        write_output(args.junit, junit_xml(analysis, results))
    if args.markdown:
        write_output(args.markdown, markdown(analysis, results))
    return EXIT_RULES_FAILED if any(r.status == Status.FAIL for r in results) else EXIT_OK


def _analysis(source, keep_broken: bool, summary_will_do: bool):
    """The image's analysis; when only its figures are needed, those an earlier run cached
    (dive_py.analysis.summary) answer without reading a layer."""
    from dive_py.analysis import summary
    from dive_py.analysis.analyze import Analyzer, analyze
    from dive_py.sources.layercache import LayerCache

    cache = LayerCache() if source.cache else None
    if cache is not None and summary_will_do:
        outline = source.outline()
        stored = cache.get_summary(summary.key(outline)) if outline and summary.cacheable(outline) else None
        if stored is not None and (found := summary.decode(outline, stored)) is not None:  # type: ignore[arg-type]
            _warn(found.image)
            return found
    analyzer = Analyzer()  # stacks each layer as it arrives, while workers read the next ones
    image = source.load(keep_broken=keep_broken, on_layer=lambda index, data: analyzer.add(data[0]))
    _warn(image)
    analysis = analyzer.result(image) if analyzer.fits(image) else analyze(image)
    if cache is not None and summary.cacheable(image):
        cache.put_summary(summary.key(image), summary.encode(analysis))
    return analysis


def _warn(image) -> None:
    for warning in image.warnings:
        status(f"warning: {printable(warning)}")
    for layer in image.layers:
        if layer.error:
            status(f"warning: layer {layer.index} analysed as empty (ignore-errors): {printable(layer.error)}")


def cmd_demo(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="divepy demo", description="Open divepy on a built-in demo image (no daemon needed).")
    add_analysis_options(p)
    p.add_argument("--print-path", action="store_true", help="only print where the demo archive is")
    args = p.parse_args(argv)
    from dive_py.demo import demo_archive

    path = demo_archive()
    if args.print_path:
        print(path)
        return EXIT_OK
    return run_analysis(args, f"docker-archive://{path}")


def cmd_analyze(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    return run_analysis(args, args.image)


# Sub-commands by name: a function here, or "module" under dive_py.commands with a main(argv).
COMMANDS: dict[str, tuple[Callable[[list[str]], int] | str, str]] = {
    "demo": (cmd_demo, "open the built-in demo image (no daemon needed)"),
    "build": ("build", "build an image (docker build options), then explore or check it"),
    "config": ("config", "print the resolved configuration and where each value came from"),
    "dockerfile": ("dockerfile", "reconstruct the Dockerfile from the image's history"),
    "cat": ("cat", "write a file of the image, as of a layer, to stdout"),
    "extract": ("extract", "extract a file or directory, as of a layer, into a folder"),
    "blame": ("blame", "list every layer that touched a path"),
    "find": ("find", "find paths by regex across all layers"),
    "diff": ("diff", "compare two images: every path added, removed or changed"),
    "shared": ("shared", "which layers local images share, and the bytes it saves"),
    "container": ("container", "a container's image plus its writable layer"),
}


def _handler(name: str) -> Callable[[list[str]], int] | None:
    target = COMMANDS.get(name, (None, ""))[0]
    if isinstance(target, str):
        return importlib.import_module(f"dive_py.commands.{target}").main
    return target


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    handler = _handler(argv[0]) if argv else None
    try:
        if handler is not None:
            return handler(argv[1:])
        return cmd_analyze(argv)
    except DivePyError as exc:
        if debug:
            raise
        print(f"divepy: {printable(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_OK
