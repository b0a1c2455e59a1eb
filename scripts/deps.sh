#!/usr/bin/env bash
# Installs the Debian packages nfcd needs, if any are missing, so that the
# README's two quick-start commands work on a fresh Debian machine:
#   deps.sh build  cgo's PC/SC headers (libpcsclite-dev pkg-config gcc)
#   deps.sh test   also pcscd with the vsmartcard vpcd virtual reader,
#                  Debian's chromium for the browser test and PostgreSQL
#                  for the fleet tests (internal/fleet/fleettest starts
#                  private servers itself), and starts pcscd
# Without root (or sudo) or apt it only says what is missing: the build then
# fails with a clear cgo error, and the end-to-end tests skip loudly.
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-build}
pkgs=(libpcsclite-dev pkg-config gcc)
if [ "$what" = test ]; then
  pkgs+=(pcscd vsmartcard-vpcd pcsc-tools chromium postgresql)
fi
missing=()
if command -v dpkg >/dev/null 2>&1; then
  for p in "${pkgs[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
fi
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && sudo="sudo -n"
  if [ "$(id -u)" -eq 0 ] || [ -n "$sudo" ]; then
    echo "deps: installing ${missing[*]}"
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
    if [[ " ${missing[*]} " == *" postgresql "* ]] && command -v pg_dropcluster >/dev/null 2>&1; then
      # Debian creates (and may start) an empty "main" cluster on a first
      # install; the fleet tests run private servers, so it would only sit
      # there.
      for v in $(ls /etc/postgresql 2>/dev/null); do
        $sudo pg_dropcluster --stop "$v" main 2>/dev/null || true
      done
    fi
  else
    echo "deps: missing Debian packages: ${missing[*]} (install them as root)" >&2
  fi
fi
if [ "$what" = test ] && [ "$(id -u)" -eq 0 ] && command -v pcscd >/dev/null 2>&1; then
  bash .ci/install-pcscd.sh || echo "deps: pcscd could not be started; end-to-end tests will skip" >&2
fi
