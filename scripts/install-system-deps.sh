#!/usr/bin/env bash
# Install the Debian packages the test suite and the benchmarks use, when they are missing.
# Needs root and apt-get; anywhere else it only reports what is missing (tests needing a
# missing tool then skip with a visible reason, except in CI where they fail).
set -euo pipefail

# command -> Debian package
declare -A NEEDED=(
  [slapd]=slapd [ldapsearch]=ldap-utils [litmus]=litmus [sftp]=openssh-client
  [sshd]=openssh-server [rclone]=rclone [lftp]=lftp [sshfs]=sshfs [fusermount3]=fuse3
  [curl]=curl [cadaver]=cadaver [apache2]=apache2 [sshpass]=sshpass [openssl]=openssl
  [setsid]=util-linux [zip]=zip [chromium]=chromium [haproxy]=haproxy
  [pg_dump]=postgresql-client [systemd-analyze]=systemd
)
export PATH="$PATH:/usr/sbin:/sbin"
missing=()
for cmd in "${!NEEDED[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${NEEDED[$cmd]}")
done
if [ "${#missing[@]}" -eq 0 ]; then
  echo "system tools: all present"
  exit 0
fi
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "system tools missing (install them as root): ${missing[*]}" >&2
  exit 0
fi
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# slapd's post-install would configure and start a system directory: the tests run their own
policy_rc=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy_rc" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy_rc" && chmod +x "$policy_rc" && created_policy=1
fi
trap '[ "$created_policy" = 1 ] && rm -f "$policy_rc"' EXIT
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "system tools installed"
