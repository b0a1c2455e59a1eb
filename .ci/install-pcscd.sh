#!/usr/bin/env bash
# Idempotently provide pcscd + vsmartcard-vpcd for nfcd's PC/SC tests on
# Debian/Ubuntu: install the packages if missing, start `pcscd -f` (no
# --auto-exit; containers have no systemd socket activation) unless its
# socket is already up, and wait up to 10 s for /run/pcscd/pcscd.comm and
# for vpcd on 127.0.0.1:35963. Safe to source or run; prints what it did.
# pcscd's log goes to ${PCSCD_LOG:-${RUNNER_TEMP:-/tmp}/pcscd.log}; its PID,
# is exported as PCSCD_PID.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then set -euo pipefail; fi

install_pcscd() {
local pkgs=(pcscd libpcsclite-dev pkg-config gcc libc6-dev vsmartcard-vpcd)
local sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi

local missing=() p
for p in "${pkgs[@]}"; do
	dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
	echo "install-pcscd: installing ${missing[*]}"
	$sudo apt-get update -qq
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
	echo "install-pcscd: packages already installed"
fi

local sock=/run/pcscd/pcscd.comm pidfile=/run/pcscd/pcscd.pid
# The PID pcscd wrote (NUL-terminated), if that process is alive.
pcscd_pid() { local p; p="$(tr -d '\000' <"$pidfile" 2>/dev/null)" && [ -n "$p" ] && [ -d "/proc/$p" ] && echo "$p"; }
vpcd_up() { (exec 3<>/dev/tcp/127.0.0.1/35963) 2>/dev/null; }
# Probing vpcd with a bare connect inserts an empty "card" for one poll;
# pcscd drops it ~0.4 s later, so only probe while waiting.

if [ -S "$sock" ] && pcscd_pid >/dev/null; then
	echo "install-pcscd: pcscd already running (pid $(pcscd_pid))"
else
	local log="${PCSCD_LOG:-${RUNNER_TEMP:-/tmp}/pcscd.log}"
	local extra=()
	# pcsc-lite >= 2.0 builds with polkit (Ubuntu, Fedora) refuse non-root
	# clients unless told otherwise.
	if pcscd --help 2>&1 | grep -q -- '--disable-polkit'; then extra+=(--disable-polkit); fi
	$sudo rm -f "$sock"
	# setsid: keep pcscd alive after this shell exits.
	$sudo setsid pcscd --foreground "${extra[@]}" >"$log" 2>&1 </dev/null &
	echo "install-pcscd: started pcscd --foreground ${extra[*]} (log $log)"
fi

for _ in $(seq 200); do
	[ -S "$sock" ] && break
	sleep 0.05
done
if [ ! -S "$sock" ]; then
	echo "install-pcscd: pcscd socket $sock did not appear within 10 s" >&2
	return 1
fi
PCSCD_PID="$(pcscd_pid || true)"
export PCSCD_PID
local up=""
for _ in $(seq 200); do
	if vpcd_up; then up=1; break; fi
	sleep 0.05
done
if [ -z "$up" ]; then
	echo "install-pcscd: vpcd is not listening on 127.0.0.1:35963 (is vsmartcard-vpcd installed and /etc/reader.conf.d/vpcd present?)" >&2
	return 1
fi
sleep 0.5 # let pcscd drop the probe connection before tests insert cards
echo "install-pcscd: pcscd ready (pid $PCSCD_PID), socket $sock, vpcd on 127.0.0.1:35963"
}

install_pcscd
