#!/usr/bin/env bash
# The whole test suite, on a fresh Debian or Ubuntu machine too: installs the tools the
# end-to-end tests run for real when they are missing (as root; anyone else is told what
# to install), then runs `cargo test` with any arguments given.
set -euo pipefail
cd "$(dirname "$0")"

need=()
command -v df >/dev/null || need+=(coreutils)
command -v ps >/dev/null || need+=(procps)
command -v setpriv >/dev/null || need+=(util-linux)          # tests that drop to `nobody`
command -v script >/dev/null || need+=(bsdutils)             # reporter run from a terminal
[ -x /usr/bin/python3 ] || need+=(python3)                   # commands that attack reporter
# The ssh tests start a real sshd on loopback; the sweep tests ping loopback addresses.
{ command -v ssh && command -v ssh-keygen; } >/dev/null || need+=(openssh-client)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ping >/dev/null || need+=(iputils-ping)
command -v run-parts >/dev/null || need+=(debianutils)      # the cron.daily drop-in test
command -v chromium >/dev/null || need+=(chromium)          # HTML mail rendered headless
command -v faketime >/dev/null || need+=(faketime)        # schedules seen at chosen instants
# The shipped SNMP sweep is tested against a real agent on loopback (Net-SNMP).
command -v snmpget >/dev/null || need+=(snmp)
[ -x /usr/sbin/snmpd ] || need+=(snmpd)
# The metrics file is validated by the real `promtool check metrics`, which Debian ships
# only inside `prometheus` (96 MB installed, ~30 s to install; its service is not started
# in a container without systemd).
command -v promtool >/dev/null || need+=(prometheus)
command -v openssl >/dev/null || need+=(openssl)            # each TLS test makes its own CA
# The log reports read journal files that systemd-journal-remote writes from export-format
# entries, through the real journalctl (package systemd).
command -v journalctl >/dev/null || need+=(systemd)
[ -x /lib/systemd/systemd-journal-remote ] || [ -x /usr/lib/systemd/systemd-journal-remote ] ||
  need+=(systemd-journal-remote)
# Debian's own MTA, for one delivery over STARTTLS into a mailbox: the test runs `exim4 -bdf`
# in the foreground on 127.0.0.1 with a configuration of its own. Installing it replaces
# another MTA (postfix, ...), so it is only installed where none is; its system service is
# kept from starting (policy-rc.d) where none keeps it already.
install_exim=
if [ ! -x /usr/sbin/exim4 ]; then
  if [ -e /usr/sbin/sendmail ]; then
    echo "test.sh: the MTA test needs exim4 (exim4-daemon-light), which would replace the MTA installed here; it will fail" >&2
  else
    install_exim=1
  fi
fi

if [ -n "$install_exim" ] && [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
  echo "test.sh: installing exim4-daemon-light" >&2
  apt-get update -qq
  policy=
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    policy=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy"
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends exim4-daemon-light >/dev/null ||
    { [ -z "$policy" ] || rm -f "$policy"; exit 1; }
  [ -z "$policy" ] || rm -f "$policy"
elif [ -n "$install_exim" ]; then
  need+=(exim4-daemon-light)
fi

if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    echo "test.sh: the tests need: ${need[*]}" >&2
    echo "test.sh: install them with: sudo apt-get install --no-install-recommends ${need[*]}" >&2
    echo "test.sh: (or run ./test.sh as root, which installs them)" >&2
    exit 1
  fi
  echo "test.sh: installing ${need[*]}" >&2
  apt-get update -qq
  # --no-install-recommends: the tests need the binaries, not xauth or ncurses-term.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# The inventory test runs the real ansible-inventory (PyPI's ansible-core, or Debian's).
if ! command -v ansible-inventory >/dev/null; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "test.sh: the tests need ansible-inventory: pip install --user ansible-core" >&2
    exit 1
  fi
  echo "test.sh: installing ansible-core" >&2
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore ansible-core 2>/dev/null ||
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ansible-core >/dev/null
  hash -r
fi

# As root, reporter refuses group- or world-writable config files and the folders that
# hold them, the checkout itself included (a checkout made under umask 002 has them); the
# tests use the shipped examples.
if [ "$(id -u)" -eq 0 ]; then
  chmod go-w .
  chmod -R go-w reporter.yaml jobs templates
fi

exec cargo test "$@"
