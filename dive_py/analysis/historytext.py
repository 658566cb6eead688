"""A history entry's `created_by` turned back into the Dockerfile instruction that wrote it.

The engines write it in different shapes, all handled here:
- Docker's classic builder: `/bin/sh -c #(nop)  ENV A=b` for metadata steps (quotes lost, lists
  in Go syntax: `CMD ["a" "b"]`, `VOLUME [/a /b]`, HEALTHCHECK as a Go struct), `/bin/sh -c cmd`
  for RUN, `|1 ARG=value /bin/sh -c cmd` for RUN with build args in scope, and
  `COPY --chown=1:2file:<digest> in /dst` for COPY/ADD;
- BuildKit: the instruction itself (`ENV A=b`, `RUN /bin/sh -c cmd # buildkit`, `EXPOSE map[80/tcp:{}]`);
- podman/buildah: `/bin/sh -c #(nop) ` followed by the instruction as written in the Dockerfile.
"""

from __future__ import annotations

import codecs
import json
import re
import shlex
from dataclasses import dataclass

from dive_py.analysis.imageconfig import MASK, is_secret_name

NOP = "#(nop) "
BUILDKIT_MARK = "# buildkit"
DEFAULT_SHELL = "/bin/sh -c"
KEYWORDS = ("ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK",
            "LABEL", "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME",
            "WORKDIR")
_GO_STRING = r'"(?:[^"\\]|\\.)*"'
_BUILD_ARGS = re.compile(r"\|(\d+) (.*)", re.S)
_COPY = re.compile(r"(?P<opts>.*?)(?P<src>(?:file|dir|multi):[0-9a-f]+) in (?P<dst>.*)", re.S)
_HEALTH = re.compile(rf"&\{{\[(?P<test>(?:{_GO_STRING}\s*)*)\]\s*(?P<times>(?:{_GO_STRING}\s*)*)"
                     r"(?P<retries>'(?:[^'\\]|\\.)*')?\s*\}", re.S)
_HEALTH_OPTIONS = ("--interval", "--timeout", "--start-period", "--start-interval")


@dataclass(frozen=True, slots=True)
class Context:
    """What the reader knows while walking the history: the SHELL in effect, and the keys the
    final config has (Env names, Label keys) to split Docker's unquoted `ENV A=x y B=z`."""

    shell: str = DEFAULT_SHELL
    env_names: frozenset[str] = frozenset()
    label_keys: frozenset[str] = frozenset()
    show_secrets: bool = False


@dataclass(frozen=True, slots=True)
class Parsed:
    """`instruction` is None when the text names no instruction (imported or unknown steps);
    `build_args` are the `|N` arguments of a classic RUN; `shell` is the SHELL after this step."""

    instruction: str | None
    build_args: tuple[str, ...] = ()
    shell: str | None = None


def parse(created_by: str, ctx: Context) -> Parsed:
    text = created_by.strip()
    if text.endswith(BUILDKIT_MARK):
        text = text[: -len(BUILDKIT_MARK)].rstrip()
    if not text:
        return Parsed(None)
    args, text = _split_build_args(text, ctx.shell)
    shown_args = tuple(_mask(a, ctx.show_secrets) for a in args)
    if NOP in text:
        text = text.split(NOP, 1)[1].strip()
    else:
        command = _strip_shell(text, ctx.shell)
        if command is not None:
            return Parsed(f"RUN {command}", shown_args)
        if args:  # only RUN steps carry build args: an exec-form RUN
            return Parsed(f"RUN {text}", shown_args)
    keyword, _, rest = text.partition(" ")
    if keyword not in KEYWORDS:
        return Parsed(None, shown_args)
    rest = rest.strip()
    if keyword == "RUN":
        inner_args, rest = _split_build_args(rest, ctx.shell)
        command = _strip_shell(rest, ctx.shell)
        shown = tuple(_mask(a, ctx.show_secrets) for a in inner_args) or shown_args
        return Parsed(f"RUN {command if command is not None else rest}", shown)
    if keyword == "SHELL":
        words = _list(rest)
        return Parsed(f"SHELL {json.dumps(words)}", shell=" ".join(words))
    return Parsed(_instruction(keyword, rest, ctx), shown_args)


def _instruction(keyword: str, rest: str, ctx: Context) -> str:
    if keyword == "ENV":
        return f"ENV {_pairs(rest, ctx.env_names, not ctx.show_secrets)}"
    if keyword == "LABEL":
        return f"LABEL {_pairs(rest, ctx.label_keys, False)}"
    if keyword == "ARG":
        return f"ARG {_mask(rest, ctx.show_secrets)}"
    if keyword in ("CMD", "ENTRYPOINT"):
        return f"{keyword} {_command_form(rest, ctx.shell)}"
    if keyword == "VOLUME":
        return f"VOLUME {json.dumps(_list(rest))}" if rest.startswith("[") else f"VOLUME {rest}"
    if keyword == "EXPOSE" and rest.startswith("map["):
        return "EXPOSE " + " ".join(re.findall(r"([^\s\[\]:{}]+):\{\}", rest))
    if keyword == "HEALTHCHECK" and rest.startswith("&{"):
        return f"HEALTHCHECK {_healthcheck(rest, ctx.shell)}"
    if keyword in ("COPY", "ADD"):
        match = _COPY.fullmatch(rest)
        if match:
            opts = re.findall(r"--[\w-]+(?:=\S*?)?(?=\s*--|\s*$)", match["opts"].strip())
            return " ".join([keyword, *opts, match["src"], match["dst"].strip()])
    return f"{keyword} {rest}".rstrip()


def _split_build_args(text: str, shell: str) -> tuple[list[str], str]:
    """`|2 A=1 B=x y /bin/sh -c cmd` -> (["A=1", "B=x y"], "/bin/sh -c cmd")."""
    match = _BUILD_ARGS.fullmatch(text)
    if not match:
        return [], text
    count, rest = int(match[1]), match[2]
    if count == 0:
        return [], rest
    for candidate in dict.fromkeys((shell, DEFAULT_SHELL)):
        at = rest.find(f" {candidate} ")
        if at >= 0:
            return _assignments(rest[:at]), rest[at + 1:]
    words = rest.split(" ")
    return words[:count], " ".join(words[count:])


def _assignments(text: str) -> list[str]:
    return [m.group(0).strip() for m in re.finditer(r"[^\s=]+=.*?(?=\s[^\s=]+=|$)", text, re.S)]


def _strip_shell(text: str, shell: str) -> str | None:
    for candidate in dict.fromkeys((shell, DEFAULT_SHELL)):
        if text.startswith(candidate + " "):
            return text[len(candidate) + 1:]
    return None


def _mask(assignment: str, show_secrets: bool) -> str:
    name, eq, _ = assignment.partition("=")
    return f"{name}={MASK}" if eq and not show_secrets and is_secret_name(name) else assignment


def _quote(value: str) -> str:
    if value and re.fullmatch(r"[^\s\"'\\$]+", value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$") + '"'


def _pairs(text: str, known: frozenset[str], mask: bool) -> str:
    """ENV/LABEL `k=v ...` re-quoted. Podman keeps the Dockerfile's quotes (shlex reads them);
    Docker drops them, so its values are split where a key the final config has begins."""
    pairs: list[tuple[str, str]] | None = None
    try:
        words = shlex.split(text)
        if words and all("=" in w for w in words):
            pairs = [tuple(w.split("=", 1)) for w in words]  # type: ignore[misc]
    except ValueError:
        pass
    if pairs is None:
        keys = sorted((k for k in known if text.startswith(k + "=")), key=len, reverse=True)
        if keys:
            alternation = "|".join(re.escape(k) for k in sorted(known, key=len, reverse=True))
            key_re = rf"(?:^|(?<= ))(?P<key>{alternation})="
        elif "=" in text.split(" ", 1)[0]:
            key_re = r"(?:^|(?<= ))(?P<key>[^\s=]+)="
        else:  # the old `ENV name value` form
            name, _, value = text.partition(" ")
            return f"{name} {MASK if mask and is_secret_name(name) else value}"
        found = list(re.finditer(key_re, text))
        pairs = [(m["key"], text[m.end():found[i + 1].start() if i + 1 < len(found) else len(text)].rstrip())
                 for i, m in enumerate(found)]
    return " ".join(f"{_quote(k) if ' ' in k else k}={MASK if mask and is_secret_name(k) else _quote(v)}"
                    for k, v in pairs)


def _go_strings(text: str) -> list[str]:
    return [_unquote(m) for m in re.findall(_GO_STRING, text)]


def _unquote(token: str) -> str:
    try:
        return json.loads(token)
    except ValueError:  # Go escapes JSON lacks (\x, \a, \v)
        pass
    try:
        return codecs.decode(token[1:-1], "unicode_escape")
    except UnicodeDecodeError:  # not Go's either: keep the text as written
        return token[1:-1]


def _list(text: str) -> list[str]:
    """A list as an engine wrote it: JSON (podman), Go-quoted `["a" "b"]` or bare `[a b]` (Docker)."""
    try:
        value = json.loads(text)
        if isinstance(value, list):
            return [str(v) for v in value]
    except ValueError:
        pass
    if text.startswith("[") and text.endswith("]"):
        inner = text[1:-1]
        return _go_strings(inner) if inner.lstrip().startswith('"') else inner.split()
    return [text]


def _command_form(text: str, shell: str) -> str:
    """CMD/ENTRYPOINT: back to shell form when the list is the SHELL plus one string."""
    if not text.startswith("["):
        return text
    words = _list(text)
    for candidate in dict.fromkeys((shell, DEFAULT_SHELL)):
        prefix = candidate.split()
        if len(words) == len(prefix) + 1 and words[:-1] == prefix:
            return words[-1]
    return json.dumps(words, ensure_ascii=False)


def _healthcheck(text: str, shell: str) -> str:
    """Docker's Go struct `&{["CMD" "a"] "30s" "3s" "0s" '\\x03'}` back to HEALTHCHECK options."""
    match = _HEALTH.fullmatch(text)
    if not match:
        return text
    test = _go_strings(match["test"])
    if not test or test[0] == "NONE":
        return "NONE"
    options = [f"{name}={value}" for name, value in zip(_HEALTH_OPTIONS, _go_strings(match["times"]))
               if value not in ("0s", "")]
    rune = _unquote('"' + (match["retries"] or "''")[1:-1] + '"')
    if len(rune) == 1 and ord(rune):  # Go prints the retry count as a rune: '\x03'
        options.append(f"--retries={ord(rune)}")
    command = test[1] if test[0] == "CMD-SHELL" and len(test) == 2 else json.dumps(test[1:])
    return " ".join([*options, "CMD", command])
