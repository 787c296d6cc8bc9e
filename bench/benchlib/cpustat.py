"""Per-CPU time from /proc/stat: how busy each CPU was over a window, and with what.

The harness pins its processes, but it does not own the machine: another job on a pinned CPU
takes time from the process under test. Comparing a CPU's busy time with the CPU time of the
processes pinned to it shows such interference (see `others`).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

# /proc/stat columns after the CPU name.
_USER, _NICE, _SYSTEM, _IDLE, _IOWAIT, _IRQ, _SOFTIRQ, _STEAL = range(8)
_TICKS = __import__("os").sysconf("SC_CLK_TCK")


def cpu_list(text: str) -> list[int]:
    """"0", "0-1", "0,2-3" -> [0], [0, 1], [0, 2, 3]."""
    cpus: list[int] = []
    for part in filter(None, text.split(",")):
        low, _, high = part.partition("-")
        cpus.extend(range(int(low), int(high or low) + 1))
    return cpus


def snapshot() -> dict[int, list[int]]:
    times = {}
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("cpu") and line[3:4].isdigit():
            name, *values = line.split()
            times[int(name[3:])] = [int(v) for v in values[:8]]
    return times


@dataclass
class Usage:
    """Seconds of each kind over a window, summed over a set of CPUs."""
    wall_s: float
    cpus: int
    busy_s: float       # everything but idle and iowait (steal included)
    softirq_s: float    # network receive processing, among others
    irq_s: float
    steal_s: float      # taken by the hypervisor

    @property
    def busy(self) -> float:
        """Busy share of the CPUs' capacity, 0..1."""
        return self.busy_s / (self.wall_s * self.cpus) if self.wall_s and self.cpus else 0.0


class Window:
    """Start it, run the load, end it: usage() per CPU set over that window."""

    def __init__(self) -> None:
        self.begin = snapshot()
        self.started = time.monotonic()
        self.end: dict[int, list[int]] | None = None
        self.wall_s = 0.0

    def stop(self) -> "Window":
        self.end = snapshot()
        self.wall_s = time.monotonic() - self.started
        return self

    def usage(self, cpus: str) -> Usage:
        assert self.end is not None, "Window.stop() first"
        selected = [c for c in cpu_list(cpus) if c in self.begin and c in self.end]
        delta = [sum(self.end[c][k] - self.begin[c][k] for c in selected) / _TICKS
                 for k in range(8)]
        busy = sum(delta) - delta[_IDLE] - delta[_IOWAIT]
        return Usage(self.wall_s, len(selected), busy, delta[_SOFTIRQ], delta[_IRQ],
                     delta[_STEAL])


_IRQ_TIME_ACCOUNTING: bool | None = None


def interrupts_charged_to_tasks() -> bool:
    """Whether interrupt and softirq time is also in the CPU time of the task it interrupted.

    With tick-based accounting (CONFIG_IRQ_TIME_ACCOUNTING off), a tick that lands in a softirq
    is added to /proc/stat's softirq column AND to the running task's system time: on loopback,
    a sender's CPU time then includes the receive path it ran. With IRQ time accounting, it is
    in the softirq column only. Read from the kernel config when it is available; assumed on
    (tick-based) otherwise, which can only make "other jobs" look larger, never hide them.
    """
    global _IRQ_TIME_ACCOUNTING
    if _IRQ_TIME_ACCOUNTING is None:
        _IRQ_TIME_ACCOUNTING = False
        import gzip
        import platform
        candidates = [Path("/proc/config.gz"), Path(f"/boot/config-{platform.release()}")]
        for path in candidates:
            try:
                text = (gzip.open(path, "rt").read() if path.suffix == ".gz"
                        else path.read_text())
            except OSError:
                continue
            _IRQ_TIME_ACCOUNTING = "CONFIG_IRQ_TIME_ACCOUNTING=y" in text
            break
    return not _IRQ_TIME_ACCOUNTING
