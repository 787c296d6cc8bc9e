"""What a scenario gets: where the binaries are, where each process runs, how long to measure,
and the ProcessSet that cleans up after it."""
from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from . import cpustat
from .procs import Child, ProcessSet, cpus_allowed
from .results import RunSample, ScenarioResult
from .stub import FunctionStub
from .triggerd import Triggerd

# Share of a CPU that other jobs may take, before a run or during it, before its figures are
# called disturbed.
QUIET_BUSY = 0.10
DISTURBED_CORES = 0.05

ROLES = ("broker", "function", "load")


@dataclass
class Placement:
    """CPU lists (taskset -c syntax) per role: the broker under test (triggerd), the function
    (the stub) and the load generator (wrk, producers)."""
    broker: str
    function: str
    load: str

    @staticmethod
    def default(allowed: list[int]) -> "Placement":
        """Two CPUs (the first two this process may use): triggerd gets one to itself, so that
        the CPU it uses is its own; the function and the load generator share the other, as
        they do in the reference run where wrk drives the function directly. More CPUs: the
        same layout, so that figures compare across machines. One CPU: everything on it."""
        first = str(allowed[0])
        second = str(allowed[1]) if len(allowed) > 1 else first
        return Placement(first, second, second)

    @staticmethod
    def parse(text: str, allowed: list[int]) -> "Placement":
        """"broker=0,function=1,load=1"; roles not named keep their default."""
        placement = Placement.default(allowed)
        for item in filter(None, (part.strip() for part in text.split(","))):
            role, _, cpus = item.partition("=")
            if role not in ROLES or not cpus:
                raise ValueError(f"--cpus: expected ROLE=CPUS with ROLE in {ROLES}, got {item!r}")
            setattr(placement, role, cpus.replace("+", ","))
        return placement


@dataclass
class Context:
    root: Path                  # the repository
    build_dir: Path
    workdir: Path               # scratch files of this harness run (configs, logs, bodies)
    smoke: bool
    # Built with sanitizers (scripts/test --ci runs the smoke on its ASan build): the figures
    # mean nothing, and a check that needs the speed of an optimized build is eased.
    sanitized: bool
    runs: int                   # measured runs per figure
    duration_s: float           # length of one measured run
    warmup_s: float             # unmeasured load before the first run (0: none)
    cpus: Placement
    wait_quiet_s: float = 0.0   # before each run, wait up to this long for idle pinned CPUs
    redo_disturbed: int = 0     # measured runs that may be redone because they were disturbed
    perf_dir: Path | None = None  # --perf: profile the broker in one extra, unmeasured run
    profiling: bool = False       # true during that run: ctx.profile() records
    procs: ProcessSet = field(default_factory=ProcessSet)
    placements: list[tuple[str, str, str, str]] = field(default_factory=list)
    _started: float = field(default_factory=time.monotonic)

    @property
    def all_cpus(self) -> str:
        """Every CPU the harness pins something to, as one taskset list."""
        cpus = set()
        for role in ROLES:
            cpus.update(cpustat.cpu_list(getattr(self.cpus, role)))
        return ",".join(str(cpu) for cpu in sorted(cpus))

    def settle(self) -> str:
        """Waits (at most wait_quiet_s) until no other job keeps the pinned CPUs busy. Returns
        "" when they are quiet, else a note saying how busy they stayed."""
        cpus = cpustat.cpu_list(self.all_cpus)
        deadline = time.monotonic() + self.wait_quiet_s
        waited = False
        while True:
            window = cpustat.Window()
            time.sleep(0.5)
            window.stop()
            busy = {cpu: window.usage(str(cpu)).busy for cpu in cpus}
            if max(busy.values()) <= QUIET_BUSY:
                if waited:
                    self.log("the pinned CPUs are idle now")
                return ""
            if time.monotonic() >= deadline:
                return "other jobs kept the pinned CPUs busy (" + ", ".join(
                    f"CPU {cpu} {share:.0%}" for cpu, share in busy.items()) + ")"
            if not waited:
                self.log(f"waiting up to {self.wait_quiet_s:.0f}s for the pinned CPUs to be "
                         f"idle (busiest {max(busy.values()):.0%}: another job on the machine)")
                waited = True
            time.sleep(min(2.0, max(0.0, deadline - time.monotonic())))

    def repeat(self, result: ScenarioResult, measure: Callable[[int], RunSample]) -> None:
        """Calls measure(run_number) until `runs` runs are kept, each after settle(). A run
        that reports itself disturbed is redone while redo_disturbed allows, and kept (with a
        note) otherwise."""
        redo_left = self.redo_disturbed
        run_number = 1
        while run_number <= self.runs:
            busy = self.settle()
            sample = measure(run_number)
            disturbed = sample.disturbed or busy
            if disturbed and redo_left > 0 and not sample.failures:
                redo_left -= 1
                self.log(f"{result.id}: run {run_number} disturbed ({disturbed}); measuring it "
                         f"again ({redo_left} redo(s) left)")
                result.notes.append(f"run {run_number} measured again: {disturbed}")
                continue
            if disturbed:
                result.notes.append(f"run {run_number} kept although disturbed: {disturbed}; "
                                    "its figures may be low")
            for name, unit, value, digits in sample.figures:
                result.add(name, unit, value, digits)
            result.failures.extend(f"run {run_number}: {f}" for f in sample.failures)
            run_number += 1
        if self.perf_dir is not None:
            # Profiled apart: perf's own work would disturb a measured run.
            self.log(f"{result.id}: one more run, profiled with perf (not measured)")
            self.profiling = True
            try:
                measure(0)
            finally:
                self.profiling = False

    @contextlib.contextmanager
    def profile(self, pid: int, name: str):
        """Records a CPU profile of `pid` (perf record, cpu-clock, DWARF call graphs) while the
        block runs, in the profiled run only; writes NAME.perf.data and NAME.txt (a flat
        report) to the --perf directory."""
        if not self.profiling or self.perf_dir is None:
            yield
            return
        self.perf_dir.mkdir(parents=True, exist_ok=True)
        data = self.perf_dir / f"{name}.perf.data"
        recorder = self.procs.start(
            "perf", ["perf", "record", "-q", "-e", "cpu-clock", "-F", "999",
                     "--call-graph", "dwarf,16384", "-o", str(data), "-p", str(pid)],
            self.cpus.load, self.perf_dir / f"{name}.record.log")
        time.sleep(0.5)  # perf attaches
        try:
            yield
        finally:
            if recorder.alive():
                recorder.popen.send_signal(signal.SIGINT)
            self.procs.stop(recorder, timeout=60)
        report = self.perf_dir / f"{name}.txt"
        with open(report, "w") as out:
            for sort in ("dso", "dso,sym"):
                done = subprocess.run(
                    ["perf", "report", "-i", str(data), "--stdio", "--no-children", "-g", "none",
                     "--percent-limit", "0.3", "--sort", sort],
                    capture_output=True, text=True, timeout=300)
                lines = [line[:200].rstrip() for line in done.stdout.splitlines()
                         if line.strip() and not line.startswith("#")]
                out.write(f"== perf report --no-children --sort {sort}\n")
                out.write("\n".join(lines) + "\n\n")
        self.log(f"profile of {name}: {report} (perf report -i {data} for the call graphs)")

    def binary(self, name: str) -> Path:
        paths = {"triggerd": self.build_dir / "broker" / "triggerd",
                 "function_stub": self.build_dir / "tests" / "function_stub" / "function_stub",
                 "kafka_mock_cluster": self.build_dir / "tests" / "kafka_mock_cluster"}
        path = paths[name]
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing: build it (scripts/bench does)")
        return path

    def result(self, scenario_id: str, title: str) -> ScenarioResult:
        return ScenarioResult(scenario_id, title)

    def run_label(self, scenario_id: str, run_number: int) -> str:
        """How the progress lines name a run: "S1: run 2/3", and run 0 "S1: profiled run"."""
        return f"{scenario_id}: run {run_number}/{self.runs}" if run_number else \
            f"{scenario_id}: profiled run"

    def start_stub(self, scenario_id: str, name: str, **options) -> FunctionStub:
        """The function stub on the function CPU, placed; `options` as FunctionStub takes them."""
        stub = FunctionStub(self.procs, self.binary("function_stub"), self.workdir,
                            self.cpus.function, name=name, **options)
        self.placed(scenario_id, "function", "function_stub", stub.child)
        return stub

    def start_triggerd(self, scenario_id: str, config_yaml: str, name: str) -> Triggerd:
        """triggerd on the broker CPU, started on `config_yaml` and ready, placed."""
        broker = Triggerd(self.procs, self.binary("triggerd"), self.workdir, self.cpus.broker,
                          config_yaml, name=name)
        self.placed(scenario_id, "broker", "triggerd", broker.child)
        return broker

    def add_other_jobs(self, sample: RunSample, cores: float, cpus: str | None = None,
                       prefix: str = "", worst_window: bool = False) -> None:
        """The figure of the CPU time other jobs on the machine took on `cpus` (default: every
        pinned CPU) while the run measured, in cores; past DISTURBED_CORES the run is called
        disturbed. `worst_window`: `cores` is the worst of the run's windows, and the figure's
        name says so."""
        cpus = cpus or self.all_cpus
        name = f"{prefix}CPU {cpus}: other jobs" + (" (worst window)" if worst_window else "")
        sample.add(name, "cores", cores, digits=2)
        if cores > DISTURBED_CORES:
            sample.disturbed = f"other jobs took {cores:.2f} cores of CPU {cpus}"

    def log(self, message: str) -> None:
        """Progress on stderr; stdout carries only the report."""
        print(f"[bench {time.monotonic() - self._started:6.1f}s] {message}", file=sys.stderr,
              flush=True)

    def placed(self, scenario_id: str, role: str, name: str, child: Child | None = None,
               cpus: str | None = None) -> None:
        """Records where a process runs, as the kernel reports it (Cpus_allowed_list), once
        per scenario and process name."""
        actual = cpus if cpus is not None else cpus_allowed(child.pid) if child else "?"
        entry = (scenario_id, role, name, actual)
        if entry not in self.placements:
            self.placements.append(entry)
