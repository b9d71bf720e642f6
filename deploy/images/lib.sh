# Shared helpers of the image build scripts; source it, do not run it.
# Needs bash, podman, sha256sum. All paths are absolute after sourcing.

IMAGES_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$IMAGES_DIR/../.." && pwd)"
STACK_DIR="${BANGKE_STACK_DIR:-$REPO_ROOT/.stack}"
WORK_DIR="$STACK_DIR/images"
HASH_LABEL="io.bangke.input-hash"

# Podman on hosts without systemd and with cgroup v1 needs runc and cgroupfs (see containers.conf).
# A caller that already set CONTAINERS_CONF keeps its own file.
export CONTAINERS_CONF="${CONTAINERS_CONF:-$IMAGES_DIR/containers.conf}"

# Load the defaults of images.env without overriding variables already set in the environment.
while IFS='=' read -r key value; do
    [[ -z "$key" || "$key" == \#* ]] && continue
    if [[ -z "${!key:-}" ]]; then
        export "$key=$value"
    fi
done < "$IMAGES_DIR/images.env"

log() {
    printf '%s [images] %s\n' "$(date +%H:%M:%S)" "$*" >&2
}

die() {
    log "error: $*"
    exit 1
}

# Print the SHA-256 of the given files and of every file below the given folders (names and contents),
# skipping Python caches, so that an image is rebuilt exactly when one of its inputs changed.
hash_inputs() {
    local path
    for path in "$@"; do
        if [[ -d "$path" ]]; then
            find "$path" -type f ! -path '*/__pycache__/*' ! -name '*.pyc' -print0
        elif [[ -e "$path" ]]; then
            printf '%s\0' "$path"
        else
            die "build input $path is missing"
        fi
    done | LC_ALL=C sort -z | xargs -0 -r sha256sum | sha256sum | cut -c1-32
}

# Print the image id of NAME, or nothing when the image does not exist.
image_id() {
    podman image inspect --format '{{.Id}}' "$1" 2>/dev/null || true
}

# Succeed when image NAME exists and was built from inputs with hash HASH.
image_is_current() {
    local name="$1" hash="$2" current
    podman image exists "$name" || return 1
    current="$(podman image inspect --format "{{index .Labels \"$HASH_LABEL\"}}" "$name" 2>/dev/null || true)"
    [[ "$current" == "$hash" ]]
}

# Build NAME with podman from CONTAINERFILE and CONTEXT unless an image with the same input hash exists.
# Extra arguments go to `podman build` (for example --build-arg).
build_image() {
    local name="$1" hash="$2" containerfile="$3" context="$4"
    shift 4
    if image_is_current "$name" "$hash"; then
        log "$name is up to date ($hash)"
        return 0
    fi
    log "building $name ($hash)"
    local started=$SECONDS
    podman build --quiet --label "$HASH_LABEL=$hash" --file "$containerfile" --tag "$name" "$@" "$context" >/dev/null
    log "built $name in $((SECONDS - started)) s"
}

# Succeed when BINARY is a statically linked executable that can run in a FROM scratch image.
is_static_binary() {
    [[ -x "$1" ]] && ! readelf -l "$1" 2>/dev/null | grep -q 'INTERP'
}
