"""S8 activation latency through the KEDA scaler: how long from a webhook event arriving for a
function that is scaled to zero until KEDA hears `true` on its StreamIsActive stream, against the
wait of a scaler that KEDA polls every 30 s (its default pollingInterval): 15 s on average.

Per run:
  triggerd  a fresh triggerd with server.scaler_listen and one http trigger whose function is
            down (a free port nobody listens on), so that an event stays in flight, and the
            trigger active, until the function comes up. Delivery retries every 10 ms.
  KEDA      bench/benchlib/keda_stream.py, a gRPC client of KEDA's own externalscaler.proto
            (Python stubs generated per run with protoc and grpc_python_plugin) on the load CPU,
            holds one StreamIsActive stream selecting the trigger and stamps each message with
            CLOCK_MONOTONIC as it reads it.
  cycles    each: the harness stamps CLOCK_MONOTONIC and POSTs one event to the webhook; the
            figure is the client's stamp of the `true` minus that (so it holds the webhook's
            accept, the activity flip, the gRPC write and the client's read; not the pipe to the
            harness). Then the trigger goes back to idle the way it would in production: the
            function comes up (the function stub, started on the function's port), takes the
            event, and goes down again (stopped), and the harness waits until /v1/triggers/NAME
            says the trigger is no longer active. CYCLES per run (SMOKE_CYCLES with --smoke).
Checks: a `true` within TRUE_TIMEOUT_S of every POST (else the run fails, loudly), no message
but those (no `false`, no second `true` while active, nothing while idle), and on SIGTERM the
stream ends with OK and triggerd exits 0.
"""
from __future__ import annotations

import json
import math
import os
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

from benchlib import http
from benchlib.context import Context
from benchlib.meter import Meter
from benchlib.procs import Child, wait_until
from benchlib.results import RunSample, ScenarioResult
from benchlib.startup import free_port
from benchlib.triggerd import config_head

ID = "S8"
TITLE = "KEDA scaler: webhook event to StreamIsActive true (activation latency)"

CYCLES = 200
SMOKE_CYCLES = 5
TRUE_TIMEOUT_S = 5.0
POLLING_INTERVAL_S = 30.0   # KEDA's default pollingInterval: the reference
TRIGGER = "s8-hook"
PATH = "/hooks/s8"

BENCH_DIR = Path(__file__).resolve().parent.parent
CLIENT = BENCH_DIR / "benchlib" / "keda_stream.py"

TRIGGER_CONFIG = f"""\
triggers:
  {TRIGGER}:
    function: stub
    source:
      type: http
      path: {PATH}
    delivery:
      retries: 1000
      backoff: {{policy: constant, delay: 10ms, max: 10ms}}
"""


def grpc_python() -> str | None:
    """An interpreter that has grpcio and protobuf: this one, or Debian's (python3-grpcio lives
    in /usr/lib/python3/dist-packages, which another python3 on PATH may not see)."""
    for candidate in dict.fromkeys((sys.executable, "/usr/bin/python3")):
        try:
            done = subprocess.run([candidate, "-c", "import grpc, google.protobuf"],
                                  capture_output=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if done.returncode == 0:
            return candidate
    return None


def generate_stubs(ctx: Context) -> Path:
    """externalscaler_pb2.py and externalscaler_pb2_grpc.py from the proto triggerd serves."""
    proto = ctx.root / "broker" / "keda" / "externalscaler.proto"
    out = ctx.workdir / "s8-stubs"
    out.mkdir(exist_ok=True)
    plugin = shutil.which("grpc_python_plugin") or "/usr/bin/grpc_python_plugin"
    done = subprocess.run(
        ["protoc", f"--proto_path={proto.parent}", f"--python_out={out}",
         f"--grpc_python_out={out}", f"--plugin=protoc-gen-grpc_python={plugin}", str(proto)],
        capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise RuntimeError(f"protoc failed ({done.returncode}): {done.stderr.strip()}")
    return out


class Lines:
    """The client's stdout, line by line, each read bounded by a timeout."""

    def __init__(self, child: Child):
        self.child = child
        self.fd = child.popen.stdout.fileno()
        self.buffer = b""

    def next(self, timeout: float) -> str | None:
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left < 0 or not select.select([self.fd], [], [], max(left, 0))[0]:
                return None
            chunk = os.read(self.fd, 4096)
            if not chunk:
                return None  # the client exited
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line.decode(errors="replace")

    def stderr(self) -> str:
        """What the client wrote on stderr, once it has exited."""
        if self.child.alive():
            return "(still running)"
        return self.child.popen.stderr.read().decode(errors="replace").strip()


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest rank."""
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def run(ctx: Context) -> ScenarioResult:
    result = ctx.result(ID, TITLE)
    python = grpc_python()
    if python is None:
        result.fail("no python3 with grpcio and protobuf (apt-get install python3-grpcio "
                    "python3-protobuf; scripts/setup does)")
        return result
    if shutil.which("protoc") is None:
        result.fail("protoc is not installed (apt-get install protobuf-compiler "
                    "protobuf-compiler-grpc; scripts/setup does)")
        return result
    stubs = generate_stubs(ctx)
    cycles = SMOKE_CYCLES if ctx.smoke else CYCLES
    body = json.dumps({"s8": True}).encode()

    def measure(run_number: int) -> RunSample:
        sample = RunSample()
        label = ctx.run_label(ID, run_number)
        function_port = free_port()
        config = config_head(f"http://127.0.0.1:{function_port}/s8", 4,
                             server_extra="  scaler_listen: 127.0.0.1:0\n") + TRIGGER_CONFIG
        broker = ctx.start_triggerd(ID, config, f"s8-triggerd-{run_number}")
        if broker.scaler_address is None:
            raise RuntimeError("triggerd did not log \"KEDA scaler listening on\"")
        trigger_url = f"{broker.admin_base}/v1/triggers/{TRIGGER}"
        client = ctx.procs.start(
            "keda_stream", [python, str(CLIENT), "--stubs", str(stubs), "--target",
                            broker.scaler_address, "--trigger", TRIGGER],
            ctx.cpus.load, capture=True)
        ctx.placed(ID, "load", "keda_stream", client)
        lines = Lines(client)
        if lines.next(10.0) != "open":
            raise RuntimeError(f"the StreamIsActive client did not start: {lines.stderr()}")
        # The stream counts once triggerd has registered it: from then on, a flip reaches it.
        wait_until(lambda: broker.metric("triggerd_scaler_streams") == 1, timeout=10,
                   interval=0.01, what="triggerd_scaler_streams to reach 1")

        ctx.log(f"{label}: {cycles} cycles of POST -> true -> function up -> idle")
        # Every process of ours that runs meanwhile (the stubs of each cycle are reaped, and
        # counted as such), so that what is left on the CPUs is other jobs'.
        meter = Meter({"triggerd": broker.pid, "keda_stream": client.pid,
                       "harness": os.getpid()})
        latencies_ms: list[float] = []
        answered_ms: list[float] = []
        stray: list[str] = []
        for cycle in range(cycles):
            # Anything on the stream before this cycle's event is a message that must not be.
            early = lines.next(0)
            if early is not None:
                stray.append(f"cycle {cycle}: {early!r} while the trigger was idle")
                break
            sent = time.monotonic_ns()
            http.post(broker.webhook_url(PATH), body)  # 202, else it raises
            answered_ms.append((time.monotonic_ns() - sent) / 1e6)
            line = lines.next(TRUE_TIMEOUT_S)
            if line is None or not line.startswith("msg "):
                sample.check(False, f"cycle {cycle}: no `true` on the StreamIsActive stream "
                                    f"within {TRUE_TIMEOUT_S:.0f} s of the POST (got {line!r})")
                break
            _, value, stamp = line.split()
            if value != "1":
                stray.append(f"cycle {cycle}: `false` on the stream")
                break
            latencies_ms.append((int(stamp) - sent) / 1e6)
            # Back to idle: the function comes up, takes the event, and goes down again.
            function = ctx.start_stub(ID, "s8-function", port=function_port)
            wait_until(lambda: not http.get_json(trigger_url)["active"], timeout=10,
                       interval=0.002, what=f"trigger {TRIGGER} to go idle")
            ctx.procs.stop(function.child, timeout=5)
        meter.stop()
        late = lines.next(0.3)
        if late is not None:
            stray.append(f"after the last cycle: {late!r}")

        exit_status = broker.stop()
        ended = lines.next(5.0)
        ctx.procs.stop(client, timeout=2)

        sample.check(len(latencies_ms) == cycles,
                     f"{len(latencies_ms)} of {cycles} cycles got their `true`")
        sample.check(not stray, "messages that must not be on the stream: " + "; ".join(stray))
        sample.check(ended == "end OK",
                     f"on SIGTERM the stream ended with {ended!r}, not OK")
        sample.check(exit_status == 0, f"triggerd exited {exit_status} on SIGTERM")
        if latencies_ms:
            ordered = sorted(latencies_ms)
            sample.add("activation: POST sent to `true` read, p50", "ms",
                       percentile(ordered, 50), digits=2)
            sample.add("activation: POST sent to `true` read, p99", "ms",
                       percentile(ordered, 99), digits=2)
            sample.add("activation: POST sent to `true` read, max", "ms", ordered[-1], digits=2)
            sample.add("activation: POST sent to `true` read, mean", "ms",
                       sum(ordered) / len(ordered), digits=2)
            sample.add("webhook POST answered (202), p50", "ms",
                       percentile(sorted(answered_ms), 50), digits=2)
        sample.add("cycles measured", "cycles", len(latencies_ms))
        # A scaler polled every 30 s sees an event after a uniform wait in [0, 30 s): 15 s on
        # average, 29.7 s at p99, whatever the scaler itself costs.
        sample.add(f"reference: polled every {POLLING_INTERVAL_S:.0f} s, mean wait", "ms",
                   POLLING_INTERVAL_S / 2 * 1000)
        sample.add(f"reference: polled every {POLLING_INTERVAL_S:.0f} s, p99 wait", "ms",
                   POLLING_INTERVAL_S * 0.99 * 1000)
        ctx.add_other_jobs(sample, meter.others_all(ctx.all_cpus))
        return sample

    ctx.repeat(result, measure)
    return result
