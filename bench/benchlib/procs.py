"""Child processes pinned with taskset, always cleaned up.

Every process is started through `ProcessSet.start`, which pins it to a CPU list and asks the
kernel to send it SIGTERM should this Python process die without cleaning up (PR_SET_PDEATHSIG),
so that not even a `kill -9` of the harness leaves a triggerd or a stub behind. ProcessSet.close
stops them by pid: SIGTERM, a bounded wait, then SIGKILL.
"""
from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

_PR_SET_PDEATHSIG = 1
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _die_with_parent() -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass  # not Linux: the trap in ProcessSet.close still applies


def cpus_allowed(pid: int) -> str:
    """The CPU list the kernel lets `pid` run on, as /proc shows it ("0", "1", "0-1")."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("Cpus_allowed_list:"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "?"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time `pid` has used so far, in seconds."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    # Field 2 (comm) may hold spaces; the fields after its closing parenthesis are fixed.
    fields = stat[stat.rindex(")") + 2:].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / _CLOCK_TICKS


def status_kib(pid: int, key: str) -> int:
    """A kB figure of /proc/PID/status, e.g. VmHWM (peak resident set) or VmRSS."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(f"{key} not in /proc/{pid}/status")


@dataclass
class Child:
    name: str
    popen: subprocess.Popen
    cpus: str
    log_path: Path | None = None

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_text(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")


@dataclass
class ProcessSet:
    """The processes one harness run started; `close` ends each of them by its pid."""
    children: list[Child] = field(default_factory=list)

    def start(self, name: str, argv: list[str], cpus: str, log_path: Path | None = None,
              env: dict[str, str] | None = None, capture: bool = False) -> Child:
        """Starts argv pinned to `cpus` (taskset -c). Output goes to log_path, or to pipes
        when `capture` (read them with Child.popen.communicate)."""
        full_env = dict(os.environ)
        if env:
            full_env.update(env)
        if capture:
            stdout, stderr = subprocess.PIPE, subprocess.PIPE
        elif log_path is not None:
            stdout = open(log_path, "wb")  # noqa: SIM115 (closed right after the fork)
            stderr = subprocess.STDOUT
        else:
            stdout, stderr = subprocess.DEVNULL, subprocess.DEVNULL
        try:
            popen = subprocess.Popen(["taskset", "-c", cpus, *argv], stdout=stdout, stderr=stderr,
                                     stdin=subprocess.DEVNULL, env=full_env,
                                     preexec_fn=_die_with_parent)
        finally:
            if not capture and log_path is not None:
                stdout.close()
        child = Child(name, popen, cpus, log_path)
        self.children.append(child)
        # taskset sets the affinity and then execs the program: until the exec, /proc shows
        # the CPUs of this Python process. Wait (briefly) for the exec so that Child.pid's
        # figures (affinity, CPU time) are the program's.
        expected = os.path.basename(argv[0])[:15]
        deadline = time.monotonic() + 5.0
        while popen.poll() is None and time.monotonic() < deadline:
            try:
                if Path(f"/proc/{popen.pid}/comm").read_text().strip() == expected:
                    break
            except OSError:
                break
            time.sleep(0.002)
        return child

    def stop(self, child: Child, timeout: float = 10.0) -> int | None:
        """SIGTERM, wait up to `timeout` s, then SIGKILL. Returns the exit status."""
        if child.alive():
            try:
                child.popen.send_signal(signal.SIGTERM)
                child.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                child.popen.kill()
                child.popen.wait(timeout=5)
            except ProcessLookupError:
                pass
        if child in self.children:
            self.children.remove(child)
        return child.popen.returncode

    def close(self) -> None:
        for child in list(reversed(self.children)):
            try:
                self.stop(child, timeout=5.0)
            except Exception:  # noqa: BLE001: cleanup goes on with the next one
                pass


def count_window(count, duration_s: float, stop_at: float,
                 interval: float = 0.2) -> tuple[float, int, int]:
    """The measured window of a scenario that drains a backlog: reads `count()` every
    `interval` s from now until `duration_s` have passed or it reaches `stop_at` (so the window
    never runs into an empty queue). Returns (seconds, counted at the start, at the end)."""
    t0, c0 = time.monotonic(), count()
    deadline = t0 + duration_s
    c1 = c0
    while time.monotonic() < deadline and c1 < stop_at:
        time.sleep(interval)
        c1 = count()
    return time.monotonic() - t0, c0, c1


def wait_until(predicate, timeout: float, interval: float = 0.05, what: str = "condition"):
    """Polls `predicate` until it returns a truthy value; raises TimeoutError after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)
