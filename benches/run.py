#!/usr/bin/env python3
"""reporter's performance budgets (docs/performance.md), measured side by side with the tools admins
use today. Prints a table of medians and ratios.

    python3 benches/run.py            # the full run (a few minutes), release build
    python3 benches/run.py --quick    # seconds: small sizes, checks behaviour, no verdicts
    python3 benches/run.py --only flush   # one row alone, to study it (also: history)

Everything runs on this machine; the only network traffic is to an SMTP sink on loopback.
"""

import argparse
import atexit
import os
import platform
import re
import shutil
import signal
import resource
import socketserver
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCHES = ROOT / "benches"


class Sink(socketserver.ThreadingTCPServer):
    """A minimal SMTP server on loopback that accepts and counts every message."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), SinkHandler)
        self.messages = 0
        self.lock = threading.Lock()
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def port(self):
        return self.server_address[1]


class SinkHandler(socketserver.StreamRequestHandler):
    def handle(self):
        self.wfile.write(b"220 sink ESMTP\r\n")
        while True:
            line = self.rfile.readline()
            if not line:
                return
            verb = line[:4].upper()
            if verb == b"DATA":
                self.wfile.write(b"354 go on\r\n")
                while self.rfile.readline() not in (b".\r\n", b".\n", b""):
                    pass
                with self.server.lock:
                    self.server.messages += 1
                self.wfile.write(b"250 queued\r\n")
            elif verb == b"EHLO":
                self.wfile.write(b"250-sink\r\n250 8BITMIME\r\n")
            elif verb == b"QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:
                self.wfile.write(b"250 ok\r\n")


def scratch_dir(prefix):
    """A new temporary folder, removed with all it holds when the harness exits (its
    histories alone take tens of MiB each)."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


class Install:
    """A temporary reporter installation mailing to the sink."""

    def __init__(self, binary, sink, extra=""):
        self.binary = binary
        self.dir = scratch_dir("reporter-bench-")
        (self.dir / "jobs").mkdir()
        (self.dir / "templates").mkdir()
        (self.dir / "reporter.yaml").write_text(
            f"state_dir: state\nmail:\n  from: bench@example.com\n  to: [staff@example.com]\n"
            f"  smtp: {{host: 127.0.0.1, port: {sink.port}, timeout: 10s}}\n{extra}"
        )

    def job(self, name, text):
        (self.dir / "jobs" / f"{name}.yaml").write_text(text)

    def argv(self, *args):
        return [str(self.binary), "--config", str(self.dir / "reporter.yaml"), *args]


# The peak RSS that wait4 reports for a child of this Python counts the pages of Python
# itself: its child shares or copies Python's memory until it execs, and the kernel keeps
# the larger figure across exec (a /bin/true started here "uses" 18 MiB). GNU time forks
# from a process of 1 MiB, so its figure is the command's own.
GNU_TIME = Path("/usr/bin/time")


def run_timed(argv, own_rss=False, ok=(0,), **kwargs):
    """Wall time and peak RSS (KiB) of one command, which must exit with a code in `ok`.
    With `own_rss`, the RSS is the command's own (through GNU time), not bounded below by
    this harness's."""
    report = None
    if own_rss and GNU_TIME.exists():
        report = tempfile.NamedTemporaryFile(prefix="reporter-bench-rss-")
        argv = [str(GNU_TIME), "-f", "%M", "-o", report.name, *argv]
    started = time.perf_counter()
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kwargs)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    stderr = process.stderr.read().decode(errors="replace")
    process.stderr.close()
    code = os.waitstatus_to_exitcode(status)
    if code not in ok:
        sys.exit(f"{' '.join(map(str, argv))} exited {code}:\n{stderr}")
    if report is not None:
        with report:
            return elapsed, int(Path(report.name).read_text().split()[-1])
    return elapsed, usage.ru_maxrss


def tree_peaks(argv, ok=(0,)):
    """Runs `argv` once, sampling every 20 ms the peak RSS (VmHWM) of it and of every
    process below it: the largest seen for each program name, in MiB."""
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peaks = {}
    while process.poll() is None:
        parents, status = {}, {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                text = Path(f"/proc/{entry}/status").read_text()
            except OSError:
                continue
            fields = dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)
            parents[int(entry)] = int(fields.get("PPid", "0"))
            status[int(entry)] = fields
        for pid, fields in status.items():
            ancestor = pid
            while ancestor not in (0, 1, process.pid):
                ancestor = parents.get(ancestor, 0)
            if ancestor == process.pid and "VmHWM" in fields:
                name = fields["Name"].strip()
                peaks[name] = max(peaks.get(name, 0), int(fields["VmHWM"].split()[0]) / 1024)
        time.sleep(0.02)
    if process.returncode not in ok:
        sys.exit(f"{' '.join(map(str, argv))} exited {process.returncode}")
    return peaks


def sshd_journal(entries):
    """A journal folder of `entries` sshd messages a day of attacks would leave, made once
    with systemd-journal-remote and kept in target/bench-cache; and the epoch second of its
    first entry. Most are failed passwords from a few hundred addresses."""
    remote = next((p for p in ("/lib/systemd/systemd-journal-remote", "/usr/lib/systemd/systemd-journal-remote")
                   if Path(p).exists()), None)
    if remote is None:
        sys.exit("the journal row needs systemd-journal-remote (apt-get install systemd-journal-remote)")
    start = 1_767_225_600  # 2026-01-01T00:00:00Z, an entry every 20 ms from there
    folder = ROOT / "target" / "bench-cache" / f"journal-{entries}"
    if (folder / "done").exists():
        return folder, start
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    users = ["root", "admin", "oracle", "test", "ubuntu", "git", "postgres"] + [f"user{i}" for i in range(200)]
    export = folder / "entries.export"
    with open(export, "wb") as out:
        for i in range(entries):
            at = start * 1_000_000 + i * 20_000
            address = f"203.0.{(i * 7) % 4}.{(i * 13) % 256}"
            user, port = users[(i * 31) % len(users)], 1024 + i % 60000
            kind = i % 10
            if kind < 6:
                message = f"Failed password for {user} from {address} port {port} ssh2"
            elif kind < 8:
                message = f"Invalid user {user} from {address} port {port}"
            elif kind < 9:
                message = f"Connection closed by authenticating user {user} {address} port {port} [preauth]"
            else:
                message = f"Accepted publickey for admin from 192.0.2.{i % 4} port {port} ssh2: ED25519 SHA256:abc"
            out.write(f"__REALTIME_TIMESTAMP={at}\n__MONOTONIC_TIMESTAMP={at - start * 1_000_000 + 1}\n"
                      f"_BOOT_ID=0123456789abcdef0123456789abcdef\n_HOSTNAME=web1\n_UID=0\n_PID={1000 + i % 30000}\n"
                      f"_TRANSPORT=syslog\nSYSLOG_IDENTIFIER=sshd\nPRIORITY=6\nMESSAGE={message}\n\n".encode())
    subprocess.run([remote, f"--output={folder / 'sshd.journal'}", str(export)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    export.unlink()
    (folder / "done").write_text("")
    return folder, start


def bench_logins(binary, sink, table, quick, repeat, verdicts):
    """The shipped `logins` job over a journal of sshd entries, against journalctl piped
    into grep over the same window; and the peak RSS of reporter and of what counts."""
    entries = 5_000 if quick else 1_000_000
    journal, start = sshd_journal(entries)
    days = (int(time.time()) - start) // 86_400 + 2
    since = int(time.time()) - days * 86_400
    logins = Install(binary, sink, f"jobs_dir: {ROOT / 'jobs'}\ntemplates_dir: {ROOT / 'templates'}\nhistory_days: 0\n"
                     f"defaults:\n  since_default: {days}d\n  env: {{JOURNAL_DIRECTORY: '{journal}'}}\n")
    # In alternation, so that the machine's drift during the row moves both alike. Exit 1:
    # the job finds addresses with 20 failed logins or more, and says so.
    reference = ["sh", "-c", f"journalctl --directory '{journal}' --since @{since} --no-pager | grep -c Failed"]
    times = [(run_timed(logins.argv("run", "logins"), ok=(1,))[0], run_timed(reference)[0]) for _ in range(repeat)]
    ours = statistics.median(t for t, _ in times)
    grep = statistics.median(t for _, t in times)
    table.add(f"logins over {entries} journal entries", f"{ours:.2f} s", f"journalctl | grep -c {grep:.2f} s",
              f"{ours / grep:.2f}", "<= 1.5", ours / grep <= 1.5 if verdicts else None)
    peaks = tree_peaks(logins.argv("run", "logins"), ok=(1,))
    reporter = peaks.get("reporter", 0)
    awk = max(peaks.get(name, 0) for name in ("awk", "mawk", "gawk", "original-awk", "busybox"))
    # journalctl maps the journal files it reads: its resident pages are the files', in the
    # page cache, and the same in the reference.
    journalctl = peaks.get("journalctl", 0)
    table.add("  peak RSS: reporter, awk", f"{reporter:.1f}, {awk:.1f} MiB", f"journalctl {journalctl:.0f} MiB, its mapped files",
              "", "<= 64 MiB", max(reporter, awk) <= 64 if verdicts else None)


def median_time(argv, repeat, **kwargs):
    return statistics.median(run_timed(argv, **kwargs)[0] for _ in range(repeat))


def fill_history(database, jobs, runs_per_job):
    """Copies the one recorded run in `database` to `runs_per_job` hourly runs of each of
    `jobs` jobs, with its results and disks, and checkpoints the WAL. As reporter does, only
    each job's last run keeps the outputs of its results."""
    db = sqlite3.connect(database)
    columns = [row[1] for row in db.execute("PRAGMA table_info(runs)") if row[1] != "id"]
    seed = dict(zip(columns, db.execute(f"SELECT {', '.join(columns)} FROM runs").fetchone()))
    seed_id = db.execute("SELECT id FROM runs").fetchone()[0]
    result_columns = [row[1] for row in db.execute("PRAGMA table_info(results)") if row[1] != "run"]
    results = db.execute(f"SELECT {', '.join(result_columns)} FROM results WHERE run = ?", (seed_id,)).fetchall()
    outputs = [i for i, name in enumerate(result_columns) if name in ("stdout", "stderr")]
    without_outputs = [tuple(None if i in outputs else v for i, v in enumerate(r)) for r in results]
    disks = db.execute("SELECT mount, percent FROM disks WHERE run = ?", (seed_id,)).fetchall()
    db.executescript("DELETE FROM results; DELETE FROM disks; DELETE FROM runs;")
    start = seed["started_at"] - runs_per_job * 3_600_000
    next_id = 1
    run_rows, result_rows, disk_rows = [], [], []
    for job in range(jobs):
        for k in range(runs_per_job):
            row = dict(seed, job=f"job{job:04}", run_id=f"{seed['run_id']}-{job}-{k}",
                       started_at=start + k * 3_600_000 + job, finished_at=start + k * 3_600_000 + job + 40)
            run_rows.append((next_id, *row.values()))
            kept = results if k == runs_per_job - 1 else without_outputs
            result_rows += [(next_id, *result) for result in kept]
            disk_rows += [(next_id, *disk) for disk in disks]
            next_id += 1
    db.executemany(f"INSERT INTO runs (id, {', '.join(columns)}) VALUES ({', '.join('?' * (len(columns) + 1))})", run_rows)
    db.executemany(f"INSERT INTO results (run, {', '.join(result_columns)}) VALUES ({', '.join('?' * (len(result_columns) + 1))})", result_rows)
    db.executemany("INSERT INTO disks (run, mount, percent) VALUES (?, ?, ?)", disk_rows)
    db.commit()
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


class LoopbackSshd:
    """A throw-away sshd on a loopback port and an ssh config naming it `count` times
    (`h000`, `h001`, ...), for fan-out measured without any other machine."""

    def __init__(self, count, control_master=False):
        self.dir = scratch_dir("reporter-bench-sshd-")
        self.hosts = [f"h{i:03}" for i in range(count)]
        for key in ("host_key", "client_key"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.dir / key)], check=True)
        shutil.copy(self.dir / "client_key.pub", self.dir / "authorized_keys")
        Path("/run/sshd").mkdir(exist_ok=True) if os.geteuid() == 0 else None
        port = closed_port()
        (self.dir / "sshd_config").write_text(
            f"ListenAddress 127.0.0.1:{port}\nHostKey {self.dir / 'host_key'}\nPidFile none\nUsePAM no\n"
            f"StrictModes no\nAuthorizedKeysFile {self.dir / 'authorized_keys'}\nPasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\nMaxStartups 1000\n"
            "MaxSessions 100\nLogLevel ERROR\n"
            # Bash reads ~/.bashrc for a command sshd runs; on this kind of machine root's runs
            # `pyenv init` (over 100 ms a session), which would be measured instead of ssh.
            f"SetEnv HOME={self.dir}\n")
        host_key = (self.dir / "host_key.pub").read_text()
        (self.dir / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_key}")
        user = subprocess.run(["id", "-un"], capture_output=True, text=True, check=True).stdout.strip()
        # %n: one master per alias, as with real hosts (every alias is 127.0.0.1 here).
        control = (f"  ControlMaster auto\n  ControlPath {self.dir}/cm-%n\n  ControlPersist 60\n"
                   if control_master else "  ControlMaster no\n")
        (self.dir / "ssh_config").write_text(
            f"Host {' '.join(self.hosts)}\n  HostName 127.0.0.1\n  Port {port}\n"
            f"Host *\n  User {user}\n  IdentityFile {self.dir / 'client_key'}\n  IdentitiesOnly yes\n"
            f"  IdentityAgent none\n  UserKnownHostsFile {self.dir / 'known_hosts'}\n  GlobalKnownHostsFile /dev/null\n"
            f"  StrictHostKeyChecking yes\n  CheckHostIP no\n  BatchMode yes\n  LogLevel ERROR\n{control}")
        sshd = shutil.which("sshd") or "/usr/sbin/sshd"
        self.process = subprocess.Popen([sshd, "-D", "-e", "-f", str(self.dir / "sshd_config")],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        import socket
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    sys.exit("the benchmark's sshd does not listen")
                time.sleep(0.05)

    def config(self):
        return self.dir / "ssh_config"

    def close_masters(self):
        """Ends every ControlMaster, as `ControlPersist` does between two daily runs."""
        for host in self.hosts:
            if (self.dir / f"cm-{host}").exists():
                subprocess.run(["ssh", "-F", str(self.config()), "-O", "exit", host],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while any(self.dir.glob("cm-*")) and time.monotonic() < deadline:
            time.sleep(0.05)

    def stop(self):
        self.close_masters()
        self.process.kill()
        self.process.wait()


def parallel_ssh_time(sshd, command, repeat):
    """The median time of `parallel-ssh -p 32` running `command` on every host of `sshd`,
    or None when it is not installed."""
    pssh = shutil.which("parallel-ssh")
    if not pssh:
        return None
    hosts_file = sshd.dir / "hosts"
    hosts_file.write_text("\n".join(sshd.hosts) + "\n")
    return median_time([pssh, "-p", "32", "-h", str(hosts_file), "-x", f"-F {sshd.config()}", command],
                       max(1, repeat // 2))


def wait_for_text(path, text, seconds, count=1):
    """Waits until `text` appears `count` times in the file at `path`."""
    deadline = time.monotonic() + seconds
    while path.read_text().count(text) < count:
        if time.monotonic() > deadline:
            sys.exit(f"{path}: no {text!r} after {seconds} s:\n{path.read_text()}")
        time.sleep(0.001)


def closed_port():
    """A loopback port nothing listens on (remembered in `closed_port.last`)."""
    import socket
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port.last = probe.getsockname()[1]
    return closed_port.last


def targets_job(count, command, timeout="60s"):
    lines = [f"timeout: {timeout}", "targets:"]
    lines += [f"  - t{i}" for i in range(count)]
    lines.append(f"commands: [{command!r}]")
    return "\n".join(lines) + "\n"


class Table:
    def __init__(self):
        self.rows = []
        self.printed = False

    def add(self, what, figure, reference="", ratio="", budget="", ok=None):
        verdict = "" if ok is None else ("met" if ok else "MISSED")
        self.rows.append((what, figure, reference, ratio, budget, verdict))

    def print(self):
        self.printed = True
        head = ("measurement", "reporter", "reference", "ratio", "budget", "")
        widths = [max(len(str(r[i])) for r in self.rows + [head]) for i in range(len(head))]
        for row in [head] + self.rows:
            print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())


def machine():
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({model}), Linux {platform.release()}, Python {platform.python_version()}"


def bench_flush(binary, sink, table, quick, repeat, verdicts):
    """`flush` of many spooled messages against a Python smtplib script sending the same
    files over one connection (each run starts from the same spool)."""
    count = 100 if quick else 1000
    bulk = Install(binary, sink, "history_days: 0\n")
    (bulk.dir / "reporter.yaml").write_text((bulk.dir / "reporter.yaml").read_text().replace(f"port: {sink.port}", f"port: {closed_port()}"))
    for i in range(count):
        bulk.job(f"m{i:04}", "commands: [true]\n")
    subprocess.run(bulk.argv("run", "--all", "--jobs", "8"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    spool = bulk.dir / "state" / "spool"
    saved = bulk.dir / "saved-spool"
    shutil.copytree(spool, saved)
    assert len(list(saved.glob("*.msg"))) == count, "every report was spooled"
    (bulk.dir / "reporter.yaml").write_text((bulk.dir / "reporter.yaml").read_text().replace(f"port: {closed_port.last}", f"port: {sink.port}"))

    def fresh_spool():
        shutil.rmtree(spool)
        shutil.copytree(saved, spool)

    def timed_with_fresh_spool(argv):
        fresh_spool()
        before = sink.messages
        elapsed = run_timed(argv)[0]
        assert sink.messages == before + count, "every message was sent"
        return elapsed

    flushed = statistics.median(timed_with_fresh_spool(bulk.argv("flush")) for _ in range(repeat))
    python = statistics.median(timed_with_fresh_spool([sys.executable, str(BENCHES / "flush_reference.py"), str(sink.port), str(spool)]) for _ in range(repeat))
    table.add(f"flush of {count} messages", f"{flushed:.3f} s", f"Python smtplib {python:.3f} s", f"{flushed / python:.2f}", "<= 1.0", flushed / python <= 1.0 if verdicts else None)


# The job of the history rows: two commands of the kind a report runs, each keeping four
# values (docs/values.md) from df's line for the root filesystem: size, used, available and
# percent, as df -h writes them (then bytes) and in KiB.
VALUES_JOB = r"""commands:
  - run: df -h /
    values:
      size: '\n\S+\s+(\S+)'
      used: '\n\S+\s+\S+\s+(\S+)'
      avail: '\n\S+(?:\s+\S+){2}\s+(\S+)'
      percent: '(\d+)%'
  - run: df -k /
    values:
      size: '\n\S+\s+(\d+)'
      used: '\n\S+\s+\d+\s+(\d+)'
      avail: '\n\S+(?:\s+\d+){2}\s+(\d+)'
      percent: '(\d+)%'
"""


def bench_history(binary, sink, table, quick, repeat, verdicts):
    """`list` and `history --limit 20` over 1,000 jobs and 100,000 recorded runs, and the
    database's size per result with four values a command. The database is the real one: a
    run through the binary records the first run (schema, a real row and its results with
    their four values each), copied with SQL to every job. The jobs listed are the short
    files the `list` budget was set with: loading is mostly YAML parsing, whose cost grows
    with the files, not with what they hold."""
    jobs_count, runs_per_job = (100, 20) if quick else (1000, 100)
    big = Install(binary, sink)
    big.job("seed", VALUES_JOB)
    run_timed(big.argv("run", "seed"))
    database = big.dir / "state" / "history.sqlite3"
    kept = [row[0] for row in sqlite3.connect(database).execute("SELECT numbers FROM results")]
    assert len(kept) == 2 and all(text and text.count(":") == 4 for text in kept), f"four values a result: {kept}"
    (big.dir / "jobs" / "seed.yaml").unlink()
    for i in range(jobs_count):
        big.job(f"job{i:04}", f"schedule: '{i % 60} * * * *'\ncommands: [df -h, 'df -i']\n")
    fill_history(database, jobs_count, runs_per_job)
    listed = median_time(big.argv("list"), repeat)
    recent = median_time(big.argv("history", "--limit", "20"), repeat)
    results = sqlite3.connect(database).execute("SELECT count(*) FROM results").fetchone()[0]
    per_result = database.stat().st_size / results
    runs = jobs_count * runs_per_job
    table.add(f"list, {jobs_count} jobs, {runs} runs", f"{listed * 1000:.0f} ms", "", "", "<= 50 ms", listed <= 0.05 if verdicts else None)
    table.add(f"history --limit 20, {runs} runs", f"{recent * 1000:.0f} ms", "", "", "<= 50 ms", recent <= 0.05 if verdicts else None)
    table.add("  history file per result, 4 values each", f"{per_result:.0f} bytes", f"{results} results", "", "<= 300 bytes", per_result <= 300 if verdicts else None)


def seeded_history(binary, sink, jobs_count, runs_per_job):
    """An installation of `jobs_count` jobs with `runs_per_job` recorded runs each. The
    database is the real one: a run through the binary records the first run (schema, a
    real row and its results), copied with SQL to every job."""
    install = Install(binary, sink)
    install.job("seed", "commands: [df -h, 'df -i']\n")
    run_timed(install.argv("run", "seed"))
    (install.dir / "jobs" / "seed.yaml").unlink()
    for i in range(jobs_count):
        install.job(f"job{i:04}", f"schedule: '{i % 60} * * * *'\ncommands: [df -h, 'df -i']\n")
    fill_history(install.dir / "state" / "history.sqlite3", jobs_count, runs_per_job)
    return install


def big_history(binary, sink, quick):
    """An installation of 1,000 jobs with 100 recorded runs each (100 × 20 when quick), for
    the status rows."""
    jobs_count, runs_per_job = (100, 20) if quick else (1000, 100)
    return seeded_history(binary, sink, jobs_count, runs_per_job), jobs_count, runs_per_job


def bench_status(big, runs, table, repeat, verdicts):
    """`status`, `status --json` and the page over every job of `big` and its history."""
    jobs = len(list((big.dir / "jobs").glob("*.yaml")))
    page = big.dir / "status.html"
    for what, args in [("status", ["status"]), ("status --json", ["status", "--json"]),
                       ("status --html", ["status", "--html", str(page)])]:
        elapsed = median_time(big.argv(*args), repeat)
        table.add(f"{what}, {jobs} jobs, {runs} runs", f"{elapsed * 1000:.0f} ms", "", "", "<= 100 ms", elapsed <= 0.1 if verdicts else None)


def bench_fleet(binary, sink, table, quick, repeat, verdicts):
    """`status --hosts` over the loopback sshd's aliases (each one a reporter with 20 jobs
    and their history), writing the fleet's page, against `parallel-ssh -p 32` running the
    same `reporter status --json` on the same hosts."""
    if not (shutil.which("sshd") or Path("/usr/sbin/sshd").exists()):
        table.add("status --hosts", "", "sshd: not installed (apt-get install openssh-server)")
        return
    remote = seeded_history(binary, sink, 20, 100)
    remote_command = f"{binary} --config {remote.dir / 'reporter.yaml'}"
    fleet_size = 20 if quick else 200
    sshd = LoopbackSshd(fleet_size)
    try:
        fleet = Install(binary, sink, f"ssh: {{command: ssh, options: [-F, {sshd.config()}], reporter: '{remote_command}'}}\n"
                                      "pool_size: 32\nhistory_days: 0\n")
        page = fleet.dir / "fleet.html"
        ours = median_time(fleet.argv("status", "--hosts", ",".join(sshd.hosts), "--html", str(page)), max(1, repeat // 2))
        assert page.read_text().count("data-state=\"ok\"") == fleet_size, "every host answered"
        reference = parallel_ssh_time(sshd, f"{remote_command} status --json", repeat)
        if reference:
            table.add(f"status --hosts, {fleet_size} hosts, the page", f"{ours:.2f} s", f"parallel-ssh -p 32 {reference:.2f} s",
                      f"{ours / reference:.2f}", "<= 1.1", ours / reference <= 1.1 if verdicts else None)
        else:
            table.add(f"status --hosts, {fleet_size} hosts, the page", f"{ours:.2f} s", "parallel-ssh: not installed (apt-get install pssh)")
    finally:
        sshd.stop()


def bench_status_alone(binary, sink, table, quick, repeat, verdicts):
    """The `status` rows on a history of their own."""
    big, jobs_count, runs_per_job = big_history(binary, sink, quick)
    bench_status(big, jobs_count * runs_per_job, table, repeat, verdicts)


# The rows `--only` measures alone, each with the same arguments.
ONLY = {
    "flush": bench_flush,
    "history": bench_history,
    "logins": bench_logins,
    "status": bench_status_alone,
    "fleet": bench_fleet,
}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes, no verdicts (for CI)")
    parser.add_argument("--binary", help="reporter binary (default: build and use target/release)")
    parser.add_argument("--only", choices=list(ONLY), help="measure one row alone (not for the table of performance.md, which comes from one whole run)")
    args = parser.parse_args()
    quick = args.quick
    if args.binary:
        binary = Path(args.binary).resolve()
    else:
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
        binary = ROOT / "target" / "release" / "reporter"
    repeat = 1 if quick else 5
    sink = Sink()
    table = TABLE
    verdicts = not quick
    print(f"machine: {machine()}")
    print(f"binary: {binary}; {'quick run: figures only' if quick else f'medians of {repeat} runs'}\n")
    if args.only:
        ONLY[args.only](binary, sink, table, quick, repeat, verdicts)
        table.print()
        return

    # 1. Per-command overhead: N x `true` at concurrency 2.
    count = 200 if quick else 2000
    install = Install(binary, sink)
    install.job("many", targets_job(count, "true"))
    before = sink.messages
    ours = median_time(install.argv("run", "many", "--jobs", "2"), repeat)
    assert sink.messages == before + repeat, "every run mails its report"
    numbers = "\n".join(str(i) for i in range(count)) + "\n"
    xargs = median_time(["sh", "-c", f"printf '{numbers.replace(chr(10), chr(92) + 'n')}' | xargs -P2 -n1 sh -c true sh"], repeat)
    table.add(f"{count} x true, pool 2", f"{ours:.3f} s", f"xargs -P2 {xargs:.3f} s", f"{ours / xargs:.2f}", "<= 1.05", ours / xargs <= 1.05 if verdicts else None)
    if Path("/usr/bin/parallel").exists():
        parallel = median_time(["sh", "-c", f"seq {count} | parallel -j2 sh -c true"], max(1, repeat // 2))
        table.add("", "", f"parallel -j2 {parallel:.3f} s", f"{ours / parallel:.2f}")
    else:
        table.add("", "", "parallel: not installed (apt-get install parallel)")
    python = median_time([sys.executable, str(BENCHES / "pool_reference.py"), "2", "true", str(count)], repeat)
    table.add("", "", f"Python Pool(2) {python:.3f} s", f"{ours / python:.2f}", "<= 0.95", ours / python <= 0.95 if verdicts else None)

    # 2. Makespan: 64 x sleep 0.25 at pool 16; ideal 1.0 s.
    sleeps, pause, pool = (16, 0.1, 16) if quick else (64, 0.25, 16)
    ideal = sleeps / pool * pause
    install.job("sleepy", targets_job(sleeps, f"sleep {pause}"))
    makespan = median_time(install.argv("run", "sleepy", "--jobs", str(pool)), repeat)
    table.add(f"{sleeps} x sleep {pause}, pool {pool}", f"{makespan:.3f} s", f"ideal {ideal:.2f} s", f"{makespan / ideal:.3f}", "<= 1.03", makespan / ideal <= 1.03 if verdicts else None)
    # What this machine takes to start and reap the same processes: the floor under the ideal.
    floor = median_time(["sh", "-c", f"seq {sleeps} | xargs -P{pool} -n1 sh -c 'sleep {pause}' sh"], repeat)
    table.add("", "", f"xargs -P{pool} {floor:.3f} s", f"{makespan / floor:.3f}")

    # 3. Output flood: one command printing 1 GiB.
    size = (64 << 20) if quick else (1 << 30)
    install.job("flood", f"commands: ['head -c {size} /dev/zero']\n")
    floods = [run_timed(install.argv("run", "flood"), own_rss=True) for _ in range(repeat)]
    flood_time = statistics.median(t for t, _ in floods)
    flood_rss = max(rss for _, rss in floods) / 1024
    cat_time = median_time(["sh", "-c", f"head -c {size} /dev/zero | cat > /dev/null"], repeat)
    rate = size / flood_time / (1 << 30)
    own = "" if GNU_TIME.exists() else " (no /usr/bin/time: includes this harness's own)"
    table.add(f"{size >> 20} MiB on stdout: peak RSS{own}", f"{flood_rss:.1f} MiB", "", "", "<= 24 MiB", flood_rss <= 24 if verdicts else None)
    table.add("  drained at", f"{rate:.2f} GiB/s", f"cat {size / cat_time / (1 << 30):.2f} GiB/s", f"{cat_time / flood_time:.2f}", ">= 0.8 x cat", cat_time / flood_time >= 0.8 if verdicts else None)

    # 3b. Many large outputs: one job of 300 commands printing 2 MB each. The commands share
    # the job's output budget, so what reporter holds does not grow with their number.
    commands, each = (60, 1_000_000) if quick else (300, 2_000_000)
    lines = "".join(f"  - {{name: c{i:03}, run: \"head -c {each} /dev/zero | tr '\\\\0' x\"}}\n" for i in range(commands))
    install.job("wide", f"commands:\n{lines}")
    wides = [run_timed(install.argv("run", "wide"), own_rss=True) for _ in range(repeat)]
    wide_rss = max(rss for _, rss in wides) / 1024
    table.add(f"{commands} x {each // 1_000_000} MB of output: peak RSS{own}", f"{wide_rss:.1f} MiB", "", "", "<= 256 MiB", wide_rss <= 256 if verdicts else None)

    # 4a. check over 1,000 job files.
    files = 100 if quick else 1000
    many = Install(binary, sink)
    for i in range(files):
        many.job(f"job{i:04}", f"description: generated {i}\nschedule: '{i % 60} 3 * * *'\ntimeout: 30s\n"
                 f"commands:\n  - df -h\n  - {{name: inodes, run: df -i, fail_if: '9[0-9]%'}}\n")
    checked = median_time(many.argv("check"), repeat)
    table.add(f"check over {files} job files", f"{checked * 1000:.0f} ms", "", "", "<= 100 ms", checked <= 0.1 if verdicts else None)

    # 4b. Start-up to first child: a command that records when it ran, against the same
    # command started directly (which cancels the cost of sh and date themselves).
    stamp = install.dir / "stamp"
    install.job("stamp", f"commands: ['date +%s%N > {stamp}']\n")

    def first_child(argv):
        started = time.time_ns()
        run_timed(argv)
        return (int(stamp.read_text()) - started) / 1e6

    # In alternation, so that the machine's drift during the row moves both alike.
    spawn, direct = [], []
    for _ in range(repeat * 4):
        spawn.append(first_child(install.argv("preview", "stamp")))
        direct.append(first_child(["sh", "-c", f"date +%s%N > {stamp}"]))
    startup = statistics.median(spawn) - statistics.median(direct)
    table.add("start-up to first child", f"{startup:.2f} ms", f"sh -c directly {statistics.median(direct):.2f} ms", "", "<= 3 ms", startup <= 3 if verdicts else None)

    # 5. Daemon with 1,000 scheduled jobs: idle between fire times, and a SIGHUP reload.
    idle, scheduled = (3, 100) if quick else (30, 1000)
    daemon_install = Install(binary, sink)
    for i in range(scheduled):
        daemon_install.job(f"yearly{i:04}", f"schedule: '{i % 60} {i % 24} 1 1 *'\ncommands: [true]\n")
    log = daemon_install.dir / "daemon.log"
    with open(log, "w") as log_file:
        daemon = subprocess.Popen(daemon_install.argv("daemon"), stdout=subprocess.DEVNULL, stderr=log_file)
    try:
        wait_for_text(log, "scheduled job", 30)

        def status():
            text = Path(f"/proc/{daemon.pid}/status").read_text()
            field = lambda name: int(re.search(rf"^{name}:\s+(\d+)", text, re.M).group(1))
            return field("voluntary_ctxt_switches") + field("nonvoluntary_ctxt_switches"), field("VmHWM"), field("Threads")

        time.sleep(1)
        switches_before, _, _ = status()
        time.sleep(idle)
        switches_after, hwm, threads = status()
        reloads = []
        for _ in range(repeat):
            seen = log.read_text().count("reloaded:")
            started = time.perf_counter()
            daemon.send_signal(signal.SIGHUP)
            wait_for_text(log, "reloaded:", 30, count=seen + 1)
            reloads.append(time.perf_counter() - started)
        reload_time = statistics.median(reloads)
    finally:
        daemon.terminate()
        daemon.wait(timeout=40)
    wakeups = switches_after - switches_before
    table.add(f"daemon, {scheduled} jobs, idle {idle} s: wake-ups", str(wakeups), f"{threads} thread(s)", "", "0", wakeups == 0 if verdicts else None)
    table.add("  peak RSS", f"{hwm / 1024:.1f} MiB", "", "", "<= 24 MiB", hwm / 1024 <= 24 if verdicts else None)
    table.add("  SIGHUP reload", f"{reload_time * 1000:.0f} ms", "", "", "<= 100 ms", reload_time <= 0.1 if verdicts else None)

    # 6. Scale: time per task for growing numbers of tasks.
    sizes = [10, 100, 1000] if quick else [10, 100, 1000, 10000]
    per_task = {}
    for n in sizes:
        scale = Install(binary, sink)
        scale.job("scale", targets_job(n, "true"))
        per_task[n] = median_time(scale.argv("run", "scale", "--jobs", "2"), repeat) / n * 1000
    for n in sizes:
        growth = per_task[n] / per_task[sizes[-2]] if n == sizes[-1] else None
        table.add(f"{n} tasks: per task", f"{per_task[n]:.3f} ms", "", "" if growth is None else f"{growth:.2f} vs {sizes[-2]}",
                  "linear" if growth is not None else "", (growth <= 1.3) if (verdicts and growth is not None) else None)

    # 8. Bulk delivery.
    bench_flush(binary, sink, table, quick, repeat, verdicts)

    # 10. Fan-out: N hosts x `true` over ssh (one loopback sshd, N Host aliases), pool 32,
    # against parallel-ssh over the same aliases; then 3 commands per host with ControlMaster.
    if shutil.which("sshd") or Path("/usr/sbin/sshd").exists():
        fleet_size = 20 if quick else 200
        sshd = LoopbackSshd(fleet_size)
        try:
            fleet = Install(binary, sink, f"ssh: {{command: ssh, options: [-F, {sshd.config()}]}}\nhistory_days: 0\n")
            fleet.job("fleet", f"hosts: [{', '.join(sshd.hosts)}]\ncommands: ['true']\n")
            fanout = median_time(fleet.argv("run", "fleet", "--jobs", "32"), max(1, repeat // 2))
            reference = parallel_ssh_time(sshd, "true", repeat)
            if reference:
                table.add(f"{fleet_size} hosts x true over ssh, pool 32", f"{fanout:.2f} s", f"parallel-ssh -p 32 {reference:.2f} s",
                          f"{fanout / reference:.2f}", "<= 0.75", fanout / reference <= 0.75 if verdicts else None)
            else:
                table.add(f"{fleet_size} hosts x true over ssh, pool 32", f"{fanout:.2f} s", "parallel-ssh: not installed (apt-get install pssh)")
        finally:
            sshd.stop()
        sshd = LoopbackSshd(fleet_size, control_master=True)
        try:
            fleet = Install(binary, sink, f"ssh: {{command: ssh, options: [-F, {sshd.config()}]}}\nhistory_days: 0\n")
            fleet.job("one", f"hosts: [{', '.join(sshd.hosts)}]\ncommands: ['true']\n")
            fleet.job("three", f"hosts: [{', '.join(sshd.hosts)}]\ncommands: ['true', 'true 2', 'true 3']\n")
            # Each run starts with no master, as a daily run does once `ControlPersist` has
            # ended the last one: its first command per host logs in, the others reuse that.
            def cold(job):
                sshd.close_masters()
                return run_timed(fleet.argv("run", job, "--jobs", "32"))[0]
            one = statistics.median(cold("one") for _ in range(max(1, repeat // 2)))
            three = statistics.median(cold("three") for _ in range(max(1, repeat // 2)))
            table.add("  3 commands per host, ControlMaster", f"{three:.2f} s", f"1 command {one:.2f} s", f"{three / one:.2f}",
                      "<= 1.3", three / one <= 1.3 if verdicts else None)
        finally:
            sshd.stop()
    else:
        table.add("hosts over ssh", "", "sshd: not installed (apt-get install openssh-server)")
    bench_fleet(binary, sink, table, quick, repeat, verdicts)

    # 9. History at scale.
    bench_history(binary, sink, table, quick, repeat, verdicts)
    # `status` over 1,000 jobs and 100,000 recorded runs.
    big, jobs_count, runs_per_job = big_history(binary, sink, quick)
    bench_status(big, jobs_count * runs_per_job, table, repeat, verdicts)

    # 11. Growth: `list` as jobs grow, and the history as runs grow; each should grow
    # linearly or better.
    job_sizes = [10, 100] if quick else [10, 100, 1000]
    list_ms = {}
    for jobs in job_sizes:
        grown = seeded_history(binary, sink, jobs, 10 if quick else 100)
        list_ms[jobs] = median_time(grown.argv("list"), repeat) * 1000
    for jobs in job_sizes:
        table.add(f"list, {jobs} jobs", f"{list_ms[jobs]:.0f} ms", "", f"{list_ms[jobs] / list_ms[job_sizes[0]]:.2f} vs {job_sizes[0]}" if jobs != job_sizes[0] else "")
    run_sizes = [1000, 10000] if quick else [1000, 10000, 100000]
    for runs in run_sizes:
        grown = seeded_history(binary, sink, 100, runs // 100)
        database = grown.dir / "state" / "history.sqlite3"
        query = median_time(grown.argv("history", "--limit", "20"), repeat) * 1000
        size = database.stat().st_size
        table.add(f"history of {runs} runs", f"{size / (1 << 20):.1f} MiB", f"history --limit 20 {query:.0f} ms", f"{size / runs:.0f} bytes/run")

    # 12. The log report: the shipped logins job over a journal of sshd entries.
    bench_logins(binary, sink, table, quick, repeat, verdicts)

    # 7. End to end: run disk-usage against the classic Python script doing the same.
    # Without history, like the script: five runs minutes apart would otherwise make a
    # disk forecast (and `disk_full_within`) of whatever this machine wrote meanwhile.
    disk = Install(binary, sink, f"jobs_dir: {ROOT / 'jobs'}\ntemplates_dir: {ROOT / 'templates'}\nhistory_days: 0\n")
    before = sink.messages
    ours = median_time(disk.argv("run", "disk-usage"), repeat)
    classic = median_time([sys.executable, str(BENCHES / "classic_report.py"), str(sink.port)], repeat)
    assert sink.messages >= before + 2 * repeat, "both mailed every run"
    table.add("run disk-usage end to end", f"{ours * 1000:.1f} ms", f"classic Python {classic * 1000:.1f} ms", f"{ours / classic:.2f}", "<= 0.15", ours / classic <= 0.15 if verdicts else None)

    table.print()
    missed = [row for row in table.rows if row[5] == "MISSED"]
    print(f"\n{len(missed)} budget(s) missed" if verdicts else "\nquick run: behaviour checked, budgets not judged")


TABLE = Table()

if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_NOFILE, (4096, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
    try:
        main()
    finally:
        # A scenario that failed stops the run: what was measured before it still counts.
        if TABLE.rows and not TABLE.printed:
            TABLE.print()
