#!/usr/bin/env bash
# A Python 3.11 base image made from Debian bookworm's own packages, for machines that reach
# no container registry: debootstrap (minbase + python3, python3-venv), slimmed, podman import.
# Usage: base-image.sh TAG   (needs root for debootstrap; DEBIAN_MIRROR overrides the mirror)
set -euo pipefail
tag=${1:?usage: base-image.sh TAG}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
podman=${PODMAN:-podman}

for tool in debootstrap "$podman"; do
  command -v "$tool" >/dev/null || { echo "base-image: $tool is not installed" >&2; exit 1; }
done
if [ "$(id -u)" != 0 ]; then
  echo "base-image: debootstrap needs root; or pass BASE_IMAGE=<a pullable python:3.11 image>" >&2
  exit 1
fi

work=$(mktemp -d "${TMPDIR:-/var/tmp}/wasmgrid-base.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/rootfs

echo "base-image: debootstrap bookworm (minbase, python3) from $mirror"
if ! debootstrap --variant=minbase --include=python3,python3-venv \
    bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1; then
  tail -n 30 "$work/debootstrap.log" >&2
  exit 1
fi

# What the official slim images leave out too: package caches and lists, documentation,
# translations (dpkg is told to skip them for packages a build stage adds later). Also
# glibc's iconv charset modules: Python's codecs are its own and no service calls iconv.
cat >"$root/etc/dpkg/dpkg.cfg.d/01-wasmgrid-slim" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
CFG
cat >"$root/etc/apt/sources.list" <<LIST
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb ${mirror%/debian}/debian-security bookworm-security main
LIST
find "$root/usr/share/doc" -mindepth 2 ! -name copyright ! -type d -delete
find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
rm -rf "$root"/usr/lib/*-linux-gnu/gconv "$root"/usr/share/{man,info,locale}/* \
  "$root"/var/cache/apt/* "$root"/var/lib/apt/lists/* \
  "$root"/var/cache/debconf/*-old "$root"/var/log/* "$root"/tmp/* "$root"/var/tmp/*

tar --numeric-owner -C "$root" -c . | "$podman" import --quiet \
  --change 'ENV LANG=C.UTF-8' \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["python3"]' \
  --message "debootstrap --variant=minbase bookworm + python3, python3-venv" \
  - "$tag" >/dev/null
size=$("$podman" image inspect --format '{{.Size}}' "$tag")
echo "base-image: $tag ($((size / 1000000)) MB)"
