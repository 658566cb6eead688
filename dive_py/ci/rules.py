"""dive's CI rules: thresholds from .dive-ci or flags, evaluated against an Analysis."""

from __future__ import annotations

import os
from dataclasses import dataclass
from enum import Enum
from typing import Any

from dive_py.analysis.analyze import Analysis
from dive_py.ci.goformat import go_value, parse_bytes
from dive_py.config import read_yaml
from dive_py.errors import ConfigError

LOWEST_EFFICIENCY = "lowestEfficiency"
HIGHEST_WASTED_BYTES = "highestWastedBytes"
HIGHEST_USER_WASTED_PERCENT = "highestUserWastedPercent"
HIGHEST_RECLAIMABLE_BYTES = "highestReclaimableBytes"  # divepy's own, off unless set

DEFAULTS = {
    LOWEST_EFFICIENCY: "0.9",
    HIGHEST_WASTED_BYTES: "disabled",
    HIGHEST_USER_WASTED_PERCENT: "0.1",
    HIGHEST_RECLAIMABLE_BYTES: "disabled",
}
DIVE_RULES = (LOWEST_EFFICIENCY, HIGHEST_WASTED_BYTES, HIGHEST_USER_WASTED_PERCENT)
_KEBAB = {"lowest-efficiency": LOWEST_EFFICIENCY, "highest-wasted-bytes": HIGHEST_WASTED_BYTES,
          "highest-user-wasted-percent": HIGHEST_USER_WASTED_PERCENT,
          "highest-reclaimable-bytes": HIGHEST_RECLAIMABLE_BYTES}


class Status(Enum):
    PASS = "PASS"
    FAIL = "FAIL"
    SKIP = "SKIP"


@dataclass(frozen=True)
class Rule:
    key: str
    raw: str  # the configured value as written
    threshold: float | int | None  # None: disabled

    @property
    def enabled(self) -> bool:
        return self.threshold is not None


@dataclass(frozen=True)
class Result:
    rule: Rule
    status: Status
    message: str


def _is_disabled(value: str) -> bool:
    return value.strip().lower() in ("", "disabled", "off", "false")


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def make_rule(key: str, raw: Any, origin: str) -> Rule:
    text = _as_text(raw)
    if _is_disabled(text):
        return Rule(key, "disabled", None)
    if key in (HIGHEST_WASTED_BYTES, HIGHEST_RECLAIMABLE_BYTES):
        try:
            return Rule(key, text, parse_bytes(text))
        except ValueError as exc:
            raise ConfigError(f"{key}: invalid value {text!r} in {origin} ({exc})") from None
    try:
        threshold = float(text)
    except ValueError:
        raise ConfigError(f"{key}: invalid value {text!r} in {origin} (expected a ratio between 0 and 1)") from None
    if not 0 <= threshold <= 1:
        raise ConfigError(f"{key}: {text} in {origin} is outside the allowed range 0-1")
    return Rule(key, text, threshold)


def load_ci_config(path: str | None) -> tuple[dict[str, Any], str | None]:
    """The `rules:` of a .dive-ci file: (values by camelCase key, the file used or None).

    An explicit path must exist; the default `.dive-ci` is used only if it is there.
    """
    explicit = path is not None
    path = path or ".dive-ci"
    if not os.path.exists(path):
        if explicit:
            raise ConfigError(f"CI config {path}: no such file")
        return {}, None
    doc = read_yaml(path, "CI config")
    if doc is None:
        return {}, path
    if not isinstance(doc, dict) or not isinstance(doc.get("rules", {}) or {}, dict):
        raise ConfigError(f"CI config {path}: expected a mapping with a 'rules:' mapping")
    values = {}
    for key, value in (doc.get("rules") or {}).items():
        name = _KEBAB.get(str(key), str(key))
        if name not in DEFAULTS:
            raise ConfigError(f"CI config {path}: unknown rule {key!r}")
        values[name] = value
    return values, path


def build_rules(file_values: dict[str, Any], origin: str | None, overrides: dict[str, str | None]) -> list[Rule]:
    rules = []
    for key, default in DEFAULTS.items():
        if overrides.get(key) is not None:
            rules.append(make_rule(key, overrides[key], f"--{key}"))
        elif key in file_values:
            rules.append(make_rule(key, file_values[key], origin or ".dive-ci"))
        else:
            rules.append(make_rule(key, default, "defaults"))
    return rules


def evaluate(rule: Rule, analysis: Analysis) -> Result:
    if not rule.enabled:
        return Result(rule, Status.SKIP, "rule disabled")
    th = rule.threshold
    if rule.key == LOWEST_EFFICIENCY and th > analysis.score:  # type: ignore[operator]
        return Result(rule, Status.FAIL, "image efficiency is too low "
                      f"(efficiency={go_value(analysis.score)} < threshold={go_value(th)})")  # type: ignore[arg-type]
    if rule.key == HIGHEST_WASTED_BYTES and analysis.wasted_bytes > th:  # type: ignore[operator]
        return Result(rule, Status.FAIL, f"too many bytes wasted (wasted-bytes={analysis.wasted_bytes} > threshold={th})")
    if rule.key == HIGHEST_USER_WASTED_PERCENT and analysis.user_wasted_percent > th:  # type: ignore[operator]
        return Result(rule, Status.FAIL, "too many bytes wasted, relative to the user bytes added "
                      f"(%-user-wasted-bytes={go_value(analysis.user_wasted_percent)} > threshold={go_value(th)})")  # type: ignore[arg-type]
    if rule.key == HIGHEST_RECLAIMABLE_BYTES and analysis.reclaimable_bytes > th:  # type: ignore[operator]
        return Result(rule, Status.FAIL, f"too many reclaimable bytes (reclaimable-bytes={analysis.reclaimable_bytes} > threshold={th})")
    return Result(rule, Status.PASS, "")


def evaluate_all(rules: list[Rule], analysis: Analysis) -> list[Result]:
    """Results sorted by rule name, as dive prints them; divepy's own rules only when enabled."""
    results = [evaluate(r, analysis) for r in rules if r.key in DIVE_RULES or r.enabled]
    return sorted(results, key=lambda r: r.rule.key)
