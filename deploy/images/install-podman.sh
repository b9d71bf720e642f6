#!/usr/bin/env bash
# Install what the local image builds and the Podman-based tests need on a Debian 12 host (run as root):
# Podman with the runc runtime, debootstrap for the base image, Maven for the Kafka jars. Debian 12's
# Podman networks use CNI, and without the dnsname plugin a compose network has no DNS, so the
# gateway cannot resolve the services by name.
# Go (1.24 or newer) for FerretDB and versitygw is not a Debian bookworm package in that version and
# must already be on PATH. Idempotent: installed packages are left alone.
set -euo pipefail

PACKAGES=(podman runc debootstrap uidmap slirp4netns fuse-overlayfs maven golang-github-containernetworking-plugin-dnsname)

missing=()
for package in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done

if [[ ${#missing[@]} -gt 0 ]]; then
    echo "installing ${missing[*]}" >&2
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
fi

command -v go >/dev/null || echo "warning: go is not on PATH; FerretDB and versitygw cannot be built" >&2
