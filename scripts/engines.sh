#!/usr/bin/env bash
# Private container engines for divepy's tests: a dockerd, a podman API service
# and a Docker registry, all keeping their state under one directory and
# listening only on unix sockets there (the registry on 127.0.0.1).
#
#   scripts/engines.sh start            start (or reuse) them, write $DIR/env
#   scripts/engines.sh stop [--clean] [docker|podman|registry ...]
#                                        stop them (all by default); --clean
#                                        also deletes $DIR
#
# It never uses /var/run/docker.sock or any engine it did not start itself.
# If $DIVEPY_ENGINES_STARTED names a file, `start` appends to it the services
# it really started (not reused), so scripts/test can stop only those.
set -euo pipefail

DIR=${DIVEPY_ENGINE_DIR:-/tmp/divepy-engines}
BUSYBOX_IMAGE=divepy-test/busybox:latest
# A user's docker settings must not redirect our docker/podman CLI calls.
unset DOCKER_HOST DOCKER_CONTEXT DOCKER_TLS_VERIFY DOCKER_CERT_PATH

log() { echo "engines: $*" >&2; }

# True if process $1 exists and is not a zombie: a killed daemon whose parent
# is gone can stay a zombie until init reaps it, and kill -0 still succeeds.
running() {
    local state
    state=$(sed -n 's/^.*) \(.\).*$/\1/p' "/proc/$1/stat" 2>/dev/null) && [ -n "$state" ] && [ "$state" != Z ]
}

# True if the pid in pidfile $1 is alive and its command line mentions both
# $2 and $DIR (so a recycled pid, or another engine, is never taken for ours).
alive() {
    local pid cmdline
    pid=$(cat "$1" 2>/dev/null) || return 1
    [ -n "$pid" ] && running "$pid" || return 1
    cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
    [[ $cmdline == *"$2"* && $cmdline == *"$DIR/"* ]]
}

docker_answers() { docker -H "unix://$DIR/docker.sock" version >/dev/null 2>&1; }
podman_answers() { curl -fsS --max-time 5 --unix-socket "$DIR/podman.sock" http://d/_ping >/dev/null 2>&1; }
registry_answers() { curl -fsS --max-time 5 "http://127.0.0.1:$(cat "$DIR/registry.port")/v2/" >/dev/null 2>&1; }

# wait_for NAME PID LOGFILE CHECK...: poll CHECK for up to 60 s; fail early if
# PID died, and show the log tail either way so CI output says why.
wait_for() {
    local name=$1 pid=$2 logfile=$3 i why="did not answer within 60 s"
    shift 3
    for ((i = 0; i < 600; i++)); do
        "$@" && return 0
        running "$pid" || { why="exited during startup"; break; }
        sleep 0.1
    done
    log "$name $why; last lines of $logfile:"
    tail -n 40 "$logfile" >&2 || true
    return 1
}

started() {
    log "starting $1"
    if [ -n "${DIVEPY_ENGINES_STARTED:-}" ]; then echo "$1" >>"$DIVEPY_ENGINES_STARTED"; fi
}

# On a fresh machine none of the tools may be there: install what is missing.
install_missing() {
    local pkgs=() policy_made='' rc=0
    command -v dockerd >/dev/null || pkgs+=(docker.io)
    command -v docker >/dev/null || pkgs+=(docker.io)
    command -v podman >/dev/null || pkgs+=(podman)
    command -v skopeo >/dev/null || pkgs+=(skopeo)
    command -v docker-registry >/dev/null || pkgs+=(docker-registry)
    command -v newuidmap >/dev/null || pkgs+=(uidmap)
    command -v ip >/dev/null || pkgs+=(iproute2)
    command -v curl >/dev/null || pkgs+=(curl)
    # The image needs a statically linked busybox; Debian's plain `busybox`
    # package is dynamic (and conflicts with busybox-static, which replaces it).
    [ "$(dpkg-query -W -f='${Status}' busybox-static 2>/dev/null)" = "install ok installed" ] ||
        pkgs+=(busybox-static)
    [ ${#pkgs[@]} -gt 0 ] || return 0
    mapfile -t pkgs < <(printf '%s\n' "${pkgs[@]}" | sort -u)
    log "installing ${pkgs[*]}"
    # Keep the packages' init scripts from starting a system dockerd or
    # registry: policy-rc.d exit 101 means "do not start services".
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        policy_made=1
    fi
    # Lock::Timeout: wait for another apt run instead of failing at once.
    {
        apt-get update -qq -o DPkg::Lock::Timeout=300 &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=300 \
                --no-install-recommends "${pkgs[@]}"
    } >&2 || rc=$?
    [ -z "$policy_made" ] || rm -f /usr/sbin/policy-rc.d
    return "$rc"
}

# up_already LABEL PIDFILE PROCESS LOG CHECK: 0 when the service already runs (waiting for it
# to answer if it is still starting), 1 when it has to be started, 2 when it runs but never
# answered.
up_already() {
    local label=$1 pidfile=$2 process=$3 logfile=$4 check=$5
    if alive "$pidfile" "$process" && "$check"; then return 0; fi
    alive "$pidfile" "$process" || return 1
    log "$label (pid $(cat "$pidfile")) is up but does not answer; waiting"
    wait_for "$process" "$(cat "$pidfile")" "$logfile" "$check" || return 2
}

start_docker() {
    local up=0
    up_already dockerd "$DIR/docker.pid" dockerd "$DIR/dockerd.log" docker_answers || up=$?
    [ "$up" -eq 1 ] || return $((up / 2))
    # A pid file left by a killed dockerd (or one a CI machine kept from an
    # earlier session) makes dockerd refuse to start while any process has
    # that pid; a stale containerd pid file makes it wait for a containerd
    # that is not there.
    rm -f "$DIR/docker.pid"
    alive "$DIR/docker-exec/containerd/containerd.pid" containerd ||
        rm -f "$DIR/docker-exec/containerd/containerd.pid"
    # Our own config file, so /etc/docker/daemon.json is never read; the trust
    # key would otherwise be written to /etc/docker/key.json.
    printf '{"deprecated-key-path": "%s"}\n' "$DIR/docker-key.json" >"$DIR/docker-daemon.json"
    # vfs works on any filesystem; no bridge, iptables or ip_forward changes so
    # the host network is left alone (containers get --network none). If a
    # system containerd runs, dockerd 20.10 uses it: own namespaces keep our
    # containers and images apart from a user's dockerd there.
    setsid dockerd \
        --config-file "$DIR/docker-daemon.json" \
        --storage-driver=vfs --iptables=false --ip6tables=false --ip-forward=false --bridge=none \
        --data-root "$DIR/docker-data" --exec-root "$DIR/docker-exec" \
        --pidfile "$DIR/docker.pid" --host "unix://$DIR/docker.sock" \
        --containerd-namespace divepy --containerd-plugins-namespace divepy-plugins \
        >>"$DIR/dockerd.log" 2>&1 </dev/null 9>&- &
    started docker # before waiting: a dockerd that fails to answer is stopped too
    wait_for dockerd $! "$DIR/dockerd.log" docker_answers
}

# podman reads these files through CONTAINERS_CONF / CONTAINERS_STORAGE_CONF
# (exported here and in $DIR/env), so the service, the podman CLI and skopeo's
# containers-storage: all see the same private store.
write_podman_conf() {
    # - cgroupfs and a file event log: no systemd or journald is needed.
    # - tmp_dir and file locks: podman's state would otherwise go to
    #   /run/libpod and its locks to /dev/shm/libpod_lock, shared with the
    #   machine's own podman.
    # - ulimits: as root podman asks for nofile=1048576; where the process may
    #   not raise its hard limits (no CAP_SYS_RESOURCE, as in this sandbox) runc
    #   then fails with "error setting rlimits". Stay within ours (podman caps
    #   its own nproc at 32768).
    # - network: the CNI backend with an empty plugin dir makes bridge
    #   networking fail loudly instead of netavark adding iptables rules and a
    #   bridge to the host; netns=none is the default for the podman CLI. (The
    #   docker-compatible API ignores that default: pass network_mode="none".)
    local nofile nproc
    nofile=$(ulimit -Hn)
    nproc=$(ulimit -Hu)
    [ "$nproc" != unlimited ] && [ "$nproc" -lt 32768 ] || nproc=32768
    mkdir -p "$DIR/podman-no-cni" "$DIR/podman-networks"
    cat >"$DIR/containers.conf" <<EOF
[containers]
netns = "none"
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
lock_type = "file"
tmp_dir = "$DIR/podman-tmp"

[network]
network_backend = "cni"
cni_plugin_dirs = ["$DIR/podman-no-cni"]
network_config_dir = "$DIR/podman-networks"
EOF
    cat >"$DIR/storage.conf" <<EOF
[storage]
driver = "vfs"
graphroot = "$DIR/podman-root"
runroot = "$DIR/podman-run"
EOF
}

start_podman() {
    local up=0
    up_already "podman service" "$DIR/podman.pid" podman "$DIR/podman.log" podman_answers || up=$?
    [ "$up" -eq 1 ] || return $((up / 2))
    # Start as after a reboot (podman expects these on tmpfs): with the
    # service and its containers stopped (or killed with a session), podman
    # then resets the containers' stale states instead of trusting them.
    rm -rf "$DIR/podman.sock" "$DIR/podman-tmp" "$DIR/podman-run"
    setsid "${PODMAN[@]}" system service --time 0 "unix://$DIR/podman.sock" \
        >>"$DIR/podman.log" 2>&1 </dev/null 9>&- &
    echo $! >"$DIR/podman.pid"
    started podman
    wait_for "podman service" $! "$DIR/podman.log" podman_answers
}

free_port() {
    local port
    for ((port = 5555; port < 5655; port++)); do
        # A refused connection means nothing listens there.
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return 0
        fi
    done
    log "no free port in 5555-5654"
    return 1
}

start_registry() {
    if alive "$DIR/registry.pid" docker-registry && registry_answers; then return 0; fi
    if alive "$DIR/registry.pid" docker-registry; then
        log "registry (pid $(cat "$DIR/registry.pid")) is up but does not answer; waiting"
        wait_for registry "$(cat "$DIR/registry.pid")" "$DIR/registry.log" registry_answers
        return
    fi
    free_port >"$DIR/registry.port"
    mkdir -p "$DIR/registry"
    # A fixed http secret only silences the "generated random secret" warning.
    cat >"$DIR/registry.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $DIR/registry
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$(cat "$DIR/registry.port")
  secret: divepy-test-registry
EOF
    setsid docker-registry serve "$DIR/registry.yml" >>"$DIR/registry.log" 2>&1 </dev/null 9>&- &
    echo $! >"$DIR/registry.pid"
    started registry
    wait_for registry $! "$DIR/registry.log" registry_answers
}

# There is no Docker Hub: make a busybox image from busybox-static. The tar
# has fixed owners, modes and mtimes so its layer digest is the same on every
# machine with the same busybox. podman gets the very same image (same ID)
# through `docker save | podman load`.
build_busybox() {
    local rootfs app docker_id podman_id
    if ! docker -H "unix://$DIR/docker.sock" image inspect "$BUSYBOX_IMAGE" >/dev/null 2>&1; then
        rootfs=$(mktemp -d)
        mkdir -p "$rootfs"/{bin,dev,etc,home,proc,root,sys,tmp,usr,var}
        cp /bin/busybox "$rootfs/bin/busybox"
        for app in $(/bin/busybox --list); do
            [ "$app" = busybox ] || ln -s busybox "$rootfs/bin/$app"
        done
        printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n' >"$rootfs/etc/passwd"
        printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
        chmod 755 "$rootfs" "$rootfs"/{bin,dev,etc,home,proc,sys,usr,var} "$rootfs/bin/busybox"
        chmod 644 "$rootfs/etc/passwd" "$rootfs/etc/group"
        chmod 700 "$rootfs/root"
        chmod 1777 "$rootfs/tmp"
        tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$rootfs" -c . |
            docker -H "unix://$DIR/docker.sock" import --change 'CMD ["/bin/sh"]' - "$BUSYBOX_IMAGE" >/dev/null
        rm -rf "$rootfs"
        log "built $BUSYBOX_IMAGE"
    fi
    docker_id=$(docker -H "unix://$DIR/docker.sock" image inspect -f '{{.Id}}' "$BUSYBOX_IMAGE")
    podman_id=$("${PODMAN[@]}" image inspect -f '{{.Id}}' "$BUSYBOX_IMAGE" 2>/dev/null || true)
    if [ "sha256:$podman_id" != "$docker_id" ]; then
        docker -H "unix://$DIR/docker.sock" save "$BUSYBOX_IMAGE" | "${PODMAN[@]}" load -q >/dev/null
        log "loaded $BUSYBOX_IMAGE into podman"
    fi
}

write_env() {
    {
        printf 'export DIVEPY_ENGINE_DIR=%q\n' "$DIR"
        printf 'export DOCKER_HOST=%q\n' "unix://$DIR/docker.sock"
        printf 'export DIVEPY_PODMAN_HOST=%q\n' "unix://$DIR/podman.sock"
        printf 'export DIVEPY_REGISTRY=%q\n' "127.0.0.1:$(cat "$DIR/registry.port")"
        printf 'export DIVEPY_PODMAN_ROOT=%q\n' "$DIR/podman-root"
        printf 'export DIVEPY_PODMAN_RUNROOT=%q\n' "$DIR/podman-run"
        printf 'export CONTAINERS_CONF=%q\n' "$DIR/containers.conf"
        printf 'export CONTAINERS_STORAGE_CONF=%q\n' "$DIR/storage.conf"
        # These would point the docker CLI / SDK at some other engine.
        echo 'unset DOCKER_CONTEXT DOCKER_TLS_VERIFY DOCKER_CERT_PATH'
    } >"$DIR/env.tmp"
    mv "$DIR/env.tmp" "$DIR/env"
}

# stop_pid PIDFILE NAME SECONDS: TERM, wait, then KILL.
stop_pid() {
    local pidfile=$1 name=$2 secs=$3 pid i
    alive "$pidfile" "$name" || { rm -f "$pidfile"; return 0; }
    pid=$(cat "$pidfile")
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < secs * 10; i++)); do
        running "$pid" || break
        sleep 0.1
    done
    if running "$pid"; then
        log "$name (pid $pid) did not stop in ${secs}s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
        sleep 0.2
    fi
    rm -f "$pidfile"
    log "stopped $name"
}

cmd_start() {
    install_missing
    write_podman_conf
    start_docker
    start_podman
    start_registry
    build_busybox
    write_env
    log "ready: source $DIR/env"
}

cmd_stop() {
    local clean='' services=() s
    for s in "$@"; do
        case $s in
        --clean) clean=1 ;;
        docker | podman | registry) services+=("$s") ;;
        *) log "unknown service: $s"; exit 2 ;;
        esac
    done
    [ ${#services[@]} -gt 0 ] && [ -z "$clean" ] || services=(podman registry docker)
    # In parallel: each takes 2-3 s to shut down.
    for s in "${services[@]}"; do
        case $s in
        podman)
            # Containers outlive the podman service (conmon runs them); stop
            # them as dockerd stops its own, so the next start may reset state.
            {
                [ ! -e "$CONTAINERS_CONF" ] || "${PODMAN[@]}" stop --all --time 5 >/dev/null 2>&1 || true
                stop_pid "$DIR/podman.pid" podman 20
            } &
            ;;
        registry) stop_pid "$DIR/registry.pid" docker-registry 10 & ;;
        docker)
            # dockerd stops its running containers (up to 10 s each) and the
            # containerd it started; if it had to be killed, kill that too.
            { stop_pid "$DIR/docker.pid" dockerd 40 &&
                stop_pid "$DIR/docker-exec/containerd/containerd.pid" containerd 10; } &
            ;;
        esac
    done
    wait
    if [ -n "$clean" ]; then
        # Anything still mounted under $DIR (container shm, netns) must go
        # first, or rm -rf would reach into it.
        grep -o " $DIR/[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
        rm -rf "$DIR"
        log "removed $DIR"
    fi
}

case ${1:-} in
start | stop)
    mkdir -p "$DIR"
    DIR=$(cd "$DIR" && pwd) # absolute: it goes into sockets, configs and env
    PODMAN=(podman --root "$DIR/podman-root" --runroot "$DIR/podman-run" --storage-driver vfs)
    export CONTAINERS_CONF="$DIR/containers.conf" CONTAINERS_STORAGE_CONF="$DIR/storage.conf"
    # One start/stop at a time; the daemons are started with fd 9 closed so
    # they do not keep holding this lock.
    exec 9>"$DIR/lock"
    flock 9
    cmd=$1
    shift
    "cmd_$cmd" "$@"
    ;;
*)
    echo "usage: $0 start | stop [--clean] [docker|podman|registry ...]" >&2
    exit 2
    ;;
esac
