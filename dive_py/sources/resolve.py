"""A reference ("nginx:latest", "docker-archive://x.tar", "./image.tar", --source podman) -> a Source."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace

from dive_py.errors import SourceError, UsageError
from dive_py.gcpause import without_collector
from dive_py.model.image import Image
from dive_py.sources import archive, daemon
from dive_py.sources.archive import Progress
from dive_py.sources.early import EarlyOutline, outline_early
from dive_py.sources.layercache import LayerCache
from dive_py.sources.loader import OnLayer, OnOutline, load_image, outline_of

ENGINES = ("docker", "podman")
FILE_SCHEMES = ("docker-archive", "oci-archive", "oci")
SOURCES = ENGINES + FILE_SCHEMES + ("registry",)


@dataclass(frozen=True)
class Source:
    kind: str  # one of SOURCES
    ref: str  # image reference for engines and registries, a path for files
    platform: str | None = None
    insecure: bool = False  # registry: plain http allowed for any host, not only loopback
    cache: bool = True  # read and fill the layer cache (--no-cache: False)
    # engines: the outline fetched ahead (sources.early), handed to the first load's on_outline
    early: EarlyOutline | None = field(default=None, compare=False, repr=False)

    def describe(self) -> str:
        return f"{self.kind}://{self.ref}"

    @without_collector
    def load(self, progress: Progress | None = None, keep_broken: bool = False,
             on_outline: OnOutline | None = None, on_layer: OnLayer | None = None) -> Image:
        """The image; with `keep_broken`, unreadable layers come back empty with their error
        (for the explorer) instead of failing the whole load. `on_outline` gets the layer list
        before any layer is read, `on_layer(index, (entries, size))` each layer as it is read
        (see sources.loader)."""
        cache = LayerCache() if self.cache else None
        if self.kind in ENGINES:
            if self.early is not None and on_outline is not None and (ahead := self.early()) is not None:
                on_outline(ahead)
                on_outline = None
            return daemon.load(self.ref, self.kind, progress, self.platform, keep_broken, cache,
                               on_outline, on_layer)
        if self.kind == "registry":
            from dive_py.sources import registry  # urllib3 and friends: only when asked for

            return registry.load(self.ref, self.platform, progress, self.insecure)
        if not os.path.exists(self.ref):
            raise SourceError(f"{self.ref}: no such file or directory")
        with archive.open_blobs(self.ref, progress) as blobs:
            return load_image(blobs, self.ref, self._file_name(), self.kind, self.platform, keep_broken, cache,
                              on_outline, on_layer)


    def with_early_outline(self) -> Source:
        """For an engine image, start fetching the layer list now, in a child process (see
        sources.early); call before any thread starts."""
        if self.kind not in ENGINES or self.early is not None:
            return self
        return replace(self, early=outline_early(self.ref, self.kind))

    def outline(self) -> Image | None:
        """The image with its layers listed but not read (sizes unknown), when that costs no
        layer: from an archive or layout, its manifest and config; from an engine, `inspect`
        and the config an earlier load cached. None where it would (a registry, --no-cache,
        an engine image never loaded before)."""
        if not self.cache or self.kind == "registry":
            return None
        if self.kind in ENGINES:
            return daemon.cached_outline(self.ref, self.kind, LayerCache())
        if not (os.path.isfile(self.ref) or os.path.isdir(self.ref)):
            return None  # a pipe or a device: what is read for an outline is gone for the load
        with archive.open_blobs(self.ref) as blobs:
            plan = archive.image_plan(blobs, self.ref, self.platform)
        return outline_of(plan, self._file_name(), self.kind)

    def _file_name(self) -> str:
        return os.path.basename(os.path.normpath(self.ref))


def resolve(ref: str, source: str | None = None, platform: str | None = None,
            engine: str = "docker", insecure: bool = False, cache: bool = True) -> Source:
    """Pick the source: a scheme prefix, an explicit --source, an existing path, else `engine`
    (the config's container-engine). `insecure`: a registry may be plain http. `cache`: use
    the layer cache."""
    return replace(_resolve(ref, source, platform, engine), insecure=insecure, cache=cache)


def _resolve(ref: str, source: str | None, platform: str | None, engine: str) -> Source:
    if not ref:
        raise UsageError("no image given")
    scheme, sep, rest = ref.partition("://")
    if sep:
        if scheme not in SOURCES:
            raise UsageError(f"unknown source {scheme!r} in {ref!r} (use one of: {', '.join(SOURCES)})")
        return Source(scheme, rest, platform)
    if source:
        if source not in SOURCES:
            raise UsageError(f"unknown --source {source!r} (use one of: {', '.join(SOURCES)})")
        return Source(source, ref, platform)
    if os.path.isfile(ref) or os.path.isdir(ref):
        return Source("oci" if os.path.isdir(ref) else "docker-archive", ref, platform)
    return Source(engine, ref, platform)
