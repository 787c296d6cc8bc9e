"""How long a process's threads waited for a CPU: /proc/PID/task/TID/schedstat (run time, time
runnable but waiting on a run queue, time slices), summed over the threads. On a shared CPU this
is the latency the scheduler adds: a woken thread waits while another one runs."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass
class SchedStat:
    run_s: float = 0.0
    wait_s: float = 0.0
    slices: int = 0

    def __sub__(self, other: "SchedStat") -> "SchedStat":
        return SchedStat(self.run_s - other.run_s, self.wait_s - other.wait_s,
                         self.slices - other.slices)

    @property
    def wait_per_slice_us(self) -> float:
        """Mean wait before each time slice: roughly, from a wake-up to running."""
        return self.wait_s / self.slices * 1e6 if self.slices > 0 else 0.0


def read(pid: int) -> SchedStat:
    """Summed over the process's threads; threads that ended are not counted."""
    total = SchedStat()
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            run_ns, wait_ns, slices = (int(v) for v in (task / "schedstat").read_text().split())
        except (OSError, ValueError):
            continue
        total.run_s += run_ns / 1e9
        total.wait_s += wait_ns / 1e9
        total.slices += slices
    return total
