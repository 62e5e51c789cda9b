#!/usr/bin/env bash
# Builds a Debian root file system for nspawn instances with mmdebstrap, once.
#
# usage: build-rootfs.sh DEST SUITE VARIANT PACKAGES [MIRROR]
#   PACKAGES is comma-separated; MIRROR empty means mmdebstrap's default.
#
# Invariants: DEST appears complete or not at all (built beside it, then renamed);
# concurrent builds of the same DEST wait on one lock and build it once.
# Prints "built DEST" or "cached DEST" so that callers can report a change.
set -euo pipefail

dest=${1:?DEST}
suite=${2:?SUITE}
variant=${3:?VARIANT}
packages=${4:?PACKAGES}
mirror=${5:-}

mkdir -p "$(dirname "$dest")"
exec 9>"$dest.lock"
flock 9

if [ -d "$dest" ]; then
  echo "cached $dest"
  exit 0
fi

staging=$(mktemp -d "$dest.building.XXXXXX")
trap 'rm -rf "$staging"' EXIT
# No /etc/hostname (mmdebstrap copies the build host's): each instance is named
# after its machine name.
args=(--quiet "--variant=$variant" "--include=$packages"
      '--customize-hook=rm -f "$1/etc/hostname"' "$suite" "$staging/root")
[ -n "$mirror" ] && args+=("$mirror")
mmdebstrap "${args[@]}"
mv "$staging/root" "$dest"
echo "built $dest"
