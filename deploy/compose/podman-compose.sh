#!/usr/bin/env bash
# Run podman-compose (from PyPI, through uvx) on compose.yaml plus compose.podman.yaml, with the Podman
# settings and image names of deploy/images. The arguments go to podman-compose.
# Examples:
#   deploy/compose/podman-compose.sh up -d kafka mongo s3    start the servers only
#   deploy/images/build.sh && deploy/compose/podman-compose.sh up -d --no-build
#   deploy/compose/podman-compose.sh down --volumes
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/../images/lib.sh"

PODMAN_COMPOSE_VERSION="${PODMAN_COMPOSE_VERSION:-1.6.0}"
command -v uvx >/dev/null || die "uvx (from uv) is missing; install uv to run podman-compose"

cd "$here"
exec uvx --quiet --from "podman-compose==$PODMAN_COMPOSE_VERSION" podman-compose \
    -f compose.yaml -f compose.podman.yaml "$@"
