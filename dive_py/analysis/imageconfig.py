"""The image's run configuration (what `docker inspect` calls Config) as one plain summary.

The explorer's config panel and the `config` section of `--json` both read `summarize()`, so
they always agree. Environment values whose names look like secrets are masked unless asked.
"""

from __future__ import annotations

import re
from typing import Any

from dive_py.model.image import Image

SECRET_WORDS = ("PASSWORD", "TOKEN", "SECRET", "KEY")
MASK = "******"

_NAMED = re.compile(r"(?P<name>[^=\s]+)=(?P<value>.*)", re.S)


def is_secret_name(name: str) -> bool:
    """Whether a variable's name says it holds a secret (API_KEY, DB_PASSWORD, GH_TOKEN...)."""
    upper = name.upper()
    return any(word in upper for word in SECRET_WORDS)


def mask_assignment(text: str, show_secrets: bool = False) -> str:
    """`NAME=value` with the value masked when NAME looks like a secret."""
    match = _NAMED.fullmatch(text)
    if show_secrets or match is None or not is_secret_name(match["name"]):
        return text
    return f"{match['name']}={MASK}"


def run_config(config: dict[str, Any]) -> dict[str, Any]:
    """The `config` object of an image config (Docker writes `config`, some tools `Config`)."""
    for key in ("config", "Config"):
        value = config.get(key)
        if isinstance(value, dict):
            return value
    return {}


def _strings(value: Any) -> list[str] | None:
    if isinstance(value, list):
        return [str(v) for v in value]
    if isinstance(value, str):
        return [value]
    return None


def _keys(value: Any) -> list[str]:
    return sorted(str(k) for k in value) if isinstance(value, dict) else []


def _duration(nanoseconds: Any) -> str | None:
    """Go's time.Duration (nanoseconds) as dockerfile syntax: 30s, 1m30s, 500ms."""
    if not isinstance(nanoseconds, int) or nanoseconds <= 0:
        return None
    if nanoseconds % 1_000_000_000:
        return f"{nanoseconds // 1_000_000}ms"
    seconds = nanoseconds // 1_000_000_000
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "")
    return text + (f"{secs}s" if secs or not text else "")


def healthcheck(value: Any) -> dict[str, Any] | None:
    """The HEALTHCHECK: its test and, when set, its timings (as 30s) and retries."""
    if not isinstance(value, dict):
        return None
    result: dict[str, Any] = {"test": _strings(value.get("Test")) or []}
    for key in ("Interval", "Timeout", "StartPeriod", "StartInterval"):
        text = _duration(value.get(key))
        if text:
            result[key[0].lower() + key[1:]] = text
    if isinstance(value.get("Retries"), int) and value["Retries"] > 0:
        result["retries"] = value["Retries"]
    return result


def summarize(image: Image, show_secrets: bool = False) -> dict[str, Any]:
    """Entrypoint, Cmd, Env (secrets masked), ports, volumes, user, workdir, labels, healthcheck,
    stop signal, platform, created time, and the engine's tags, digests and storage driver.

    Values the image does not set are None (lists and maps: empty), so every key is always there.
    """
    config = image.config
    run = run_config(config)
    env = [mask_assignment(item, show_secrets) for item in _strings(run.get("Env")) or []]
    labels = run.get("Labels") if isinstance(run.get("Labels"), dict) else {}
    storage = None
    if image.storage is not None:
        storage = {"driver": image.storage.driver, "data": dict(image.storage.data)}
    return {
        "entrypoint": _strings(run.get("Entrypoint")),
        "cmd": _strings(run.get("Cmd")),
        "env": env,
        "exposedPorts": _keys(run.get("ExposedPorts")),
        "volumes": _keys(run.get("Volumes")),
        "user": str(run.get("User") or "") or None,
        "workingDir": str(run.get("WorkingDir") or "") or None,
        "labels": {str(k): str(v) for k, v in sorted(labels.items())},
        "healthcheck": healthcheck(run.get("Healthcheck")),
        "stopSignal": str(run.get("StopSignal") or "") or None,
        "shell": _strings(run.get("Shell")),
        "onBuild": _strings(run.get("OnBuild")) or [],
        "architecture": str(config.get("architecture") or "") or None,
        "os": str(config.get("os") or "") or None,
        "variant": str(config.get("variant") or "") or None,
        "created": str(config.get("created") or "") or None,
        "imageId": image.image_id or None,
        "tags": list(image.tags),
        "repoDigests": list(image.repo_digests),
        "storage": storage,
    }
