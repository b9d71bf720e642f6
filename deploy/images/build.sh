#!/usr/bin/env bash
# Build every local image of the Bangke stack with Podman, without a registry.
# Usage:
#   deploy/images/build.sh             base, infrastructure and service images
#   deploy/images/build.sh infra       base and infrastructure images only, enough for the tests
#   deploy/images/build.sh services [identity-svc ...]
# A second run rebuilds only the images whose inputs changed. --install first installs Podman and the
# build tools with apt-get. Image names are settings, see images.env.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

if [[ "${1:-}" == "--install" ]]; then
    "$here/install-podman.sh"
    shift
fi

target="${1:-all}"
[[ $# -gt 0 ]] && shift
started=$SECONDS
case "$target" in
    all)
        "$here/build-debian.sh"
        "$here/build-infra.sh"
        "$here/build-services.sh"
        ;;
    infra)
        "$here/build-debian.sh"
        "$here/build-infra.sh"
        ;;
    services)
        "$here/build-debian.sh"
        "$here/build-services.sh" "$@"
        ;;
    *)
        echo "usage: $0 [--install] [all | infra | services [NAME-svc ...]]" >&2
        exit 2
        ;;
esac
echo "$(date +%H:%M:%S) [images] $target done in $((SECONDS - started)) s" >&2
