#!/usr/bin/env bash
# Installs the Debian packages that the demo, the tests and the benchmarks use.
# Idempotent and quiet when everything is present; needs root (apt-get).
set -euo pipefail

packages=(
  etcd-server etcd-client   # reference etcd 3.4 (v2 API) and the HA backend
  gnupg                     # OpenPGP signing of releases
  nginx-light               # a plain static web server serving a mirror
  curl                      # the article's walk-through
  systemd-container         # systemd-nspawn instances for Molecule and systemd tests
  mmdebstrap                # builds the instances' root file system
  grub-common               # grub-editenv, grub-script-check: corral-updated's GRUB slots
  strace                    # tests that watch what reaches the disk (fsync of new directories)
  groff-base                # renders the generated man pages in their test
  puppet                    # Puppet 7: contrib/puppet's Hiera backend and update control, tested for real
  prometheus                # promtool checks contrib/prometheus's rules; the server scrapes every daemon in a test
  python3-venv
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "system-deps: missing Debian packages: ${missing[*]} (run as root to install)" >&2
  exit 1
fi
echo "system-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts nginx, etcd, the puppet agent and prometheus as services on install; tests
# start their own instances.
for svc in etcd nginx puppet prometheus; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
    systemctl stop "$svc" || true
  fi
done
