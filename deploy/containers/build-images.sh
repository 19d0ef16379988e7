#!/usr/bin/env bash
# Build localhost/wasmgrid/<service>:$IMAGE_TAG for every service from deploy/containers/Containerfile.
#
# The base is the Containerfile's default (the official python:3.11-slim-bookworm, pinned by
# digest) when it is present or can be pulled; otherwise a base made from Debian's packages
# (base-image.sh), built once and reused. BASE_IMAGE=<ref> skips that choice.
# Env: IMAGE_TAG (dev), SERVICES, PODMAN, BUILD_ISOLATION (chroot), CA_BUNDLE, PULL_TIMEOUT.
set -euo pipefail
cd "$(dirname "$0")/../.."
here=deploy/containers
podman=${PODMAN:-podman}
tag=${IMAGE_TAG:-dev}
services=${SERVICES:-gateway runtime marketplace cache monitor}
official=$(sed -n 's/^ARG BASE_IMAGE=//p' "$here/Containerfile")
local_base=localhost/wasmgrid/python-base:3.11-bookworm
ca_bundle=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}

command -v "$podman" >/dev/null || { echo "images: $podman is not installed" >&2; exit 1; }

pick_base() {
  if [ -n "${BASE_IMAGE:-}" ]; then
    echo "$BASE_IMAGE"
  elif "$podman" image exists "$official" \
      || timeout "${PULL_TIMEOUT:-120}" "$podman" pull --quiet "$official" >/dev/null 2>&1; then
    echo "$official"
  else
    echo "images: cannot pull ${official%%@*}; using $local_base (from Debian's packages)" >&2
    "$podman" image exists "$local_base" || "$here/base-image.sh" "$local_base" >&2
    echo "$local_base"
  fi
}

# Where the images say they come from: the origin remote when it is a web address.
source_url() {
  local url
  url=$(git config --get remote.origin.url 2>/dev/null || true)
  case $url in
    https://*) url=${url#https://}; echo "https://${url#*@}" ;;
    git@*:*) url=${url#git@}; echo "https://${url/://}" ;;
    *) echo "" ;;
  esac
}

base=$(pick_base)
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' pyproject.toml | head -n 1)
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
args=(
  --isolation "${BUILD_ISOLATION:-chroot}"
  --file "$here/Containerfile"
  --ignorefile "$here/containerignore"
  --build-arg "BASE_IMAGE=$base"
  --build-arg "VERSION=$version"
  --build-arg "REVISION=$revision"
  --build-arg "SOURCE=${IMAGE_SOURCE:-$(source_url)}"
)
# Package downloads inside the build trust what this machine trusts (a TLS proxy's CA, say).
[ -r "$ca_bundle" ] && args+=(--volume "$ca_bundle:/etc/ssl/certs/ca-certificates.crt:ro")

for svc in $services; do
  started=$SECONDS
  log=$(mktemp)
  if ! "$podman" build "${args[@]}" --target "$svc" --tag "localhost/wasmgrid/$svc:$tag" . \
      >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    rm -f "$log"
    echo "images: building $svc failed" >&2
    exit 1
  fi
  rm -f "$log"
  echo "images: localhost/wasmgrid/$svc:$tag built in $((SECONDS - started))s"
done

echo
printf '%-36s %8s\n' image size
for svc in $services; do
  size=$("$podman" image inspect --format '{{.Size}}' "localhost/wasmgrid/$svc:$tag")
  printf '%-36s %5s MB\n' "localhost/wasmgrid/$svc:$tag" "$((size / 1000000))"
done
echo "base: $base"
