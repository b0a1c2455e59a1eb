#!/usr/bin/env bash
# Installs the Debian packages nfcd needs, if any are missing, so that the
# README's quick-start commands work on a fresh Debian machine:
#   deps.sh build  cgo's PC/SC headers (libpcsclite-dev pkg-config gcc)
#   deps.sh test   also pcscd with the vsmartcard vpcd virtual reader,
#                  Debian's chromium for the browser tests, Node for the
#                  JavaScript tests (they need Node >= 20: with an older
#                  one they skip loudly) and PostgreSQL for the fleet tests
#                  (internal/fleet/fleettest starts private servers
#                  itself), and starts pcscd
#   deps.sh run    what `make run` needs: nothing but Go. It prints "1"
#                  when the PC/SC build packages are there (or could be
#                  installed), else "0": the demo is then built without
#                  cgo (CGO_ENABLED=0), which has everything but readers.
# Nothing here needs root when the packages are present. When some are
# missing, it installs them as root (or with password-less sudo) and
# otherwise says what to install: the build then fails with a clear cgo
# error, and the end-to-end tests skip loudly.
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-build}
pkgs=(libpcsclite-dev pkg-config gcc)
if [ "$what" = test ]; then
  pkgs+=(pcscd vsmartcard-vpcd pcsc-tools chromium nodejs postgresql)
fi
missing=()
if command -v dpkg >/dev/null 2>&1; then
  for p in "${pkgs[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
fi
installed=yes
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  # sudo -n fails instead of asking for a password: only a password-less
  # sudo is used, so `make` never stops at a prompt.
  if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo="sudo -n"
  fi
  if command -v apt-get >/dev/null 2>&1 && { [ "$(id -u)" -eq 0 ] || [ -n "$sudo" ]; }; then
    echo "deps: installing ${missing[*]}" >&2
    $sudo apt-get update -qq >&2
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 || installed=no
    if [[ " ${missing[*]} " == *" postgresql "* ]] && command -v pg_dropcluster >/dev/null 2>&1; then
      # Debian creates (and may start) an empty "main" cluster on a first
      # install; the fleet tests run private servers, so it would only sit
      # there.
      for v in $(ls /etc/postgresql 2>/dev/null); do
        $sudo pg_dropcluster --stop "$v" main 2>/dev/null || true
      done
    fi
  else
    installed=no
  fi
  if [ "$installed" = no ]; then
    if [ "$what" = run ]; then
      echo "deps: ${missing[*]} missing: building the demo without PC/SC support (CGO_ENABLED=0)." >&2
      echo "deps: to use real readers later: sudo apt-get install ${missing[*]}" >&2
    else
      echo "deps: missing Debian packages: ${missing[*]}; install them with: sudo apt-get install ${missing[*]}" >&2
    fi
  fi
fi
if [ "$what" = run ]; then
  if [ "$installed" = yes ]; then echo 1; else echo 0; fi
  exit 0
fi
if [ "$what" = test ] && [ "$(id -u)" -eq 0 ] && command -v pcscd >/dev/null 2>&1; then
  bash .ci/install-pcscd.sh || echo "deps: pcscd could not be started; end-to-end tests will skip" >&2
fi
