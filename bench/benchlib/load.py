"""The load a throughput scenario drives: wrk POSTing one body from the load CPU, and the
reference run, wrk straight at the function stub, that triggerd's figures are held against."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import wrk
from .meter import Meter
from .results import RunSample, ScenarioResult
from .stub import FunctionStub

if TYPE_CHECKING:
    from .context import Context


def wrk_missing(result: ScenarioResult) -> bool:
    """True, with `result` failed, when wrk is not installed."""
    if wrk.available():
        return False
    result.fail("wrk is not installed (apt-get install wrk)")
    return True


@dataclass
class Reference:
    """What wrk got from the stub directly, and the CPU time metered meanwhile."""
    wrk: wrk.WrkResult
    meter: Meter
    others: float          # cores other jobs on the machine took meanwhile


class Load:
    """wrk POSTs of one body (written to the scenario's scratch directory), `connections` at a
    time, each run placed on the load CPU and recorded there."""

    def __init__(self, ctx: Context, scenario_id: str, body: bytes, connections: int,
                 content_type: str = "application/json"):
        self.ctx = ctx
        self.scenario_id = scenario_id
        self.connections = connections
        self.content_type = content_type
        self.body_file = ctx.workdir / f"{scenario_id.lower()}-body.json"
        self.body_file.write_bytes(body)

    def post(self, url: str, seconds: float, connections: int | None = None,
             role: str = "load") -> wrk.WrkResult:
        """wrk on the CPUs of `role` (a --cpus role: the load's unless said)."""
        measured = wrk.post(self.ctx.procs, url, self.body_file, getattr(self.ctx.cpus, role),
                            seconds, connections=connections or self.connections,
                            content_type=self.content_type)
        self.ctx.placed(self.scenario_id, role, "wrk", cpus=measured.cpus)
        return measured

    def warm_up(self, url: str) -> None:
        """Unmeasured load on `url` for the run's warm-up, if it has one."""
        if self.ctx.warmup_s > 0:
            self.ctx.log(f"{self.scenario_id}: warm-up, wrk -> stub {self.ctx.warmup_s:.0f}s")
            self.post(url, self.ctx.warmup_s)

    def reference(self, sample: RunSample, stub: FunctionStub, url: str, seconds: float,
                  metered: dict[str, int] | None = None, connections: int | None = None,
                  prefix: str = "", role: str = "load") -> Reference:
        """wrk straight at the stub (its counters reset first) for `seconds`, metering the stub
        and the `metered` processes. A non-2xx answer or a socket error fails the sample's
        check (its message starting with `prefix`). wrk runs on the CPUs of `role`."""
        stub.reset()
        meter = Meter({"stub": stub.pid, **(metered or {})})
        measured = self.post(url, seconds, connections, role)
        meter.stop()
        sample.check(measured.status_errors == 0 and measured.socket_errors == 0,
                     f"{prefix}the stub answered {measured.status_errors} non-2xx and "
                     f"{measured.socket_errors} socket errors to wrk")
        return Reference(measured, meter, meter.others_all(self.ctx.all_cpus))
