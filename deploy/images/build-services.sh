#!/usr/bin/env bash
# Build one image per service from services/<name>-svc/Dockerfile, with the repository root as the build
# context. Arguments name services (identity-svc ...); none means every service that has a Dockerfile.
# Each image is skipped when its inputs (the workspace files the Dockerfile copies, the Python base) did
# not change. The image name is $BANGKE_SERVICE_IMAGE_PREFIX<name>:$BANGKE_SERVICE_IMAGE_TAG.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# PEM bundle of trusted CAs handed to the build as the secret "ca-bundle", for hosts that reach PyPI
# through a TLS-inspecting proxy. Defaults to the host's SSL_CERT_FILE; set it empty to pass none.
BANGKE_BUILD_CA_BUNDLE="${BANGKE_BUILD_CA_BUNDLE-${SSL_CERT_FILE:-}}"

build_service() {
    local service="$1"
    local dockerfile="$REPO_ROOT/services/$service/Dockerfile"
    [[ -f "$dockerfile" ]] || die "no Dockerfile at $dockerfile"
    [[ -d "$REPO_ROOT/services/$service/src" ]] || die "no sources at services/$service/src"

    local hash
    hash="$(
        cd "$REPO_ROOT"
        printf '%s %s\n' "$(image_id "$BANGKE_IMAGE_PYTHON")" "$(hash_inputs \
            .dockerignore pyproject.toml uv.lock contracts/pyproject.toml contracts/src \
            libs/runtime/pyproject.toml libs/runtime/src services/*/pyproject.toml \
            "services/$service/Dockerfile" "services/$service/src")" | sha256sum | cut -c1-32
    )"
    local extra=()
    if [[ -n "$BANGKE_BUILD_CA_BUNDLE" ]]; then
        extra+=(--secret "id=ca-bundle,src=$BANGKE_BUILD_CA_BUNDLE")
    fi
    build_image "$BANGKE_SERVICE_IMAGE_PREFIX$service:$BANGKE_SERVICE_IMAGE_TAG" "$hash" "$dockerfile" "$REPO_ROOT" \
        --build-arg "PYTHON_BASE=$BANGKE_IMAGE_PYTHON" "${extra[@]}"
}

main() {
    podman image exists "$BANGKE_IMAGE_PYTHON" || die "$BANGKE_IMAGE_PYTHON is missing; run build-debian.sh first"
    local services=("$@")
    if [[ ${#services[@]} -eq 0 ]]; then
        local dockerfile
        for dockerfile in "$REPO_ROOT"/services/*/Dockerfile; do
            services+=("$(basename "$(dirname "$dockerfile")")")
        done
    fi
    local service
    for service in "${services[@]}"; do
        build_service "$service"
    done
}

main "$@"
