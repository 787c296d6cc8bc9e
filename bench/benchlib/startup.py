"""Start-up measurements: when a freshly exec'd triggerd first answers /readyz 200, how much CPU
it used to get there, and its memory afterwards.

The Triggerd class of triggerd.py learns the admin port from the start-up log and polls at
50 ms: fine to wait for a broker, too coarse to time one. Here the admin port is chosen up
front (a free port, so there is no log to wait for) and /readyz is polled over a raw socket
every millisecond, so the figure is good to about a millisecond.
"""
from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from pathlib import Path

from .procs import Child, ProcessSet, status_kib

POLL_INTERVAL_S = 0.001


def free_port() -> int:
    """A port nothing listens on right now. Another process could take it before triggerd
    binds it; on a bench machine that does not happen in practice, and triggerd would then
    exit (the run fails loudly rather than measuring the wrong thing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def http_status(port: int, path: str, timeout: float = 1.0) -> int | None:
    """The status code of GET path on 127.0.0.1:port, or None when nothing listens there
    (yet). HTTP/1.0 and one read: the status line is in the first segment."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(f"GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".encode())
            head = sock.recv(64)
    except (ConnectionRefusedError, ConnectionResetError):
        return None
    except OSError:
        return None
    parts = head.split(b" ", 2)
    return int(parts[1]) if len(parts) >= 2 and parts[1].isdigit() else None


def task_cpu_ns(pid: int) -> int:
    """CPU time of every thread of `pid` so far, in ns (/proc/PID/task/*/schedstat: the
    scheduler's own figure, not rounded to clock ticks like /proc/PID/stat)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total


@dataclass
class Started:
    child: Child
    ready_s: float        # exec to the first /readyz 200, wall clock
    cpu_to_ready_s: float  # triggerd's CPU time at that moment (all threads)
    polls: int            # /readyz probes it took


def start_until_ready(procs: ProcessSet, argv: list[str], cpus: str, log_path: Path,
                      admin_port: int, name: str = "triggerd",
                      timeout: float = 20.0) -> Started:
    """Starts argv (pinned) and polls GET /readyz on admin_port until it answers 200.
    The clock starts just before the fork; taskset's own exec (about a millisecond) is in
    the figure."""
    started = time.monotonic()
    child = procs.start(name, argv, cpus, log_path)
    deadline = started + timeout
    polls = 0
    while True:
        polls += 1
        if http_status(admin_port, "/readyz") == 200:
            ready = time.monotonic()
            break
        if not child.alive():
            raise RuntimeError(f"{name} exited ({child.popen.returncode}) before it was ready:\n"
                               f"{child.log_text()[-3000:]}")
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{name} did not answer /readyz 200 within {timeout:.0f}s")
        time.sleep(POLL_INTERVAL_S)
    cpu_ns = task_cpu_ns(child.pid)
    return Started(child, ready - started, cpu_ns / 1e9, polls)


@dataclass
class Memory:
    rss_mib: float        # VmRSS
    anon_mib: float       # RssAnon: heap, stacks; what the process itself allocated
    file_mib: float       # RssFile: the binary and shared libraries that are paged in
    peak_mib: float       # VmHWM
    threads: int


def memory(pid: int) -> Memory:
    threads = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            threads = int(line.split()[1])
    return Memory(rss_mib=status_kib(pid, "VmRSS") / 1024.0,
                  anon_mib=status_kib(pid, "RssAnon") / 1024.0,
                  file_mib=status_kib(pid, "RssFile") / 1024.0,
                  peak_mib=status_kib(pid, "VmHWM") / 1024.0,
                  threads=threads)
