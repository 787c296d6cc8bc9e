"""S3 slow function, deep backlog: a function that takes 50 ms per event, 500 events in flight,
and 1 M entries waiting in a Redis stream. How close triggerd comes to Little's law
(500 in flight / 0.05 s = 10 000 events/s), and how much memory it needs while it drains.

Per run, in this order:
  backlog    the stream is deleted and filled again with N entries (one field `data`, 1 KiB),
             pipelined XADDs over one socket, before anything is measured.
  reference  wrk (500 connections) POSTs the same body straight to the stub, which answers each
             request after 50 ms: what the stub and its timer allow at 500 concurrent requests
             (Little's law is the ideal; this is what the function itself reaches).
  triggerd   a fresh triggerd (one redis-stream trigger, start "0", count 100, max_inflight
             500, the function's max_concurrency 500) works through the whole backlog. The first
             WARM_SHARE of it is not measured (connections, group creation, the first reads);
             the window then lasts duration_s or until TAIL_SHARE of the backlog is left. After
             the window the rest drains too (about 90 s at 10 000/s for 1 M entries), so that
             triggerd's peak RSS (VmHWM, read at the end) covers the whole drain, and the whole
             backlog must reach the function: N == triggerd_events_delivered_total == the
             stub's count.
The window is bounded like S1's, so that its figure is a steady state and the check for other
jobs on the machine covers seconds, not minutes; "whole backlog" figures cover the full drain.
The function stub waits on a timer (one thread serves all 500 delayed requests), on the
function CPU; redis-server on the load CPU; triggerd on its own.
"""
from __future__ import annotations

import time

from benchlib import wrk
from benchlib.context import DISTURBED_CORES, Context
from benchlib.meter import Meter
from benchlib.procs import count_window, status_kib, wait_until
from benchlib.payload import make_body
from benchlib.redisbench import RedisClient, start_redis, stream_trigger_config
from benchlib.results import RunSample, ScenarioResult
from benchlib.stub import FunctionStub
from benchlib.triggerd import Triggerd

ID = "S3"
TITLE = "slow function (50 ms), 500 in flight, 1 M entries waiting in Redis"

BODY_BYTES = 1024
DELAY_MS = 50
IN_FLIGHT = 500            # delivery.max_inflight and the function's max_concurrency; wrk's -c
LITTLE = IN_FLIGHT / (DELAY_MS / 1000.0)   # 10 000 events/s
READ_COUNT = 100
BACKLOG_FULL = 1_000_000   # about 1.1 GiB in Redis; 100 s at 10 000/s
BACKLOG_SMOKE = 20_000     # 2 s
WARM_SHARE = 0.05
TAIL_SHARE = 0.10
REFERENCE_MAX_S = 5.0      # wrk's run: enough for a steady figure at 10 000/s
TRIGGER = "s3-stream"
STREAM = "s3:events"
RSS_TARGET_MIB = 100.0


def run(ctx: Context) -> ScenarioResult:
    result = ctx.result(ID, TITLE)
    if not wrk.available():
        result.fail("wrk is not installed (apt-get install wrk)")
        return result
    redis, redis_port, client = start_redis(ctx, ID, "s3-redis")
    try:
        return _run(ctx, result, client, redis, redis_port)
    finally:
        client.close()


def _run(ctx: Context, result: ScenarioResult, client: RedisClient, redis,
         redis_port: int) -> ScenarioResult:
    body = make_body(BODY_BYTES)
    body_file = ctx.workdir / "s3-body.json"
    body_file.write_bytes(body)
    backlog = BACKLOG_SMOKE if ctx.smoke else BACKLOG_FULL
    stub = FunctionStub(ctx.procs, ctx.binary("function_stub"), ctx.workdir, ctx.cpus.function,
                        delay_ms=DELAY_MS, name="s3-stub")
    ctx.placed(ID, "function", "function_stub", stub.child)
    config = stream_trigger_config(redis_port=redis_port, function_url=stub.url("/s3"),
                           in_flight=IN_FLIGHT, trigger=TRIGGER, stream=STREAM,
                           count=READ_COUNT)

    def measure(run_number: int) -> RunSample:
        sample = RunSample()
        label = f"{ID}: run {run_number}/{ctx.runs}" if run_number else f"{ID}: profiled run"

        ctx.log(f"{label}: filling the stream with {backlog} entries of {len(body)} B")
        started = time.monotonic()
        client.simple(b"DEL", STREAM.encode())
        client.fill(STREAM.encode(), body, backlog)
        ctx.log(f"{label}: filled in {time.monotonic() - started:.1f}s")

        seconds = min(ctx.duration_s, REFERENCE_MAX_S)
        ctx.log(f"{label}: reference, wrk ({IN_FLIGHT} connections) -> stub ({DELAY_MS} ms), "
                f"{seconds:.0f}s")
        stub.reset()
        meter = Meter({"stub": stub.pid, "redis": redis.pid})
        reference = wrk.post(ctx.procs, stub.url("/s3"), body_file, ctx.cpus.load, seconds,
                             connections=IN_FLIGHT, content_type="application/json")
        meter.stop()
        ctx.placed(ID, "load", "wrk", cpus=reference.cpus)
        reference_others = meter.others_all(ctx.all_cpus)
        sample.check(reference.status_errors == 0 and reference.socket_errors == 0,
                     f"the stub answered {reference.status_errors} non-2xx and "
                     f"{reference.socket_errors} socket errors to wrk")
        reference_rate = reference.ok_per_s

        ctx.log(f"{label}: redis stream ({backlog} waiting) -> triggerd -> stub ({DELAY_MS} ms)")
        # wrk leaves up to 500 requests in the stub's timers when it stops: let them finish,
        # or the stub's high-water mark would count them with triggerd's.
        wait_until(lambda: stub.stats()["current_concurrent"] == 0, timeout=10, interval=0.02,
                   what="the reference's last requests to finish")
        stub.reset()
        broker = Triggerd(ctx.procs, ctx.binary("triggerd"), ctx.workdir, ctx.cpus.broker,
                          config, name=f"s3-triggerd-{run_number}")
        ctx.placed(ID, "broker", "triggerd", broker.child)
        drain_started = time.monotonic()
        warm = int(backlog * WARM_SHARE)
        tail = int(backlog * (1 - TAIL_SHARE))
        wait_until(lambda: stub.requests() >= warm, timeout=120, interval=0.05,
                   what=f"the first {warm} entries to reach the function")
        with ctx.profile(broker.pid, "s3-triggerd"):
            meter = Meter({"triggerd": broker.pid, "stub": stub.pid, "redis": redis.pid})
            h0 = durations(broker)
            at_stub = []   # requests the stub holds (read, not yet answered), sampled

            def requests_sampling_held() -> int:
                stats = stub.stats()
                at_stub.append(int(stats["current_concurrent"]))
                return int(stats["requests"])

            window, c0, c1 = count_window(requests_sampling_held, ctx.duration_s, tail)
            meter.stop()
            h1 = durations(broker)
        delivered = c1 - c0
        delivered_rate = delivered / window if window > 0 else 0.0
        rss_window_mib = status_kib(broker.pid, "VmRSS") / 1024.0

        # The rest of the backlog drains; the peak RSS is read once it has.
        rest_timeout = 60 + 3 * (backlog - c1) / max(delivered_rate, 1000.0)
        ctx.log(f"{label}: {delivered_rate:,.0f} events/s in the window; draining the other "
                f"{backlog - c1} entries")
        try:
            wait_until(lambda: stub.requests() >= backlog, timeout=rest_timeout, interval=0.2,
                       what="the whole backlog to reach the function")
            drain_s = time.monotonic() - drain_started
            broker.wait_idle(TRIGGER)
        except TimeoutError as error:
            drain_s = time.monotonic() - drain_started
            sample.check(False, str(error))
        delivered_total = broker.metric("triggerd_events_delivered_total", trigger=TRIGGER)
        stub_total = stub.requests()
        max_concurrent = stub.stats()["max_concurrent"]
        peak_rss = broker.peak_rss_mib()
        exit_status = broker.stop()

        cpu = meter.cpu_s["triggerd"]
        own_cost = cpu + meter.uncharged_interrupt_s(ctx.cpus.broker)
        sample.add("reference: Little's law, 500 in flight / 50 ms", "events/s", LITTLE)
        sample.add("reference: wrk (500 conn.) -> stub, 2xx", "req/s", reference_rate)
        sample.add("reference: wrk's answer time p50", "ms", reference.latency_p50_ms, digits=2)
        sample.add("delivered to the function", "events/s", delivered_rate)
        sample.add("delivered / Little's law", "ratio", delivered_rate / LITTLE, digits=3)
        sample.add("delivered / wrk reference", "ratio",
                   delivered_rate / reference_rate if reference_rate else 0.0, digits=3)
        sample.add("measured window (backlog-bounded)", "s", window, digits=1)
        sample.add("whole backlog: triggerd start to last delivery", "s", drain_s, digits=1)
        sample.add("whole backlog: average rate", "events/s",
                   stub_total / drain_s if drain_s > 0 else 0.0)
        sample.add("function max concurrent requests", "requests", max_concurrent)
        # Where an in-flight slot's time goes: its cycle (Little's law backwards) is the
        # function's answer time as triggerd sees it plus the time outside the HTTP exchange
        # (answer read -> XACK queued -> room -> XREADGROUP -> next request written).
        cycle_ms = IN_FLIGHT / delivered_rate * 1000.0 if delivered_rate else 0.0
        attempt_ms = mean_ms(h0, h1, "triggerd_delivery_duration_seconds")
        sample.add("slot cycle: 500 / delivered rate", "ms", cycle_ms, digits=2)
        sample.add("of it: delivery attempt, request sent -> answer read (mean)", "ms",
                   attempt_ms, digits=2)
        sample.add("of it: outside the attempt (source, scheduling)", "ms",
                   cycle_ms - attempt_ms, digits=2)
        sample.add("function: requests held at a time (mean of samples)", "requests",
                   sum(at_stub) / len(at_stub) if at_stub else 0.0)
        sample.add("triggerd CPU use", "cores", cpu / window if window else 0.0, digits=2)
        sample.add("triggerd CPU per delivered event", "us",
                   own_cost / delivered * 1e6 if delivered else 0.0, digits=1)
        sample.add("triggerd RSS at the end of the window (VmRSS)", "MiB", rss_window_mib,
                   digits=1)
        sample.add("triggerd peak RSS over the drain (VmHWM)", "MiB", peak_rss, digits=1)
        sample.add("redis-server CPU use", "cores",
                   meter.cpu_s["redis"] / window if window else 0.0, digits=2)
        sample.add("stub CPU per request, via triggerd", "us",
                   meter.cpu_s["stub"] / delivered * 1e6 if delivered else 0.0, digits=1)
        sample.add(f"CPU {ctx.cpus.function} busy (stub's + redis'), via triggerd", "cores",
                   meter.busy_cores(ctx.cpus.function), digits=2)
        others = max(reference_others, meter.others_all(ctx.all_cpus))
        sample.add(f"CPU {ctx.all_cpus}: other jobs (worst window)", "cores", others, digits=2)
        if others > DISTURBED_CORES:
            sample.disturbed = f"other jobs took {others:.2f} cores of CPU {ctx.all_cpus}"

        sample.check(delivered > 0, "no event reached the function")
        sample.check(delivered_total == backlog == stub_total,
                     f"events lost or duplicated: {backlog} in the stream, triggerd "
                     f"delivered {delivered_total:.0f}; the function saw {stub_total}")
        sample.check(exit_status == 0, f"triggerd exited {exit_status} on SIGTERM")
        if peak_rss >= RSS_TARGET_MIB:
            ctx.log(f"{label}: triggerd peak RSS {peak_rss:.1f} MiB is over the "
                    f"{RSS_TARGET_MIB:.0f} MiB target")
        return sample

    ctx.repeat(result, measure)
    return result


def durations(broker: Triggerd) -> dict[str, tuple[float, float]]:
    """(sum, count) of triggerd's duration histograms for the trigger, from one /metrics."""
    out = {}
    samples = broker.metrics()
    for name in ("triggerd_delivery_duration_seconds", "triggerd_event_duration_seconds"):
        total = sum(v for n, labels, v in samples
                    if n == name + "_sum" and labels.get("trigger") == TRIGGER)
        count = sum(v for n, labels, v in samples
                    if n == name + "_count" and labels.get("trigger") == TRIGGER)
        out[name] = (total, count)
    return out


def mean_ms(before: dict, after: dict, name: str) -> float:
    """Mean of a duration histogram between two reads, in ms."""
    total = after[name][0] - before[name][0]
    count = after[name][1] - before[name][1]
    return total / count * 1000.0 if count > 0 else 0.0
