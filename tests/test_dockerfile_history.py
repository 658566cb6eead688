"""History text -> Dockerfile instructions, and steps <-> layers, on the shapes engines write.

The engine-built images are in test_buildsteps_engine.py; here are the shapes this machine's
engines cannot make (BuildKit, overlay2) as published images carry them, and hand-made archives.
"""

from __future__ import annotations

import pytest

from dive_py.analysis.historytext import Context, parse
from dive_py.analysis.imageconfig import MASK, healthcheck, mask_assignment
from dive_py.imagewriter import Entry, write_docker_archive
from dive_py.model.image import HistoryStep, Storage, build_steps, pair_history
from dive_py.sources.resolve import Source
from tests.helpers import run_divepy

CTX = Context(env_names=frozenset({"PATH", "NGINX_VERSION", "API_KEY"}),
              label_keys=frozenset({"maintainer", "org.opencontainers.image.title"}))


@pytest.mark.parametrize(("created_by", "instruction"), [
    # BuildKit (docker buildx), as in official images' history
    ("RUN /bin/sh -c apt-get update && apt-get install -y curl # buildkit",
     "RUN apt-get update && apt-get install -y curl"),
    ("RUN |1 TARGETARCH=amd64 /bin/sh -c echo $TARGETARCH > /arch # buildkit", "RUN echo $TARGETARCH > /arch"),
    ("COPY docker-entrypoint.sh / # buildkit", "COPY docker-entrypoint.sh /"),
    ("COPY --chown=app:app /src /app # buildkit", "COPY --chown=app:app /src /app"),
    ("ENV NGINX_VERSION=1.25.3", "ENV NGINX_VERSION=1.25.3"),
    ("LABEL maintainer=NGINX Docker Maintainers <docker-maint@nginx.com>",
     'LABEL maintainer="NGINX Docker Maintainers <docker-maint@nginx.com>"'),
    ("EXPOSE map[80/tcp:{} 443/tcp:{}]", "EXPOSE 80/tcp 443/tcp"),
    ('CMD ["nginx" "-g" "daemon off;"]', 'CMD ["nginx", "-g", "daemon off;"]'),
    ('ENTRYPOINT ["/docker-entrypoint.sh"]', 'ENTRYPOINT ["/docker-entrypoint.sh"]'),
    ("ARG TARGETARCH", "ARG TARGETARCH"),
    ("STOPSIGNAL SIGQUIT", "STOPSIGNAL SIGQUIT"),
    ("WORKDIR /app", "WORKDIR /app"),
    ('HEALTHCHECK &{["CMD-SHELL" "curl -f http://localhost/ || exit 1"] "5m0s" "3s" "0s" "0s" \'\\x00\'}',
     'HEALTHCHECK --interval=5m0s --timeout=3s CMD curl -f http://localhost/ || exit 1'),
    ('HEALTHCHECK &{["NONE"] "0s" "0s" "0s" \'\\x00\'}', "HEALTHCHECK NONE"),
    ("VOLUME [/var/lib/mysql]", 'VOLUME ["/var/lib/mysql"]'),
    # classic builder base images
    ("/bin/sh -c #(nop) ADD file:5d6b639e8b6bcc01 in / ", "ADD file:5d6b639e8b6bcc01 /"),
    ('/bin/sh -c #(nop)  CMD ["/bin/sh" "-c" "nginx -g \'daemon off;\'"]', "CMD nginx -g 'daemon off;'"),
    ("/bin/sh -c #(nop)  MAINTAINER Jane <j@example.com>", "MAINTAINER Jane <j@example.com>"),
    ("/bin/sh -c #(nop)  ENV API_KEY=abc PATH=/usr/bin:/bin", f"ENV API_KEY={MASK} PATH=/usr/bin:/bin"),
    ("/bin/sh -c #(nop)  ENV API_KEY abc", f"ENV API_KEY {MASK}"),  # the old `ENV name value` form
    ("/bin/sh -c #(nop)  ARG GITHUB_TOKEN=ghp_123", f"ARG GITHUB_TOKEN={MASK}"),
    ("/bin/sh -c #(nop)  SHELL [/bin/bash -o pipefail -c]", 'SHELL ["/bin/bash", "-o", "pipefail", "-c"]'),
])
def test_history_shapes_become_instructions(created_by, instruction):
    assert parse(created_by, CTX).instruction == instruction


def test_shell_from_a_shell_step_is_stripped_from_later_runs():
    shell = parse("/bin/sh -c #(nop)  SHELL [/bin/bash -o pipefail -c]", CTX).shell
    later = Context(shell, CTX.env_names, CTX.label_keys)
    assert parse("|1 A=1 /bin/bash -o pipefail -c curl x | tar -x", later).instruction == "RUN curl x | tar -x"
    assert parse("|1 A=1 /bin/bash -o pipefail -c curl x", later).build_args == ("A=1",)


def test_build_args_are_kept_as_notes_and_secrets_masked():
    parsed = parse("|2 NPM_TOKEN=s3cr3t VERSION=2 /bin/sh -c npm ci", CTX)
    assert parsed.instruction == "RUN npm ci"
    assert parsed.build_args == (f"NPM_TOKEN={MASK}", "VERSION=2")
    shown = Context(show_secrets=True)
    assert parse("|2 NPM_TOKEN=s3cr3t VERSION=2 /bin/sh -c npm ci", shown).build_args == ("NPM_TOKEN=s3cr3t", "VERSION=2")


@pytest.mark.parametrize("created_by", [
    """/bin/sh -c #(nop)  HEALTHCHECK &{["CMD" "x"] "0s" 'ab'}""",
    """/bin/sh -c #(nop)  HEALTHCHECK &{["CMD" "x"] "0s" '\\xZZ'}""",
    """/bin/sh -c #(nop)  CMD ["a\\xZZ" "b"]""",
    """/bin/sh -c #(nop)  HEALTHCHECK &{["CMD" "x"] "0s" ''}""",
])
def test_malformed_go_syntax_is_kept_not_fatal(created_by):
    assert parse(created_by, CTX).instruction.split(" ", 1)[0] in ("HEALTHCHECK", "CMD")


def test_what_is_not_an_instruction_is_not_guessed():
    # debian's base images record the script that made the rootfs
    assert parse("# debian.sh --arch 'amd64' out/ 'bookworm' '@1700438400'", CTX).instruction is None
    assert parse("", CTX).instruction is None
    assert parse("/bin/sh -c #(nop) layer 0", CTX).instruction is None


def test_secret_names():
    assert mask_assignment("DB_PASSWORD=x") == f"DB_PASSWORD={MASK}"
    assert mask_assignment("ssh_key=x") == f"ssh_key={MASK}"
    assert mask_assignment("SECRET_THING=x", show_secrets=True) == "SECRET_THING=x"
    assert mask_assignment("PATH=/bin") == "PATH=/bin"


def test_healthcheck_durations_read_like_the_dockerfile():
    assert healthcheck({"Test": ["CMD-SHELL", "true"], "Interval": 90_000_000_000,
                        "Timeout": 500_000_000, "Retries": 0}) == {
        "test": ["CMD-SHELL", "true"], "interval": "1m30s", "timeout": "500ms"}


def steps_of(*flags: bool) -> tuple[HistoryStep, ...]:
    """History entries; True marks an empty_layer (metadata) step."""
    return tuple(HistoryStep(f"step {i}", empty_layer=flag) for i, flag in enumerate(flags))


def test_steps_pair_like_dive_and_leftovers_are_labelled():
    history = steps_of(False, True, True, False, True)
    steps = build_steps(history, 2)
    assert [(s.history.created_by, s.layer, s.kind) for s in steps] == [
        ("step 0", 0, "layer"), ("step 1", None, "no layer"), ("step 2", None, "no layer"),
        ("step 3", 1, "layer"), ("step 4", None, "no layer")]
    # more layers than history (squashed, hand-made): the extra layers have no history
    assert [(s.layer, s.kind) for s in build_steps(steps_of(False, True), 3)] == [
        (0, "layer"), (None, "no layer"), (1, "no history"), (2, "no history")]
    # more history than layers: the steps that claim a layer get none
    assert [s.kind for s in build_steps(steps_of(False, False, False), 1)] == ["layer", "lost layer", "lost layer"]
    for flags in [(False, True, False), (True, True), (), (False,) * 5]:
        for count in range(5):
            paired = pair_history(steps_of(*flags), count)
            from_steps = {s.layer: s.history for s in build_steps(steps_of(*flags), count) if s.layer is not None}
            assert paired == [from_steps[i] for i in range(count)]


def test_overlay2_directories_map_to_layers_bottom_first():
    storage = Storage("overlay2", (("LowerDir", "/o/l2/diff:/o/l1/diff"), ("MergedDir", "/o/top/merged"),
                                   ("UpperDir", "/o/top/diff"), ("WorkDir", "/o/top/work")))
    assert storage.layer_dirs(3) == ("/o/l1/diff", "/o/l2/diff", "/o/top/diff")
    assert storage.layer_dirs(2) is None  # counts disagree: do not guess
    assert Storage("vfs").layer_dirs(1) is None


def test_archive_without_history_labels_every_layer(tmp_path):
    layers = [[Entry("a.txt", data=b"a")], [Entry("b.txt", data=b"bb")]]
    archive = write_docker_archive(str(tmp_path / "nohist.tar"), layers, history=[])
    image = Source("docker-archive", archive).load()
    assert [s.kind for s in build_steps(image.history, len(image.layers))] == ["no history", "no history"]
    proc = run_divepy("dockerfile", f"docker-archive://{archive}")
    assert proc.returncode == 0, proc.stderr
    comments = [line for line in proc.stdout.splitlines() if line.startswith("# layer")]
    assert comments == ["# layer 0 · 1 Byte · no history (squashed or hand-made)",
                        "# layer 1 · 2 Bytes · no history (squashed or hand-made)"]


def test_dockerfile_command_errors_are_one_line(tmp_path):
    proc = run_divepy("dockerfile", f"docker-archive://{tmp_path / 'missing.tar'}")
    assert proc.returncode == 3
    assert proc.stderr.count("\n") == 1 and "missing.tar" in proc.stderr
    assert run_divepy("dockerfile").returncode == 2
