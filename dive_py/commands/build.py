"""`divepy build [docker build args] CONTEXT`: build an image, then analyse it.

With Docker and its CLI on PATH the build runs through `docker build` (every docker build
option works, the log is the CLI's own); otherwise (podman, or no CLI) through the engine's
API via the Docker SDK, which takes -f, -t, --build-arg, --target, --network, --label,
--platform, --pull and --no-cache. The log goes to stderr so stdout stays the report's.
Then the built image is analysed as `divepy IMAGE` would: the explorer, or CI mode.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

from dive_py.commands.common import default_engine, status
from dive_py.errors import BuildError, UsageError, printable

DOCKERFILE_NAMES = ("Dockerfile", "Containerfile")


def _parser() -> argparse.ArgumentParser:
    from dive_py.cli import add_analysis_options

    p = argparse.ArgumentParser(
        prog="divepy build", usage="divepy build [docker build options] [divepy options] CONTEXT",
        description="Build an image from a Dockerfile (or Containerfile), then explore or check it.",
        conflict_handler="resolve")  # build's own meaning wins where names clash (--no-cache)
    add_analysis_options(p)
    build = p.add_argument_group("build options (passed to the engine)")
    build.add_argument("-f", "--file", help="the Dockerfile (default: CONTEXT/Dockerfile, else CONTEXT/Containerfile)")
    build.add_argument("-t", "--tag", action="append", default=[], help="name:tag for the image (repeatable)")
    build.add_argument("--build-arg", action="append", default=[], metavar="NAME=VALUE", help="build-time variable")
    build.add_argument("--target", help="the stage to build")
    build.add_argument("--network", help="networking mode for RUN steps")
    build.add_argument("--label", action="append", default=[], metavar="NAME=VALUE", help="image label")
    build.add_argument("--pull", action="store_true", help="always pull the base images")
    build.add_argument("--no-cache", dest="build_no_cache", action="store_true", help="do not use the build cache")
    return p


def split_context(argv: list[str]) -> tuple[list[str], str]:
    """docker build takes the context last; everything before it is options."""
    if not argv or argv[-1].startswith("-") and argv[-1] != "-":
        raise UsageError("divepy build: the build context (a directory) must come last")
    return argv[:-1], argv[-1]


def find_dockerfile(context: str, given: str | None) -> str:
    if given:
        if not os.path.isfile(given):
            raise UsageError(f"divepy build: no Dockerfile at {given}")
        return given
    for name in DOCKERFILE_NAMES:
        path = os.path.join(context, name)
        if os.path.isfile(path):
            return path
    raise UsageError(f"divepy build: no Dockerfile or Containerfile in {context}")


def _pairs(items: list[str], what: str) -> dict[str, str]:
    pairs = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not name:
            raise UsageError(f"divepy build: bad {what} {item!r} (expected NAME=VALUE)")
        # docker build takes the value from the environment for a bare NAME
        pairs[name] = value if sep else os.environ.get(name, "")
    return pairs


def _build_with_cli(args: argparse.Namespace, extra: list[str], context: str, dockerfile: str) -> str:
    with tempfile.TemporaryDirectory(prefix="divepy-build-") as tmp:
        iidfile = os.path.join(tmp, "iid")
        cmd = ["docker", "build", "--iidfile", iidfile, "-f", dockerfile]
        for tag in args.tag:
            cmd += ["-t", tag]
        for name, value in _pairs(args.build_arg, "--build-arg").items():
            cmd += ["--build-arg", f"{name}={value}"]
        for name, value in _pairs(args.label, "--label").items():
            cmd += ["--label", f"{name}={value}"]
        for flag, value in (("--target", args.target), ("--network", args.network), ("--platform", args.platform)):
            if value:
                cmd += [flag, value]
        cmd += ["--pull"] * args.pull + ["--no-cache"] * args.build_no_cache + extra + [context]
        env = dict(os.environ)
        if not shutil.which("docker-buildx") and not os.path.exists(
                os.path.expanduser("~/.docker/cli-plugins/docker-buildx")):
            env.setdefault("DOCKER_BUILDKIT", "0")  # no buildx here: the classic builder
        proc = subprocess.run(cmd, stdout=sys.stderr, stderr=sys.stderr, env=env)
        if proc.returncode != 0:
            raise BuildError(f"build of {context} failed (docker build exited {proc.returncode})")
        with open(iidfile, encoding="utf-8") as fh:
            return fh.read().strip()


def _build_with_sdk(args: argparse.Namespace, extra: list[str], context: str, dockerfile: str,
                    engine: str) -> str:
    from docker.errors import APIError, DockerException

    from dive_py.sources.daemon import connect

    if extra:
        raise UsageError(f"divepy build: {extra[0]} needs the docker CLI; through the {engine} API "
                         "divepy build takes -f, -t, --build-arg, --target, --network, --label, --platform, "
                         "--pull, --no-cache")
    client = connect(engine)
    relative = os.path.relpath(os.path.abspath(dockerfile), os.path.abspath(context))
    image_id, errors = "", []
    try:
        log = client.api.build(
            path=context, dockerfile=relative, tag=args.tag[0] if args.tag else None,
            buildargs=_pairs(args.build_arg, "--build-arg") or None,
            labels=_pairs(args.label, "--label") or None, target=args.target,
            network_mode=args.network, platform=args.platform, pull=args.pull,
            nocache=args.build_no_cache, rm=True, forcerm=True, decode=True)
        for chunk in log:
            if "stream" in chunk:
                sys.stderr.write(chunk["stream"])
                found = re.search(r"Successfully built ([0-9a-f]{12,64})", chunk["stream"])
                image_id = found.group(1) if found else image_id
            if "error" in chunk:
                errors.append(chunk["error"].strip())
                sys.stderr.write(chunk["error"].rstrip() + "\n")
            if isinstance(chunk.get("aux"), dict) and chunk["aux"].get("ID"):
                image_id = chunk["aux"]["ID"]
        sys.stderr.flush()
        if errors or not image_id:
            reason = errors[-1] if errors else "the engine reported no image"
            raise BuildError(f"build of {context} failed: {reason}")
        for tag in args.tag[1:]:
            repo, _, version = tag.rpartition(":") if ":" in tag.rsplit("/", 1)[-1] else (tag, "", "latest")
            client.images.get(image_id).tag(repo, version or "latest")
    except (APIError, DockerException) as exc:
        raise BuildError(f"build of {context} failed: {printable(str(exc)).splitlines()[0]}") from None
    return image_id


def main(argv: list[str]) -> int:
    from dive_py.cli import run_analysis

    if "-h" in argv or "--help" in argv:
        _parser().parse_args(["--help"])  # prints the help and exits
    options, context = split_context(argv)
    args, extra = _parser().parse_known_args(options)
    if not os.path.isdir(context):
        raise UsageError(f"divepy build: the context {context} is not a directory")
    dockerfile = find_dockerfile(context, args.file)
    engine = default_engine(args)
    if engine not in ("docker", "podman"):
        raise UsageError(f"divepy build: --source must be docker or podman, not {engine!r}")
    status(f"Building image from {context} with {engine} ...")
    if engine == "docker" and shutil.which("docker"):
        image_id = _build_with_cli(args, extra, context, dockerfile)
    else:
        image_id = _build_with_sdk(args, extra, context, dockerfile, engine)
    args.source = engine
    return run_analysis(args, args.tag[0] if args.tag else image_id)
