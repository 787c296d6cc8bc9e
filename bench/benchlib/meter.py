"""CPU accounting over one measured window: each process's CPU seconds, each pinned CPU's busy
time, and what of that busy time belongs to none of our processes (other jobs)."""
from __future__ import annotations

import resource
from dataclasses import dataclass, field

from . import cpustat
from .procs import cpu_seconds


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Meter:
    """Meter({"triggerd": pid, ...}) before the load; .stop() after it. Processes that start and
    end inside the window (wrk) are counted through RUSAGE_CHILDREN as "reaped"."""
    pids: dict[str, int]
    _before: dict[str, float] = field(default_factory=dict)
    _reaped_before: float = 0.0
    window: cpustat.Window | None = None
    cpu_s: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._before = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        self._reaped_before = _children_cpu_s()
        self.window = cpustat.Window()

    def stop(self) -> "Meter":
        self.window.stop()
        self.cpu_s = {name: cpu_seconds(pid) - self._before[name]
                      for name, pid in self.pids.items()}
        self.cpu_s["reaped"] = _children_cpu_s() - self._reaped_before
        return self

    @property
    def wall_s(self) -> float:
        return self.window.wall_s

    def cores(self, name: str) -> float:
        return self.cpu_s[name] / self.wall_s

    def busy_cores(self, cpus: str) -> float:
        return self.window.usage(cpus).busy_s / self.wall_s

    def interrupt_cores(self, cpus: str) -> float:
        """Interrupt and softirq time on `cpus`, in cores. On loopback, much of it is the TCP
        receive path of what the processes there send."""
        usage = self.window.usage(cpus)
        return (usage.softirq_s + usage.irq_s) / self.wall_s

    def uncharged_interrupt_s(self, cpus: str) -> float:
        """Interrupt time on `cpus` that is in no process's CPU time (see
        cpustat.interrupts_charged_to_tasks): 0 with tick-based accounting."""
        if cpustat.interrupts_charged_to_tasks():
            return 0.0
        usage = self.window.usage(cpus)
        return usage.softirq_s + usage.irq_s

    def own_cost_s(self, name: str, cpus: str) -> float:
        """The CPU seconds of `name`, pinned to `cpus`, with the interrupt time there that is
        charged to no process: on loopback the sender's CPU also runs the receive path of what
        it sends, its cost too, which is in its CPU time unless the kernel accounts interrupts
        apart."""
        return self.cpu_s[name] + self.uncharged_interrupt_s(cpus)

    def others_all(self, cpus: str) -> float:
        """Busy time on `cpus` charged to none of the metered processes (nor reaped children),
        in cores: another job on the machine, when the metered processes are the only ones
        of ours pinned there."""
        usage = self.window.usage(cpus)
        ours = sum(self.cpu_s.values()) + self.uncharged_interrupt_s(cpus)
        return max(0.0, (usage.busy_s - ours) / self.wall_s)
