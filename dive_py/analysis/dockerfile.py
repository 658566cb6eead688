"""The Dockerfile behind an image, reconstructed from its history, one build step at a time.

Every step is tied to the layer it made (or to none: a metadata step) the way dive pairs them,
so each instruction can say which layer it produced and how big that layer is.
"""

from __future__ import annotations

from dataclasses import dataclass

import humanize

from dive_py.analysis.historytext import Context, parse
from dive_py.analysis.imageconfig import run_config
from dive_py.model.image import BuildStep, Image, build_steps


@dataclass(frozen=True, slots=True)
class Instruction:
    """One build step: the instruction (None when the history names none, e.g. an imported
    layer), the step and the layer it made, and notes (build args, the history's comment)."""

    text: str | None
    step: BuildStep
    size: int | None
    notes: tuple[str, ...] = ()

    @property
    def keyword(self) -> str | None:
        return self.text.split(" ", 1)[0] if self.text else None


def _context(image: Image, show_secrets: bool) -> Context:
    run = run_config(image.config)
    env = run.get("Env") if isinstance(run.get("Env"), list) else []
    labels = run.get("Labels") if isinstance(run.get("Labels"), dict) else {}
    return Context(env_names=frozenset(str(e).split("=", 1)[0] for e in env),
                   label_keys=frozenset(str(k) for k in labels), show_secrets=show_secrets)


def reconstruct(image: Image, show_secrets: bool = False) -> list[Instruction]:
    """Every build step in order, as an instruction with the layer it made."""
    ctx = _context(image, show_secrets)
    result = []
    for step in build_steps(image.history, len(image.layers)):
        size = image.layers[step.layer].size if step.layer is not None else None
        if step.history is None:
            result.append(Instruction(None, step, size))
            continue
        parsed = parse(step.history.created_by, ctx)
        if parsed.shell is not None:
            ctx = Context(parsed.shell, ctx.env_names, ctx.label_keys, ctx.show_secrets)
        notes = []
        if parsed.build_args:
            notes.append("build args: " + " ".join(parsed.build_args))
        if step.history.comment and (parsed.instruction is None or step.kind == "imported"):
            notes.append(f"comment: {step.history.comment}")
        if parsed.instruction is None and step.history.created_by:
            notes.append(f"not an instruction: {step.history.created_by}")
        result.append(Instruction(parsed.instruction, step, size, tuple(notes)))
    return result


def describe(instruction: Instruction) -> str:
    """What a step produced: `layer 3 · 4 Bytes`, `no layer`, `layer 0 · 2 MB · imported`..."""
    step = instruction.step
    if step.layer is None:
        what = "no layer" if step.kind == "no layer" else "no layer (history says it made one; the image has none left)"
    else:
        what = f"layer {step.layer} · {humanize.naturalsize(instruction.size or 0)}"
        if step.kind == "imported":
            what += " · imported (docker import)"
        elif step.kind == "no history":
            what += " · no history (squashed or hand-made)"
    return " · ".join([what, *instruction.notes])


def render(image: Image, instructions: list[Instruction]) -> str:
    """A Dockerfile: a `#` comment line above each instruction saying what it produced.

    (Dockerfiles only know whole-line comments, so the note cannot trail the instruction.)
    """
    name = image.tags[0] if image.tags else image.name
    made = sum(1 for i in instructions if i.step.layer is not None)
    lines = [f"# Reconstructed by divepy from the history of {name}: "
             f"{len(instructions)} steps, {made} layers.",
             "# COPY/ADD sources are the builder's content digests, not the original paths."]
    for instruction in instructions:
        lines.append("")
        lines.append("# " + " ".join(describe(instruction).splitlines()))
        if instruction.text is not None:
            lines.append(instruction.text)
    return "\n".join(lines) + "\n"
