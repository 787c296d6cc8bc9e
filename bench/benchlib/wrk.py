"""wrk as the load generator: a closed loop of `connections` POSTs of one body."""
from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .procs import ProcessSet, cpus_allowed

LUA_DIR = Path(__file__).resolve().parent.parent / "lua"


@dataclass
class WrkResult:
    requests: int         # answers read within the duration, any status
    duration_s: float     # wrk's own measured duration
    status_errors: int    # answers with status > 399 (wrk's "Non-2xx or 3xx responses")
    socket_errors: int    # connect + read + write errors and timeouts
    latency_p50_ms: float
    latency_p99_ms: float
    cpus: str             # where the kernel let wrk run

    @property
    def ok(self) -> int:
        return self.requests - self.status_errors

    @property
    def ok_per_s(self) -> float:
        return self.ok / self.duration_s

    @property
    def refused_per_s(self) -> float:
        return self.status_errors / self.duration_s


def available() -> bool:
    return shutil.which("wrk") is not None


def post(procs: ProcessSet, url: str, body_file: Path, cpus: str, duration_s: float,
         connections: int = 64, threads: int = 1, content_type: str = "application/octet-stream",
         timeout_s: float = 10.0) -> WrkResult:
    """Runs wrk for `duration_s` and returns its figures; raises if wrk fails or overruns."""
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(duration_s))}s",
            f"--timeout={max(1, round(timeout_s))}s", "-s", str(LUA_DIR / "post_body.lua"), url]
    child = procs.start("wrk", argv, cpus, capture=True,
                        env={"BENCH_BODY_FILE": str(body_file),
                             "BENCH_CONTENT_TYPE": content_type})
    where = cpus_allowed(child.pid)
    try:
        out, err = child.popen.communicate(timeout=duration_s + timeout_s + 30)
    except subprocess.TimeoutExpired:
        procs.stop(child)
        raise RuntimeError(f"wrk did not finish within {duration_s + timeout_s + 30:.0f}s")
    procs.stop(child)
    text = out.decode(errors="replace")
    line = next((l for l in text.splitlines() if l.startswith("WRK_JSON ")), None)
    if child.popen.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed (exit {child.popen.returncode}):\n{text}\n"
                           f"{err.decode(errors='replace')}")
    data = json.loads(line[len("WRK_JSON "):])
    return WrkResult(
        requests=data["requests"],
        duration_s=data["duration_us"] / 1e6,
        status_errors=data["status_errors"],
        socket_errors=(data["connect_errors"] + data["read_errors"] + data["write_errors"]
                       + data["timeouts"]),
        latency_p50_ms=data["latency_p50_us"] / 1000.0,
        latency_p99_ms=data["latency_p99_us"] / 1000.0,
        cpus=where,
    )
