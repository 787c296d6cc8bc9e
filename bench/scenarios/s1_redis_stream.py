"""S1 redis stream -> function: how many stream entries per second triggerd reads from a Redis
stream and delivers to a function, against wrk driving the same function directly.

Per run, in this order:
  backlog    the stream is deleted and filled again with N entries (one field `data`, 1 KiB),
             pipelined XADDs over one socket, before anything is measured.
  reference  wrk POSTs the same 1 KiB body straight to the stub (64 connections), as in S4.
  triggerd   a fresh triggerd (one redis-stream trigger, start "0", count 100, 64 in flight)
             works through the backlog. The first WARM_SHARE of the backlog is not measured
             (connections, group creation); the window ends after duration_s or when only
             TAIL_SHARE of the backlog is left, whichever comes first, so that the reader
             never waits on an empty stream inside the window. Counted: the stub's request
             count over the window. Afterwards the whole backlog must reach the function:
             N == triggerd_events_delivered_total == the stub's count.
redis-server runs on the load CPU (it stands in for the producers), without persistence.
"""
from __future__ import annotations

import time

from benchlib import wrk
from benchlib.context import DISTURBED_CORES, Context
from benchlib.meter import Meter
from benchlib.procs import count_window, wait_until
from benchlib.payload import make_body
from benchlib.redisbench import RedisClient, start_redis, stream_trigger_config
from benchlib.results import RunSample, ScenarioResult
from benchlib.stub import FunctionStub
from benchlib.triggerd import Triggerd

ID = "S1"
TITLE = "redis stream -> function, 1 KiB entries"

BODY_BYTES = 1024
IN_FLIGHT = 64            # delivery.max_inflight and the function's max_concurrency; wrk's -c
READ_COUNT = 100          # XREADGROUP COUNT
BACKLOG_FULL = 500_000    # entries per run (about 550 MiB in Redis; 10 s at 40k/s)
BACKLOG_SMOKE = 20_000
WARM_SHARE = 0.05         # of the backlog, delivered before the window opens
TAIL_SHARE = 0.10         # of the backlog, left when the window closes at the latest
TRIGGER = "s1-stream"
STREAM = "s1:events"


def run(ctx: Context) -> ScenarioResult:
    result = ctx.result(ID, TITLE)
    if not wrk.available():
        result.fail("wrk is not installed (apt-get install wrk)")
        return result
    body = make_body(BODY_BYTES)
    body_file = ctx.workdir / "s1-body.json"
    body_file.write_bytes(body)
    backlog = BACKLOG_SMOKE if ctx.smoke else BACKLOG_FULL

    redis, redis_port, client = start_redis(ctx, ID, "s1-redis")
    try:
        return _run(ctx, result, client, redis, redis_port, body_file, body, backlog)
    finally:
        client.close()


def _run(ctx: Context, result: ScenarioResult, client: RedisClient, redis, redis_port: int,
         body_file, body: bytes, backlog: int) -> ScenarioResult:
    stub = FunctionStub(ctx.procs, ctx.binary("function_stub"), ctx.workdir, ctx.cpus.function,
                        name="s1-stub")
    ctx.placed(ID, "function", "function_stub", stub.child)
    config = stream_trigger_config(redis_port=redis_port, function_url=stub.url("/s1"),
                           in_flight=IN_FLIGHT, trigger=TRIGGER, stream=STREAM,
                           count=READ_COUNT)

    def load(url: str, seconds: float) -> wrk.WrkResult:
        measured = wrk.post(ctx.procs, url, body_file, ctx.cpus.load, seconds,
                            connections=IN_FLIGHT, content_type="application/json")
        ctx.placed(ID, "load", "wrk", cpus=measured.cpus)
        return measured

    if ctx.warmup_s > 0:
        ctx.log(f"{ID}: warm-up, wrk -> stub {ctx.warmup_s:.0f}s")
        load(stub.url("/s1"), ctx.warmup_s)

    def measure(run_number: int) -> RunSample:
        sample = RunSample()
        label = f"{ID}: run {run_number}/{ctx.runs}" if run_number else f"{ID}: profiled run"

        ctx.log(f"{label}: filling the stream with {backlog} entries of {len(body)} B")
        started = time.monotonic()
        client.simple(b"DEL", STREAM.encode())
        client.fill(STREAM.encode(), body, backlog)
        ctx.log(f"{label}: filled in {time.monotonic() - started:.1f}s")

        ctx.log(f"{label}: reference, wrk -> stub, {ctx.duration_s:.0f}s")
        stub.reset()
        meter = Meter({"stub": stub.pid, "redis": redis.pid})
        reference = load(stub.url("/s1"), ctx.duration_s)
        meter.stop()
        reference_others = meter.others_all(ctx.all_cpus)
        sample.check(reference.status_errors == 0 and reference.socket_errors == 0,
                     f"the stub answered {reference.status_errors} non-2xx and "
                     f"{reference.socket_errors} socket errors to wrk")
        reference_rate = reference.ok_per_s

        ctx.log(f"{label}: redis stream -> triggerd -> stub, up to {ctx.duration_s:.0f}s")
        stub.reset()
        broker = Triggerd(ctx.procs, ctx.binary("triggerd"), ctx.workdir, ctx.cpus.broker,
                          config, name=f"s1-triggerd-{run_number}")
        ctx.placed(ID, "broker", "triggerd", broker.child)
        warm = int(backlog * WARM_SHARE)
        tail = int(backlog * (1 - TAIL_SHARE))
        wait_until(lambda: stub.requests() >= warm, timeout=60, interval=0.05,
                   what=f"the first {warm} entries to reach the function")
        with ctx.profile(broker.pid, "s1-triggerd"):
            meter = Meter({"triggerd": broker.pid, "stub": stub.pid, "redis": redis.pid})
            window, c0, c1 = count_window(stub.requests, ctx.duration_s, tail)
            meter.stop()
        delivered = c1 - c0
        delivered_rate = delivered / window if window > 0 else 0.0
        max_concurrent = stub.stats()["max_concurrent"]

        # The rest of the backlog must arrive too (bounded: generous for the slowest rate).
        rest_timeout = 30 + 4 * (backlog - c1) / max(delivered_rate, 1000.0)
        try:
            wait_until(lambda: stub.requests() >= backlog, timeout=rest_timeout, interval=0.1,
                       what="the whole backlog to reach the function")
            broker.wait_idle(TRIGGER)
        except TimeoutError as error:
            sample.check(False, str(error))
        delivered_total = broker.metric("triggerd_events_delivered_total", trigger=TRIGGER)
        stub_total = stub.requests()
        peak_rss = broker.peak_rss_mib()
        exit_status = broker.stop()

        cpu = meter.cpu_s["triggerd"]
        own_cost = cpu + meter.uncharged_interrupt_s(ctx.cpus.broker)

        def per_event(seconds: float) -> float:
            return seconds / delivered * 1e6 if delivered else 0.0

        sample.add("reference: wrk -> stub, 2xx", "req/s", reference_rate)
        sample.add("delivered to the function", "events/s", delivered_rate)
        sample.add("delivered / reference", "ratio",
                   delivered_rate / reference_rate if reference_rate else 0.0, digits=3)
        sample.add("measured window (backlog-bounded)", "s", window, digits=1)
        sample.add("function max concurrent requests", "requests", max_concurrent)
        sample.add("triggerd CPU use", "cores", cpu / window if window else 0.0, digits=2)
        sample.add("triggerd CPU per delivered event", "us", per_event(own_cost), digits=1)
        sample.add("triggerd ceiling on one core (delivered / its CPU s)", "events/s",
                   delivered / own_cost if own_cost else 0.0)
        sample.add("redis-server CPU use", "cores",
                   meter.cpu_s["redis"] / window if window else 0.0, digits=2)
        sample.add("stub CPU per request, via triggerd", "us", per_event(meter.cpu_s["stub"]),
                   digits=1)
        sample.add(f"CPU {ctx.cpus.broker} busy (triggerd's), via triggerd", "cores",
                   meter.busy_cores(ctx.cpus.broker), digits=2)
        sample.add(f"CPU {ctx.cpus.function} busy (stub's + redis'), via triggerd", "cores",
                   meter.busy_cores(ctx.cpus.function), digits=2)
        sample.add("triggerd peak RSS (VmHWM)", "MiB", peak_rss, digits=1)
        others = max(reference_others, meter.others_all(ctx.all_cpus))
        sample.add(f"CPU {ctx.all_cpus}: other jobs (worst window)", "cores", others, digits=2)
        if others > DISTURBED_CORES:
            sample.disturbed = f"other jobs took {others:.2f} cores of CPU {ctx.all_cpus}"

        sample.check(delivered > 0, "no event reached the function")
        sample.check(delivered_total == backlog == stub_total,
                     f"events lost or duplicated: {backlog} in the stream, triggerd "
                     f"delivered {delivered_total:.0f}; the function saw {stub_total}")
        sample.check(exit_status == 0, f"triggerd exited {exit_status} on SIGTERM")
        return sample

    ctx.repeat(result, measure)
    return result
