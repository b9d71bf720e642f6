#!/usr/bin/env bash
# Build the infrastructure images: Kafka 4.1.1 (from Maven Central jars on the local JRE image),
# FerretDB v1.24.2 and versitygw v1.8.0 (static Go binaries, FROM scratch).
# Run build-debian.sh first; build.sh runs both. Each image is skipped when its inputs did not change.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

KAFKA_POM="$REPO_ROOT/deploy/local/kafka/pom.xml"
KAFKA_MAIN_JAR="kafka_2.13-4.1.1.jar"
FERRETDB_VERSION="v1.24.2"
VERSITYGW_VERSION="v1.8.0"
BIN_DIR="$WORK_DIR/bin"

# Print the folder of Kafka jars: the local stack's folder when it is complete, else ours, fetched once.
kafka_libs() {
    local shared="$STACK_DIR/kafka/libs"
    if [[ -f "$shared/$KAFKA_MAIN_JAR" ]]; then
        echo "$shared"
        return 0
    fi
    local own="$WORK_DIR/kafka-libs"
    if [[ ! -f "$own/$KAFKA_MAIN_JAR" ]]; then
        command -v mvn >/dev/null || die "mvn is missing; run deploy/images/install-podman.sh"
        log "fetching the Kafka jars into $own"
        mkdir -p "$own"
        mvn -q -B -f "$KAFKA_POM" dependency:copy-dependencies \
            -DoutputDirectory="$own" -DincludeScope=runtime >&2
    fi
    echo "$own"
}

# Copy the Containerfile folder and the extra inputs into a fresh build context under .stack/images.
# Hard links avoid copying the jars and binaries, with a plain copy across file systems.
prepare_context() {
    local name="$1" source="$2"
    shift 2
    local context="$WORK_DIR/context/$name"
    rm -rf "$context"
    mkdir -p "$context"
    cp -r "$source/." "$context/"
    local extra
    for extra in "$@"; do
        cp -rl "$extra" "$context/" 2>/dev/null || cp -r "$extra" "$context/"
    done
    echo "$context"
}

build_kafka() {
    local libs context hash
    libs="$(kafka_libs)"
    context="$(prepare_context kafka "$IMAGES_DIR/kafka")"
    mkdir -p "$context/libs"
    cp -l "$libs"/*.jar "$context/libs/" 2>/dev/null || cp "$libs"/*.jar "$context/libs/"
    hash="$(printf '%s %s\n' "$(image_id "$BANGKE_IMAGE_JRE")" "$(hash_inputs "$context")" | sha256sum | cut -c1-32)"
    build_image "$BANGKE_KAFKA_IMAGE" "$hash" "$context/Containerfile" "$context" \
        --build-arg "JRE_IMAGE=$BANGKE_IMAGE_JRE"
}

# The FerretDB build: its version and the digest of the patches applied to its source, in name order.
# The local stack names its binary the same way in .stack/bin/ferretdb.version.
FERRETDB_PATCHES=("$REPO_ROOT"/deploy/local/ferretdb/*.patch)
FERRETDB_BUILD="$FERRETDB_VERSION+$(cat "${FERRETDB_PATCHES[@]}" | sha256sum | cut -c1-12)"

# True when the binary is static and its stamp names this build.
is_current_ferretdb() {
    local binary="$1"
    is_static_binary "$binary" && [[ "$(cat "$binary.version" 2>/dev/null)" == "$FERRETDB_BUILD" ]]
}

# Print the path of a patched static FerretDB binary: the local stack's one when it is current, else ours.
# A binary from `go install` panics with "Invalid build/version/version.txt", because the module cache
# lacks the version file that FerretDB's own build writes. So the source is copied, patched and built here.
ferretdb_binary() {
    local shared="$STACK_DIR/bin/ferretdb"
    if is_current_ferretdb "$shared"; then
        echo "$shared"
        return 0
    fi
    local own="$BIN_DIR/ferretdb"
    if is_current_ferretdb "$own"; then
        echo "$own"
        return 0
    fi
    command -v go >/dev/null || die "go is missing; install Go 1.24 or newer"
    command -v patch >/dev/null || die "patch is missing; install it with apt-get install patch"
    local module="github.com/FerretDB/FerretDB@$FERRETDB_VERSION"
    log "building FerretDB $FERRETDB_BUILD"
    (cd "$WORK_DIR" && go mod download "$module" >&2)
    local cache source="$WORK_DIR/src/ferretdb"
    cache="$(go env GOMODCACHE)/github.com/!ferret!d!b/!ferret!d!b@$FERRETDB_VERSION"
    [[ -d "$cache" ]] || die "FerretDB source not found at $cache after go mod download"
    rm -rf "$source"
    mkdir -p "$source" "$BIN_DIR"
    cp -r "$cache/." "$source/"
    chmod -R u+w "$source"
    echo "$FERRETDB_VERSION" >"$source/build/version/version.txt"
    local patch_file
    for patch_file in "${FERRETDB_PATCHES[@]}"; do
        patch -d "$source" -p1 --forward --batch -i "$patch_file" >&2
    done
    (cd "$source" && CGO_ENABLED=0 go build -trimpath -o "$own" ./cmd/ferretdb >&2)
    echo "$FERRETDB_BUILD" >"$own.version"
    rm -rf "$source"
    echo "$own"
}

# Print the path of a static versitygw binary: the local stack's one when it is static, else ours.
versitygw_binary() {
    local shared="$STACK_DIR/bin/versitygw"
    if is_static_binary "$shared"; then
        echo "$shared"
        return 0
    fi
    local own="$BIN_DIR/versitygw"
    if ! is_static_binary "$own"; then
        command -v go >/dev/null || die "go is missing; install Go 1.24 or newer"
        log "building versitygw $VERSITYGW_VERSION"
        mkdir -p "$BIN_DIR"
        CGO_ENABLED=0 GOBIN="$BIN_DIR" go install "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION" >&2
    fi
    echo "$own"
}

build_static() {
    local name="$1" image="$2" binary="$3"
    local context hash
    context="$(prepare_context "$name" "$IMAGES_DIR/$name" "$binary")"
    mkdir -p "$context/rootfs/data" "$context/rootfs/tmp"
    chmod 1777 "$context/rootfs/tmp"
    hash="$(hash_inputs "$context")"
    build_image "$image" "$hash" "$context/Containerfile" "$context"
}

main() {
    mkdir -p "$WORK_DIR"
    podman image exists "$BANGKE_IMAGE_JRE" || die "$BANGKE_IMAGE_JRE is missing; run build-debian.sh first"
    build_kafka
    build_static ferretdb "$BANGKE_MONGO_IMAGE" "$(ferretdb_binary)"
    build_static versitygw "$BANGKE_S3_IMAGE" "$(versitygw_binary)"
}

main "$@"
