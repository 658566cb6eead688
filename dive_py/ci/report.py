"""The CI report as dive prints it, plus divepy's reclaimable bytes; JUnit and Markdown forms."""

from __future__ import annotations

import math
import os
import re
import sys
from typing import TextIO

from dive_py.analysis.analyze import Analysis
from dive_py.ci.goformat import go_bytes
from dive_py.ci.rules import Result, Status
from dive_py.errors import printable

BOLD, RESET, RED, GREEN = "\x1b[1m", "\x1b[0m", "\x1b[31m", "\x1b[32m"
_STATUS_STYLE = {Status.FAIL: "\x1b[1;7;31m", Status.SKIP: "\x1b[34m", Status.PASS: ""}


def use_colour(stream: TextIO) -> bool:
    return stream.isatty() and "NO_COLOR" not in os.environ


def _percent(value: float) -> str:
    if math.isnan(value):
        return "NaN %"
    if math.isinf(value):
        return "+Inf %"
    return f"{value * 100:.4f} %"


def analysis_lines(analysis: Analysis, colour: bool) -> list[str]:
    title = (lambda t: f"{BOLD}{t}{RESET}") if colour else (lambda t: t)
    lines = [
        f"  efficiency: {_percent(analysis.score)}",
        f"  wastedBytes: {analysis.wasted_bytes} bytes ({go_bytes(analysis.wasted_bytes)})",
        f"  userWastedPercent: {_percent(analysis.user_wasted_percent)}",
        f"  reclaimableBytes: {analysis.reclaimable_bytes} bytes ({go_bytes(analysis.reclaimable_bytes)})",
        title("Inefficient Files:"),
        "Count  Wasted Space  File Path",
    ]
    if not analysis.inefficiencies:
        lines.append("None")
    for item in analysis.inefficiencies:
        lines.append(f"{item.count:5d}  {go_bytes(item.cumulative_size):>12}  {printable(item.path)}")
    return lines


def result_lines(results: list[Result], colour: bool) -> list[str]:
    lines = [f"{BOLD}Results:{RESET}" if colour else "Results:"]
    for result in results:
        status = result.status.value
        style = _STATUS_STYLE[result.status]
        if colour and style:
            status = f"{style}{status}{RESET}"
        text = f"  {status}: {result.rule.key}"
        if result.message:
            text += f": {result.message}"
        lines.append(text)
    passed = sum(r.status == Status.PASS for r in results)
    failed = sum(r.status == Status.FAIL for r in results)
    skipped = sum(r.status == Status.SKIP for r in results)
    verdict = "FAIL" if failed else "PASS"
    summary = (f"Result:{verdict} [Total:{len(results)}] [Passed:{passed}] [Failed:{failed}] "
               f"[Warn:0] [Skipped:{skipped}]")
    if colour:
        summary = (RED if failed else GREEN) + summary + RESET
    lines.append(summary)
    return lines


def hint_lines(analysis: Analysis, colour: bool) -> list[str]:
    """divepy's advice, after dive's lines so that everything before it reads as dive's."""
    if not analysis.hints:
        return []
    lines = [f"{BOLD}Hints:{RESET}" if colour else "Hints:"]
    for hint in analysis.hints:
        lines.append(f"  [{hint.kind}] saves {hint.bytes_saved} bytes ({go_bytes(hint.bytes_saved)}): "
                     f"{printable(hint.message)}")
    return lines


def print_report(analysis: Analysis, results: list[Result], stream: TextIO = sys.stdout) -> None:
    colour = use_colour(stream)
    lines = analysis_lines(analysis, colour) + result_lines(results, colour) + hint_lines(analysis, colour)
    stream.write("\n".join(lines) + "\n")  # one write: reports can run to many thousand lines


def junit_xml(analysis: Analysis, results: list[Result]) -> str:
    """One test case per rule, so CI systems show the rules natively."""
    from xml.etree import ElementTree as ET  # only for --junit: keeps the CI report's start quick

    suite = ET.Element("testsuite", name=f"divepy {printable(analysis.image.name)}",
                       tests=str(len(results)),
                       failures=str(sum(r.status == Status.FAIL for r in results)),
                       skipped=str(sum(r.status == Status.SKIP for r in results)))
    for result in results:
        case = ET.SubElement(suite, "testcase", classname="divepy.rules", name=result.rule.key)
        if result.status == Status.FAIL:
            ET.SubElement(case, "failure", message=result.message).text = result.message
        elif result.status == Status.SKIP:
            ET.SubElement(case, "skipped", message=result.message)
    out = ET.SubElement(suite, "system-out")
    out.text = "\n".join(analysis_lines(analysis, colour=False) + hint_lines(analysis, colour=False))
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _md_cell(text: str) -> str:
    return printable(text).replace("|", "\\|").replace("`", "\\`")


def _md_code(text: str) -> str:
    """A name as a code span in a table cell. A backslash does not escape a backtick inside a
    code span, so the fence is one backtick longer than any run in the name: a name like
    "`![x](http://…)`" stays text instead of becoming an image in the job summary."""
    text = printable(text).replace("|", "\\|")
    longest = max((len(run) for run in re.findall("`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def markdown(analysis: Analysis, results: list[Result], top: int = 10) -> str:
    """A summary that fits GitHub's job summary: figures, rules, top inefficient files."""
    failed = any(r.status == Status.FAIL for r in results)
    lines = [
        f"## divepy: {_md_code(analysis.image.name)} {'❌ FAIL' if failed else '✅ PASS'}",
        "",
        "| Figure | Value |",
        "| --- | --- |",
        f"| Efficiency | {_percent(analysis.score)} |",
        f"| Image size | {go_bytes(analysis.size)} ({analysis.size} bytes) |",
        f"| Wasted bytes | {go_bytes(analysis.wasted_bytes)} ({analysis.wasted_bytes} bytes) |",
        f"| User wasted percent | {_percent(analysis.user_wasted_percent)} |",
        f"| Reclaimable bytes | {go_bytes(analysis.reclaimable_bytes)} ({analysis.reclaimable_bytes} bytes) |",
        "",
        "| Rule | Result | Detail |",
        "| --- | --- | --- |",
    ]
    for r in results:
        lines.append(f"| {r.rule.key} | {r.status.value} | {_md_cell(r.message or r.rule.raw)} |")
    lines += ["", "| Count | Wasted space | File |", "| ---: | ---: | --- |"]
    for item in analysis.inefficiencies[:top]:
        lines.append(f"| {item.count} | {go_bytes(item.cumulative_size)} | {_md_code(item.path)} |")
    if not analysis.inefficiencies:
        lines.append("| | | (none) |")
    elif len(analysis.inefficiencies) > top:
        lines.append(f"| | | … and {len(analysis.inefficiencies) - top} more |")
    if analysis.hints:
        lines += ["", "### Hints", "", "| Saves | Kind | Layers | Hint |", "| ---: | --- | --- | --- |"]
        for hint in analysis.hints[:top]:
            lines.append(f"| {go_bytes(hint.bytes_saved)} | {hint.kind} | {', '.join(map(str, hint.layers))} "
                         f"| {_md_cell(hint.message)} |")
        if len(analysis.hints) > top:
            lines.append(f"| | | | … and {len(analysis.hints) - top} more |")
    return "\n".join(lines) + "\n"
