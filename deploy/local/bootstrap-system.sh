#!/usr/bin/env bash
# Install the system tools the local stack needs, only those missing, so a second run does nothing.
# Debian 12 packages: nginx-light (gateway), default-jre-headless (Kafka needs Java 17+), maven
# (fetches the Kafka jars), iproute2 (`ss` names the owner of a busy port), patch (applied to
# FerretDB's source before it is built). uv comes from PyPI.
set -euo pipefail

packages=()
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || packages+=(nginx-light)
command -v java >/dev/null || packages+=(default-jre-headless)
command -v mvn >/dev/null || packages+=(maven)
command -v patch >/dev/null || packages+=(patch)
command -v ss >/dev/null || [ -x /usr/sbin/ss ] || [ -x /usr/bin/ss ] || packages+=(iproute2)

if ((${#packages[@]})); then
  sudo=()
  if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi
  echo "bootstrap: installing Debian packages: ${packages[*]}"
  "${sudo[@]}" apt-get update -q
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends "${packages[@]}"
fi

if ! command -v go >/dev/null; then
  echo "bootstrap: go is not on PATH; install Go 1.25 or newer (FerretDB and versitygw are built from source)" >&2
  exit 1
fi

if ! command -v uv >/dev/null && ! python3 -m uv --version >/dev/null 2>&1; then
  echo "bootstrap: installing uv 0.13.8 from PyPI"
  python3 -m pip install --quiet uv==0.13.8
fi
