#!/usr/bin/env bash
# CI for the .deb (docs/CONTRIBUTING.md), as root on a Debian machine that does not have reporter
# installed: builds it with cargo deb, inspects it, runs lintian, installs it, checks the
# units, runs /etc/cron.daily through run-parts against a loopback SMTP server and checks
# the mail, then removes and purges it and checks that nothing is left.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

fail() { echo "test-deb.sh: FAIL: $*" >&2; exit 1; }
step() { echo "test-deb.sh: $*" >&2; }

[ "$(id -u)" -eq 0 ] || fail "run as root (it installs and purges the package)"
if dpkg-query -W -f '${Status}' reporter 2>/dev/null | grep -q installed; then
  fail "reporter is installed on this machine: this test installs and purges it; remove it first"
fi
[ ! -e /etc/reporter ] || fail "/etc/reporter exists and is not from the package: move it away first"
[ ! -e /var/lib/reporter ] || fail "/var/lib/reporter exists: move it away first (the purge removes it)"

need=()
command -v lintian >/dev/null || need+=(lintian)
command -v systemd-analyze >/dev/null || need+=(systemd)
command -v run-parts >/dev/null || need+=(debianutils)
command -v python3 >/dev/null || need+=(python3)
command -v man >/dev/null || need+=(man-db)
if [ ${#need[@]} -gt 0 ]; then
  step "installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# Pinned: the version these checks were written against (about 2 minutes to build).
if ! command -v cargo-deb >/dev/null; then
  step "installing cargo-deb"
  cargo install cargo-deb --locked --version 3.8.0
fi

step "building the package"
cargo deb
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
version=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["packages"][0]["version"])')
deb="$target_dir/debian/reporter_${version}-1_$(dpkg --print-architecture).deb"
[ -f "$deb" ] || fail "no $deb"

step "inspecting $deb"
contents=$(dpkg-deb -c "$deb" | awk '{print $1, $2, $6}')
for entry in \
  "-rwxr-xr-x 0/0 ./usr/bin/reporter" \
  "-rw-r--r-- 0/0 ./etc/reporter/reporter.yaml" \
  "-rw-r--r-- 0/0 ./etc/reporter/jobs/disk-usage.yaml" \
  "-rw-r--r-- 0/0 ./etc/reporter/templates/disk-usage.txt.hbs" \
  "-rw-r--r-- 0/0 ./etc/reporter/templates/partials/disks.txt.hbs" \
  "-rwxr-xr-x 0/0 ./etc/cron.daily/reporter" \
  "-rwxr-xr-x 0/0 ./etc/init.d/reporter" \
  "-rw-r--r-- 0/0 ./etc/default/reporter" \
  "-rw-r--r-- 0/0 ./etc/logrotate.d/reporter" \
  "-rw-r--r-- 0/0 ./usr/lib/systemd/system/reporter.service" \
  "-rw-r--r-- 0/0 ./usr/lib/systemd/system/reporter-run.service" \
  "-rw-r--r-- 0/0 ./usr/lib/systemd/system/reporter.timer" \
  "-rw-r--r-- 0/0 ./usr/share/man/man1/reporter.1.gz" \
  "-rw-r--r-- 0/0 ./usr/share/man/man5/reporter.yaml.5.gz" \
  "-rw-r--r-- 0/0 ./usr/share/man/man7/reporter-templates.7.gz" \
  "-rw-r--r-- 0/0 ./usr/share/doc/reporter/docs/security.md" \
  "-rw-r--r-- 0/0 ./usr/share/doc/reporter/docs/scheduling.md" \
  "-rw-r--r-- 0/0 ./usr/share/bash-completion/completions/reporter" \
  "-rw-r--r-- 0/0 ./usr/share/zsh/vendor-completions/_reporter" \
  "-rw-r--r-- 0/0 ./usr/share/fish/vendor_completions.d/reporter.fish"; do
  grep -qxF -- "$entry" <<<"$contents" || fail "not in the package: $entry"
done
# Nothing enabled by the package itself: no links in it.
! grep -q "wants/" <<<"$contents" || fail "the package ships enabled units"
info=$(dpkg-deb -I "$deb")
depends=$(dpkg-deb -f "$deb" Depends)
[[ "$depends" =~ ^libc6(\ \(.*\))?$ ]] || fail "depends on more than libc: $depends"
conffiles=$(dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles)
for conffile in /etc/reporter/reporter.yaml /etc/reporter/jobs/disk-usage.yaml \
  /etc/reporter/templates/partials/disks.txt.hbs /etc/cron.daily/reporter \
  /etc/init.d/reporter /etc/default/reporter /etc/logrotate.d/reporter; do
  grep -qxF "$conffile" <<<"$conffiles" || fail "not a conffile: $conffile"
done
echo "$info" | sed -n '/Package:/,$p' >&2

step "lintian"
# Errors and warnings fail; the tags accepted are in packaging/lintian-overrides.
lintian --fail-on error,warning "$deb"

step "installing"
dpkg -i "$deb"
trap 'dpkg --purge reporter >/dev/null 2>&1 || true' EXIT
[ "$(stat -c %a:%U /var/lib/reporter)" = "700:root" ] || fail "/var/lib/reporter is $(stat -c %a:%U /var/lib/reporter)"
for unit in reporter.service reporter.timer; do
  [ ! -e "/etc/systemd/system/multi-user.target.wants/$unit" ] \
    && [ ! -e "/etc/systemd/system/timers.target.wants/$unit" ] || fail "$unit is enabled"
done
! ls /etc/rc[2-5].d/S*reporter >/dev/null 2>&1 || fail "the init script is enabled"
# Each page found by name, as a reader asks for it, and read without a warning from groff.
for page in "1 reporter" "5 reporter.yaml" "7 reporter-templates"; do
  set -- $page
  file=$(man -w "$1" "$2") || fail "man $1 $2: not found by man"
  [ "$file" = "/usr/share/man/man$1/$2.$1.gz" ] || fail "man $1 $2 finds $file"
  warnings=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings "$1" "$2" 2>&1 >/dev/null)
  [ -z "$warnings" ] || fail "man $1 $2: $warnings"
  shown=$(LC_ALL=C.UTF-8 MANWIDTH=80 man "$1" "$2")
  grep -q "^NAME" <<<"$shown" || fail "man $1 $2 shows no NAME section"
done

step "checking the units"
systemd-analyze verify /usr/lib/systemd/system/reporter.service \
  /usr/lib/systemd/system/reporter-run.service /usr/lib/systemd/system/reporter.timer
for unit in reporter.service reporter-run.service; do
  exposure=$(systemd-analyze security --offline=yes "/usr/lib/systemd/system/$unit" 2>&1 |
    sed -n 's/.*Overall exposure level for .*: \([0-9.]*\).*/\1/p')
  [ -n "$exposure" ] || fail "no exposure figure for $unit"
  step "$unit: exposure $exposure"
  python3 -c "import sys; sys.exit(float('$exposure') > 5.0)" || fail "$unit: exposure $exposure > 5.0"
done
sh -n /etc/init.d/reporter
/etc/init.d/reporter status >/dev/null && fail "status says running" || [ $? -eq 3 ] || fail "status of a stopped daemon is not 3"

step "the installed config is valid"
(cd / && reporter check)   # finds /etc/reporter/reporter.yaml itself

step "run-parts /etc/cron.daily against a loopback SMTP server"
sink=$(mktemp -d)
python3 packaging/smtp-sink.py "$sink" "$sink/port" &
sink_pid=$!
trap 'kill "$sink_pid" 2>/dev/null || true; dpkg --purge reporter >/dev/null 2>&1 || true' EXIT
for _ in $(seq 100); do [ -s "$sink/port" ] && break; sleep 0.1; done
port=$(cat "$sink/port")
sed -i -e "s/^    port: 25\$/    port: $port/" -e 's/^    host: localhost  /    host: 127.0.0.1  /' \
  -e 's/^  to: \[root@localhost\]/  to: [admin@ci.example]/' /etc/reporter/reporter.yaml
grep -q "port: $port" /etc/reporter/reporter.yaml || fail "could not point the config at the sink"
# run-parts runs the script under its name rules (no dot in it) ...
run-parts --test /etc/cron.daily | grep -qx /etc/cron.daily/reporter || fail "run-parts would skip /etc/cron.daily/reporter"
# ... and only ours is run here: the machine's other daily jobs are not this test's business.
status=0
run-parts --report --regex '^reporter$' /etc/cron.daily || status=$?
# 0, or 1 when a shipped check found something (a full disk, a failed unit): mailed anyway.
[ "$status" -le 1 ] || fail "run-parts exited $status"
# The daily jobs that are not `enabled: false` (the sweeps are examples, off until set up).
daily=$(grep -l '^schedule: daily' /etc/reporter/jobs/*.yaml | xargs grep -L '^enabled: false' | wc -l)
received=$(find "$sink" -name '*.eml' | wc -l)
[ "$received" -eq "$daily" ] || fail "$received messages for $daily daily jobs"
grep -q '^X-Reporter-Job: disk-usage' "$sink"/*.eml || fail "no disk-usage report"
grep -q '^To: admin@ci.example' "$sink"/*.eml || fail "not sent to mail.to"
[ -f /var/lib/reporter/history.sqlite3 ] || fail "no history in /var/lib/reporter"
step "$received messages arrived"

if [ -d /run/systemd/system ]; then
  # systemd runs this machine: the shipped jobs run in the sandbox of reporter-run.service
  # (the init script would only hand over to systemctl here).
  step "reporter-run.service in its sandbox"
  systemctl daemon-reload
  before=$(find "$sink" -name '*.eml' | wc -l)
  status=0
  systemctl start reporter-run.service || status=$?
  [ "$status" -eq 0 ] || { journalctl -u reporter-run.service --no-pager | tail -50 >&2; fail "reporter-run.service failed"; }
  after=$(find "$sink" -name '*.eml' | wc -l)
  [ $((after - before)) -eq "$daily" ] || fail "$((after - before)) messages from the sandbox for $daily daily jobs"
  # A shipped check may find something on this machine (a failed unit, failed logins, an
  # OOM kill in its journal): its "not ok:" line is the report's, not the sandbox's fault.
  warnings=$(journalctl -u reporter-run.service --no-pager -p warning | grep "reporter\[" | grep -v ": not ok: " || true)
  [ -z "$warnings" ] || { printf '%s\n' "$warnings" >&2; fail "warnings under the sandbox"; }
else
  step "the init script"
  /etc/init.d/reporter start
  /etc/init.d/reporter status | grep -q "is running" || fail "not running after start"
  pid=$(cat /run/reporter.pid)
  /etc/init.d/reporter force-reload
  /etc/init.d/reporter restart
  [ "$(cat /run/reporter.pid)" != "$pid" ] || fail "restart kept process $pid"
  /etc/init.d/reporter stop
  status=0; /etc/init.d/reporter status >/dev/null || status=$?
  [ "$status" -eq 3 ] || fail "status after stop: $status"
  grep -q "SIGHUP: reloading" /var/log/reporter.log || fail "no reload in /var/log/reporter.log"

fi

step "remove, then purge"
dpkg -r reporter
# The conffiles stay until the purge; the cron script then does nothing, quietly.
[ -x /etc/cron.daily/reporter ] || fail "cron script gone before the purge"
out=$(run-parts --report --regex '^reporter$' /etc/cron.daily 2>&1) || fail "run-parts fails after remove: $out"
[ -z "$out" ] || fail "run-parts says after remove: $out"
dpkg --purge reporter
left=$(find /etc /var/lib /var/log /usr/bin /usr/lib/systemd /usr/share/man /usr/share/doc \
  /usr/share/bash-completion /usr/share/zsh /usr/share/fish /usr/share/lintian \
  -name '*reporter*' 2>/dev/null || true)
[ -z "$left" ] || fail "left after purge: $left"
! dpkg-query -W reporter >/dev/null 2>&1 || fail "dpkg still knows reporter"
kill "$sink_pid"
rm -rf "$sink"
trap - EXIT
step "ok"
