"""The built-in demo image: small, deterministic, and full of the waste real images have.

Layers: a base system; a package install that leaves apt lists and caches behind; a layer
that deletes those lists (too late: they stay in the layer below); a copied app; a chmod of
the app (every file stored again for a mode change); a pip install with its cache; and a
directory made opaque, as overlay-based builders write it. Metadata-only steps (ENV, EXPOSE,
CMD) sit between them. The same generator feeds tests and screenshots.
"""

from __future__ import annotations

import os
import random

from dive_py.imagewriter import Entry, dir_entry, write_docker_archive

DEMO_TAG = "divepy/demo:latest"
DEMO_VERSION = 1  # bump when the content changes, so cached copies are rebuilt


def _blob(rng: random.Random, size: int) -> bytes:
    return rng.randbytes(size)


def _text(line: str, times: int) -> bytes:
    return "".join(f"{line} {i}\n" for i in range(times)).encode()


def demo_layers() -> tuple[list[list[Entry]], list[dict]]:
    rng = random.Random(20241128)
    busybox = _blob(rng, 420_000)
    libc = _blob(rng, 230_000)
    base = [
        dir_entry("bin"), Entry("bin/busybox", data=busybox, mode=0o755),
        Entry("bin/sh", "2", link="busybox", mode=0o777), Entry("bin/ls", "2", link="busybox", mode=0o777),
        dir_entry("etc"), Entry("etc/passwd", data=b"root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n"),
        Entry("etc/group", data=b"root:x:0:\napp:x:1000:\n"),
        Entry("etc/os-release", data=b'NAME="Demo Linux"\nVERSION_ID="1"\n'),
        Entry("etc/shadow", data=b"root:*:19000:0:99999:7:::\n", mode=0o640),
        dir_entry("etc/app"), Entry("etc/app/defaults.conf", data=_text("option", 40)),
        Entry("etc/app/legacy.conf", data=_text("legacy", 80)),
        dir_entry("lib"), Entry("lib/libc.so.6", data=libc, mode=0o755),
        dir_entry("usr"), dir_entry("usr/bin"), Entry("usr/bin/test", "1", link="bin/busybox", mode=0o755),
        dir_entry("usr/share"), dir_entry("usr/share/doc"),
        dir_entry("usr/share/doc/busybox"), Entry("usr/share/doc/busybox/README", data=_text("busybox docs", 300)),
        dir_entry("usr/share/doc/libc"), Entry("usr/share/doc/libc/copyright", data=_text("copyright", 120)),
        dir_entry("var"), dir_entry("var/lib"), dir_entry("var/lib/apt"), dir_entry("var/lib/apt/lists"),
        dir_entry("var/cache"), dir_entry("var/cache/apt"),
        dir_entry("tmp", mode=0o1777), dir_entry("root", mode=0o700),
        dir_entry("home"), dir_entry("home/app", uid=1000, gid=1000),
        Entry("dev/null", "3", mode=0o666),
    ]
    packages = [
        dir_entry("usr/bin"), Entry("usr/bin/curl", data=_blob(rng, 180_000), mode=0o755),
        dir_entry("usr/lib"), Entry("usr/lib/libcurl.so.4", data=_blob(rng, 310_000), mode=0o755),
        Entry("usr/lib/libssl.so.3", data=_blob(rng, 260_000), mode=0o755),
        dir_entry("var/lib/apt/lists"),
        Entry("var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages",
              data=_text("Package: something", 24_000)),
        Entry("var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_InRelease", data=_text("Release", 2_000)),
        dir_entry("var/cache/apt"), Entry("var/cache/apt/pkgcache.bin", data=_blob(rng, 120_000)),
        dir_entry("var/cache/apt/archives"),
        Entry("var/cache/apt/archives/curl_7.88.1_amd64.deb", data=_blob(rng, 160_000)),
        dir_entry("etc"), Entry("etc/ld.so.cache", data=_blob(rng, 9_000)),
    ]
    cleanup = [
        dir_entry("var/lib/apt/lists"),
        Entry("var/lib/apt/lists/.wh.deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages"),
        Entry("var/lib/apt/lists/.wh.deb.debian.org_debian_dists_bookworm_InRelease"),
    ]
    app_files = {
        "app/server.py": _text("print('serving request')", 400),
        "app/requirements.txt": b"flask==3.0.0\nrequests==2.31.0\n",
        "app/config.yaml": _text("key: value", 30),
        "app/static/logo.png": _blob(rng, 64_000),
        "app/static/app.js": _text("console.log('hello')", 900),
        "app/static/style.css": _text("body { margin: 0 }", 200),
    }
    app = [dir_entry("app", uid=1000, gid=1000), dir_entry("app/static", uid=1000, gid=1000)]
    app += [Entry(p, data=d, uid=1000, gid=1000) for p, d in app_files.items()]
    chmod = [dir_entry("app", mode=0o755, uid=1000, gid=1000), dir_entry("app/static", uid=1000, gid=1000)]
    chmod += [Entry(p, data=d, mode=0o755, uid=1000, gid=1000) for p, d in app_files.items()]
    site = "usr/local/lib/python3.11/site-packages"
    pip = [dir_entry("usr/local"), dir_entry("usr/local/lib"), dir_entry("usr/local/lib/python3.11"),
           dir_entry(site), dir_entry(f"{site}/flask"), Entry(f"{site}/flask/__init__.py", data=_text("flask", 700)),
           Entry(f"{site}/flask/app.py", data=_text("class Flask", 2_500)),
           dir_entry(f"{site}/requests"), Entry(f"{site}/requests/__init__.py", data=_text("requests", 900)),
           dir_entry("root/.cache"), dir_entry("root/.cache/pip"), dir_entry("root/.cache/pip/http"),
           Entry("root/.cache/pip/http/flask-3.0.0-py3-none-any.whl", data=_blob(rng, 101_000)),
           Entry("root/.cache/pip/http/requests-2.31.0-py3-none-any.whl", data=_blob(rng, 62_000))]
    opaque = [dir_entry("etc/app"), Entry("etc/app/.wh..wh..opq"),
              Entry("etc/app/app.conf", data=_text("setting", 60))]
    layers = [base, packages, cleanup, app, chmod, pip, opaque]
    history = [
        {"created_by": "/bin/sh -c #(nop) ADD file:4bd8c0b3ed3bb5c1e0c1bc6e7d8b4f1a in / "},
        {"created_by": '/bin/sh -c #(nop)  CMD ["sh"]', "empty_layer": True},
        {"created_by": "/bin/sh -c apt-get update && apt-get install -y curl"},
        {"created_by": "/bin/sh -c #(nop)  ENV APP_HOME=/app", "empty_layer": True},
        {"created_by": "/bin/sh -c rm -rf /var/lib/apt/lists/*"},
        {"created_by": "/bin/sh -c #(nop) COPY dir:6c1bd1e1a0d1 in /app "},
        {"created_by": "/bin/sh -c chmod -R 755 /app"},
        {"created_by": "/bin/sh -c pip install -r /app/requirements.txt"},
        {"created_by": "/bin/sh -c rm -rf /etc/app && mkdir /etc/app && echo setting > /etc/app/app.conf"},
        {"created_by": "/bin/sh -c #(nop)  EXPOSE 8080/tcp", "empty_layer": True},
        {"created_by": '/bin/sh -c #(nop)  CMD ["python3", "/app/server.py"]', "empty_layer": True},
    ]
    return layers, history


def cache_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "divepy")


def demo_archive(directory: str | None = None) -> str:
    """Path of the demo archive, written on first use into divepy's cache folder."""
    directory = directory or cache_dir()
    path = os.path.join(directory, f"demo-v{DEMO_VERSION}.tar")
    if not os.path.exists(path):
        layers, history = demo_layers()
        write_docker_archive(path, layers, history, tag=DEMO_TAG, config_extra={
            "config": {"Env": ["PATH=/usr/local/bin:/usr/bin:/bin", "APP_HOME=/app"],
                       "Cmd": ["python3", "/app/server.py"], "ExposedPorts": {"8080/tcp": {}},
                       "WorkingDir": "/app", "User": "app"}})
    return path
