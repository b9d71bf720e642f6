#!/usr/bin/env bash
# Build the Debian bookworm base image with debootstrap (no registry needed), then the Java 17 and
# Python 3.11 images and an nginx image for the compose gateway on top of it. Each image is skipped when its inputs did not change.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SUITE=bookworm
# debootstrap is given the package list explicitly so that the hash below changes with it.
BASE_PACKAGES="ca-certificates"

build_debian_base() {
    local name="$BANGKE_IMAGE_DEBIAN"
    local hash
    hash="$(printf 'debootstrap minbase %s %s %s\n' "$SUITE" "$BASE_PACKAGES" "$BANGKE_DEBIAN_MIRROR" \
        | sha256sum | cut -c1-32)"
    if image_is_current "$name" "$hash"; then
        log "$name is up to date ($hash)"
        return 0
    fi

    local rootfs="$WORK_DIR/rootfs-debian"
    local debs="$WORK_DIR/debs"
    rm -rf "$rootfs"
    mkdir -p "$debs"
    log "debootstrap $SUITE into $rootfs"
    local started=$SECONDS
    debootstrap --variant=minbase --include="$BASE_PACKAGES" --cache-dir="$debs" \
        "$SUITE" "$rootfs" "$BANGKE_DEBIAN_MIRROR" >"$WORK_DIR/debootstrap.log" 2>&1 \
        || die "debootstrap failed, see $WORK_DIR/debootstrap.log"

    # Security and point-release updates for the derived images' apt-get runs.
    local security_mirror="${BANGKE_DEBIAN_MIRROR%/debian}/debian-security"
    cat >"$rootfs/etc/apt/sources.list" <<SOURCES
deb $BANGKE_DEBIAN_MIRROR $SUITE main
deb $BANGKE_DEBIAN_MIRROR $SUITE-updates main
deb $security_mirror $SUITE-security main
SOURCES
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*

    log "importing $rootfs as $name"
    tar -C "$rootfs" -c . | podman import --quiet \
        --change "LABEL $HASH_LABEL=$hash" \
        --change 'ENV LANG=C.UTF-8' \
        --change 'CMD ["/bin/bash"]' \
        - "$name" >/dev/null
    rm -rf "$rootfs"
    log "built $name in $((SECONDS - started)) s"
}

# Build a Debian-derived image; the parent's image id is part of the hash, so a new base rebuilds it.
build_debian_child() {
    local name="$1" containerfile="$2"
    local hash
    hash="$(printf '%s %s\n' "$(image_id "$BANGKE_IMAGE_DEBIAN")" "$(hash_inputs "$containerfile")" \
        | sha256sum | cut -c1-32)"
    build_image "$name" "$hash" "$containerfile" "$(dirname "$containerfile")" \
        --build-arg "BASE_IMAGE=$BANGKE_IMAGE_DEBIAN"
}

main() {
    command -v debootstrap >/dev/null || die "debootstrap is missing; run deploy/images/install-podman.sh"
    mkdir -p "$WORK_DIR"
    build_debian_base
    build_debian_child "$BANGKE_IMAGE_JRE" "$IMAGES_DIR/debian/jre.Containerfile"
    build_debian_child "$BANGKE_IMAGE_PYTHON" "$IMAGES_DIR/debian/python.Containerfile"
    build_debian_child "$BANGKE_IMAGE_NGINX" "$IMAGES_DIR/debian/nginx.Containerfile"
}

main "$@"
