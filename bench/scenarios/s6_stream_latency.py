"""S6 latency at a fixed rate: how long an entry takes from a Redis stream to the function when
triggerd runs at half its maximum rate, as p50 / p99 / p99.9 of (the function's receive time -
the entry's enqueue time). The issue's target: p99 <= 1 ms.

Once, before the runs:
  calibration  S1's measurement in short: a fresh stream filled with N 1 KiB entries, a fresh
               triggerd with S1's trigger (count 100, 64 in flight, the function's
               max_concurrency 64) works through it; delivered events/s between 5 % and 90 %
               of the backlog (at most duration_s). Measured CALIBRATIONS times (once with
               --smoke) and the best taken as the maximum: another job on the machine can only
               lower it. The offered rate of every run is half of it. (Measured here rather than taken from S1 so that S6 runs on
               its own, e.g. `--only S6`, and drives at what this machine allows now.)
Per run:
  triggerd     a fresh triggerd, the same trigger on an empty stream (start "0": nothing
               produced after its start is missed).
  producer     bench/benchlib/stream_producer.py, open loop: entry k is due at start + k/rate,
               whatever happens downstream; at most every 0.5 ms it XADDs everything due in
               one pipelined write (replies read later, never waited for). Each entry is
               a 1 KiB JSON body starting with {"sent_us":MICROSECONDS}, stamped from the system
               clock just before the write, so the producer's own lateness (when it is
               descheduled) is not charged to triggerd; how late it ever was is reported.
               Why a Python producer and not redis-benchmark or a Lua script: the stamp must be
               per entry and taken at the send (redis-benchmark sends fixed payloads; a Lua
               script's TIME would stamp inside Redis, after the write, and the script would
               hold Redis while it runs, a burst no producer makes). Python is not the
               bottleneck: one clock read, one byte-string build and one send per tick of about
               ten entries, about 0.12 cores at 18 000 entries/s, most of it the kernel's
               loopback TCP that any producer pays (its CPU use is reported).
  window       the first WARMUP_S of the producer's run are not measured (connections to the
               function, the group's first reads); then the stub's histogram is reset and the
               producer runs duration_s more. Every entry must reach the function:
               triggerd_events_delivered_total == entries sent.
  latency      the function stub (--latency-from json:sent_us) records, for every request,
               its receive time (system clock, taken as the request is read) minus sent_us:
               producer -> Redis -> XREADGROUP (BLOCK) -> triggerd -> HTTP -> function, all of
               it. p50/p90/p99/p99.9/max from its histogram (exact below 2 ms, 0.1 % above).
Placement as S1: triggerd on the broker CPU; redis-server, the producer and the stub share the
other CPU, so the latency includes their waiting for each other on that CPU.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from benchlib import schedstat
from benchlib.backlog import measure_window
from benchlib.context import Context
from benchlib.meter import Meter
from benchlib.procs import cpu_seconds, wait_until
from benchlib.payload import make_body
from benchlib.redisbench import Redis, start_redis, stream_trigger_config
from benchlib.results import RunSample, ScenarioResult
from benchlib.stub import FunctionStub

ID = "S6"
TITLE = "latency at half the redis-stream maximum (open loop), 1 KiB entries"

BODY_BYTES = 1024
IN_FLIGHT = 64            # as S1
READ_COUNT = 100          # as S1
CALIBRATION_FULL = 200_000
CALIBRATION_SMOKE = 20_000
OFFERED_SHARE = 0.5       # of the calibrated maximum
WARMUP_S_FULL = 2.0
WARMUP_S_SMOKE = 0.5
STAMP_FIELD = "sent_us"
TRIGGER = "s6-stream"
STREAM = "s6:events"
CALIBRATION_STREAM = "s6:calibration"
CALIBRATIONS = 3
TARGET_P99_US = 1000.0
PRODUCER = Path(__file__).resolve().parent.parent / "benchlib" / "stream_producer.py"


def run(ctx: Context) -> ScenarioResult:
    result = ctx.result(ID, TITLE)
    with start_redis(ctx, ID, "s6-redis") as redis:
        return _run(ctx, result, redis)


def _run(ctx: Context, result: ScenarioResult, redis: Redis) -> ScenarioResult:
    stub = ctx.start_stub(ID, "s6-stub", latency_from=f"json:{STAMP_FIELD}")

    def config(stream: str) -> str:
        return stream_trigger_config(redis_port=redis.port, function_url=stub.url("/s6"),
                                     in_flight=IN_FLIGHT, trigger=TRIGGER, stream=stream,
                                     count=READ_COUNT)

    maximum = max(calibrate(ctx, redis, stub, config(CALIBRATION_STREAM))
                  for _ in range(1 if ctx.smoke else CALIBRATIONS))
    offered = maximum * OFFERED_SHARE
    if offered < 100:
        result.fail(f"the calibration measured {maximum:.0f} events/s: too low to drive")
        return result
    ctx.log(f"{ID}: maximum {maximum:,.0f} events/s; offering {offered:,.0f} events/s")
    warmup_s = WARMUP_S_SMOKE if ctx.smoke else WARMUP_S_FULL

    def measure(run_number: int) -> RunSample:
        sample = RunSample()
        label = ctx.run_label(ID, run_number)
        redis.client.simple(b"DEL", STREAM.encode())
        stub.reset()
        broker = ctx.start_triggerd(ID, config(STREAM), f"s6-triggerd-{run_number}")

        ctx.log(f"{label}: producer at {offered:,.0f} entries/s for "
                f"{warmup_s:.1f}s + {ctx.duration_s:.0f}s")
        producer_log = ctx.workdir / f"s6-producer-{run_number}.log"
        producer = ctx.procs.start(
            "producer", [sys.executable, str(PRODUCER), "--port", str(redis.port), "--stream",
                         STREAM, "--rate", f"{offered:.1f}",
                         "--seconds", f"{warmup_s + ctx.duration_s:.3f}",
                         "--body-bytes", str(BODY_BYTES), "--field", STAMP_FIELD],
            ctx.cpus.load, producer_log)
        ctx.placed(ID, "load", "producer", producer)
        time.sleep(warmup_s)
        with ctx.profile(broker.pid, "s6-triggerd"):
            stub.reset()   # one stub thread: the reset and the recording never overlap
            # The producer ends (and is reaped) inside the window: its CPU time shows in the
            # meter's "reaped" share, from which its CPU time before the window comes off.
            meter = Meter({"triggerd": broker.pid, "stub": stub.pid, "redis": redis.pid})
            producer_before = cpu_seconds(producer.pid)
            sched_pids = {"triggerd": broker.pid, "stub": stub.pid, "redis-server": redis.pid}
            sched_before = {name: schedstat.read(pid) for name, pid in sched_pids.items()}
            c0 = stub.requests()
            try:
                producer.popen.wait(timeout=ctx.duration_s + 60)
            except subprocess.TimeoutExpired:
                pass  # reported as a failed check below
            meter.stop()
            sched = {name: schedstat.read(pid) - sched_before[name]
                     for name, pid in sched_pids.items()}
            c1 = stub.requests()
        window = meter.wall_s
        producer_status = ctx.procs.stop(producer)
        summary = producer_summary(producer_log)
        sent = int(summary.get("sent", 0))

        try:
            wait_until(lambda: broker.metric("triggerd_events_delivered_total",
                                             trigger=TRIGGER) >= sent,
                       timeout=30, interval=0.1, what="every entry sent to reach the function")
            broker.wait_idle(TRIGGER)
        except TimeoutError as error:
            sample.check(False, str(error))
        latency = stub.latency()
        delivered_total = broker.metric("triggerd_events_delivered_total", trigger=TRIGGER)
        exit_status = broker.stop()

        delivered = c1 - c0
        cpu = meter.cpu_s["triggerd"]
        own_cost = meter.own_cost_s("triggerd", ctx.cpus.broker)
        count = latency.get("count") or 0

        def us(name: str) -> float:
            value = latency.get(name)
            return float(value) if value is not None else 0.0

        sample.add("calibration: S1-style maximum (best of 3, once)", "events/s", maximum)
        sample.add("offered rate (half of it)", "events/s", offered)
        sample.add("producer: sent", "entries/s", summary.get("rate", 0.0))
        sample.add("delivered to the function in the window", "events/s",
                   delivered / window if window > 0 else 0.0)
        sample.add("latency p50", "us", us("p50_us"))
        sample.add("latency p90", "us", us("p90_us"))
        sample.add(f"latency p99 (target <= {TARGET_P99_US:.0f})", "us", us("p99_us"))
        sample.add("latency p99.9", "us", us("p999_us"))
        sample.add("latency max", "us", us("max_us"))
        sample.add("latency mean", "us", us("mean_us"))
        sample.add("latency samples", "events", count)
        sample.add("producer: worst lateness behind its schedule", "ms",
                   summary.get("max_behind_ms", 0.0), digits=2)
        sample.add("producer: largest batch (one write)", "entries", summary.get("max_batch", 0))
        producer_s = summary.get("seconds", 0.0)
        sample.add("producer CPU use", "cores",
                   summary.get("cpu_s", 0.0) / producer_s if producer_s else 0.0, digits=2)
        sample.add("triggerd CPU use", "cores", cpu / window if window else 0.0, digits=2)
        sample.add("triggerd CPU per delivered event", "us",
                   own_cost / delivered * 1e6 if delivered else 0.0, digits=1)
        sample.add("redis-server CPU use", "cores",
                   meter.cpu_s["redis"] / window if window else 0.0, digits=2)
        sample.add(f"CPU {ctx.cpus.function} busy (stub + redis + producer)", "cores",
                   meter.busy_cores(ctx.cpus.function), digits=2)
        for name, stat in sched.items():
            sample.add(f"{name}: wait for a CPU per wake-up (run queue)", "us",
                       stat.wait_per_slice_us, digits=1)
        usage = meter.window.usage(ctx.all_cpus)
        ours = (sum(meter.cpu_s.values()) - producer_before
                + meter.uncharged_interrupt_s(ctx.all_cpus))
        ctx.add_other_jobs(sample, max(0.0, (usage.busy_s - ours) / window) if window else 0.0)

        sample.check(producer_status == 0 and sent > 0,
                     f"the producer failed (exit {producer_status}): "
                     f"{producer.log_text()[-500:]}")
        sample.check(count > 0, "no latency sample: no entry reached the function")
        sample.check((latency.get("unparsed") or 0) == 0,
                     f"{latency.get('unparsed')} requests had no {STAMP_FIELD} in their body")
        sample.check(delivered_total == sent,
                     f"events lost or duplicated: the producer sent {sent}, triggerd "
                     f"delivered {delivered_total:.0f}")
        sample.check(exit_status == 0, f"triggerd exited {exit_status} on SIGTERM")
        return sample

    ctx.repeat(result, measure)
    return result


def producer_summary(log: Path) -> dict:
    for line in reversed(log.read_text(errors="replace").splitlines() if log.exists() else []):
        if line.startswith("PRODUCER_JSON "):
            return json.loads(line[len("PRODUCER_JSON "):])
    return {}


def calibrate(ctx: Context, redis: Redis, stub: FunctionStub, config_yaml: str) -> float:
    """S1's measurement in short: events/s triggerd delivers from a backlog. Once per scenario,
    after waiting for quiet CPUs; not redone when disturbed (a low maximum only lowers the
    offered rate, which S6 reports)."""
    backlog = CALIBRATION_SMOKE if ctx.smoke else CALIBRATION_FULL
    busy = ctx.settle()
    if busy:
        ctx.log(f"{ID}: calibrating although {busy}")
    ctx.log(f"{ID}: calibration, {backlog} entries of {BODY_BYTES} B, S1's trigger")
    redis.client.refill(CALIBRATION_STREAM, make_body(BODY_BYTES), backlog)
    stub.reset()
    broker = ctx.start_triggerd(ID, config_yaml, "s6-triggerd-calibration")
    try:
        rate = measure_window(ctx, stub, backlog, warm_interval=0.02, interval=0.05).rate
        wait_until(lambda: stub.requests() >= backlog, timeout=60, interval=0.1,
                   what="the calibration backlog to drain")
    finally:
        broker.stop()
    redis.client.simple(b"DEL", CALIBRATION_STREAM.encode())
    ctx.log(f"{ID}: calibration: {rate:,.0f} events/s")
    return rate
