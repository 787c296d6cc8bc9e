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

from benchlib.backlog import check_drained, measure_window, stop_and_count, wait_for_the_rest
from benchlib.context import Context
from benchlib.load import Load, wrk_missing
from benchlib.payload import make_body
from benchlib.procs import status_kib, wait_until
from benchlib.redisbench import Redis, fill_stream, start_redis, stream_trigger_config
from benchlib.results import RunSample, ScenarioResult
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
REFERENCE_MAX_S = 5.0      # wrk's run: enough for a steady figure at 10 000/s
TRIGGER = "s3-stream"
STREAM = "s3:events"
RSS_TARGET_MIB = 100.0


def run(ctx: Context) -> ScenarioResult:
    result = ctx.result(ID, TITLE)
    if wrk_missing(result):
        return result
    with start_redis(ctx, ID, "s3-redis") as redis:
        return _run(ctx, result, redis)


def _run(ctx: Context, result: ScenarioResult, redis: Redis) -> ScenarioResult:
    body = make_body(BODY_BYTES)
    load = Load(ctx, ID, body, IN_FLIGHT)
    backlog = BACKLOG_SMOKE if ctx.smoke else BACKLOG_FULL
    stub = ctx.start_stub(ID, "s3-stub", delay_ms=DELAY_MS)
    config = stream_trigger_config(redis_port=redis.port, function_url=stub.url("/s3"),
                                   in_flight=IN_FLIGHT, trigger=TRIGGER, stream=STREAM,
                                   count=READ_COUNT)

    def measure(run_number: int) -> RunSample:
        sample = RunSample()
        label = ctx.run_label(ID, run_number)
        fill_stream(ctx, label, redis.client, STREAM, body, backlog)

        seconds = min(ctx.duration_s, REFERENCE_MAX_S)
        ctx.log(f"{label}: reference, wrk ({IN_FLIGHT} connections) -> stub ({DELAY_MS} ms), "
                f"{seconds:.0f}s")
        reference = load.reference(sample, stub, stub.url("/s3"), seconds,
                                   metered={"redis": redis.pid})
        reference_rate = reference.wrk.ok_per_s

        ctx.log(f"{label}: redis stream ({backlog} waiting) -> triggerd -> stub ({DELAY_MS} ms)")
        # wrk leaves up to 500 requests in the stub's timers when it stops: let them finish,
        # or the stub's high-water mark would count them with triggerd's.
        wait_until(lambda: stub.stats()["current_concurrent"] == 0, timeout=10, interval=0.02,
                   what="the reference's last requests to finish")
        stub.reset()
        broker = ctx.start_triggerd(ID, config, f"s3-triggerd-{run_number}")
        drain_started = time.monotonic()
        at_stub = []   # requests the stub holds (read, not yet answered), sampled
        window = measure_window(
            ctx, stub, backlog, metered={"triggerd": broker.pid, "stub": stub.pid,
                                         "redis": redis.pid},
            profile=(broker.pid, "s3-triggerd"), warm_timeout=120,
            on_stats=lambda stats: at_stub.append(int(stats["current_concurrent"])),
            probe=lambda: durations(broker))
        meter, delivered_rate = window.meter, window.rate
        h0, h1 = window.probed
        rss_window_mib = status_kib(broker.pid, "VmRSS") / 1024.0

        # The rest of the backlog drains; the peak RSS is read once it has.
        ctx.log(f"{label}: {delivered_rate:,.0f} events/s in the window; draining the other "
                f"{backlog - window.last} entries")
        drain_s = wait_for_the_rest(
            sample, stub, broker, TRIGGER, backlog, interval=0.2,
            timeout=60 + 3 * (backlog - window.last) / max(delivered_rate, 1000.0)) - drain_started
        max_concurrent = stub.stats()["max_concurrent"]
        totals = stop_and_count(broker, stub, TRIGGER)
        own_cost = meter.own_cost_s("triggerd", ctx.cpus.broker)

        sample.add("reference: Little's law, 500 in flight / 50 ms", "events/s", LITTLE)
        sample.add("reference: wrk (500 conn.) -> stub, 2xx", "req/s", reference_rate)
        sample.add("reference: wrk's answer time p50", "ms", reference.wrk.latency_p50_ms,
                   digits=2)
        sample.add("delivered to the function", "events/s", delivered_rate)
        sample.add("delivered / Little's law", "ratio", delivered_rate / LITTLE, digits=3)
        sample.add("delivered / wrk reference", "ratio",
                   delivered_rate / reference_rate if reference_rate else 0.0, digits=3)
        sample.add("measured window (backlog-bounded)", "s", window.seconds, digits=1)
        sample.add("whole backlog: triggerd start to last delivery", "s", drain_s, digits=1)
        sample.add("whole backlog: average rate", "events/s",
                   totals.at_stub / drain_s if drain_s > 0 else 0.0)
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
        sample.add("triggerd CPU use", "cores", window.cores(meter.cpu_s["triggerd"]), digits=2)
        sample.add("triggerd CPU per delivered event", "us", window.per_event_us(own_cost),
                   digits=1)
        sample.add("triggerd RSS at the end of the window (VmRSS)", "MiB", rss_window_mib,
                   digits=1)
        sample.add("triggerd peak RSS over the drain (VmHWM)", "MiB", totals.peak_rss_mib,
                   digits=1)
        sample.add("redis-server CPU use", "cores", window.cores(meter.cpu_s["redis"]), digits=2)
        sample.add("stub CPU per request, via triggerd", "us",
                   window.per_event_us(meter.cpu_s["stub"]), digits=1)
        sample.add(f"CPU {ctx.cpus.function} busy (stub's + redis'), via triggerd", "cores",
                   meter.busy_cores(ctx.cpus.function), digits=2)
        ctx.add_other_jobs(sample, max(reference.others, meter.others_all(ctx.all_cpus)),
                           worst_window=True)

        check_drained(sample, backlog, window, totals)
        if totals.peak_rss_mib >= RSS_TARGET_MIB:
            ctx.log(f"{label}: triggerd peak RSS {totals.peak_rss_mib:.1f} MiB is over the "
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
