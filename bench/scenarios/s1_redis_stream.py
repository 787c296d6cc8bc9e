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

Each run measures this twice: over HTTP, then over HTTPS (the stub serving TLS with a
certificate of a test CA that triggerd trusts through tls.ca_file; wrk's reference over HTTPS
too). Both keep their connections alive, so HTTPS costs the encryption of each request and
answer, and a handshake only per connection.
"""
from __future__ import annotations

from benchlib.backlog import check_drained, measure_window, stop_and_count, wait_for_the_rest
from benchlib.context import Context
from benchlib.load import Load, wrk_missing
from benchlib.payload import make_body
from benchlib.redisbench import Redis, fill_stream, start_redis, stream_trigger_config
from benchlib.results import RunSample, ScenarioResult

ID = "S1"
TITLE = "redis stream -> function, 1 KiB entries"

BODY_BYTES = 1024
IN_FLIGHT = 64            # delivery.max_inflight and the function's max_concurrency; wrk's -c
READ_COUNT = 100          # XREADGROUP COUNT
BACKLOG_FULL = 500_000    # entries per run (about 550 MiB in Redis; 10 s at 40k/s)
BACKLOG_SMOKE = 20_000
TRIGGER = "s1-stream"
STREAM = "s1:events"


def run(ctx: Context) -> ScenarioResult:
    result = ctx.result(ID, TITLE)
    if wrk_missing(result):
        return result
    body = make_body(BODY_BYTES)
    load = Load(ctx, ID, body, IN_FLIGHT)
    backlog = BACKLOG_SMOKE if ctx.smoke else BACKLOG_FULL
    with start_redis(ctx, ID, "s1-redis") as redis:
        return _run(ctx, result, redis, load, body, backlog)


def https_config(config: str, stub) -> str:
    """`config` with the function reached over HTTPS, trusting the stub's test CA."""
    url = stub.url("/s1")
    return config.replace(f"    url: {url}\n",
                          f"    url: {url}\n    tls: {{ca_file: {stub.ca_file}}}\n")


def _run(ctx: Context, result: ScenarioResult, redis: Redis, load: Load, body: bytes,
         backlog: int) -> ScenarioResult:
    stubs = {"": ctx.start_stub(ID, "s1-stub"),
             "https: ": ctx.start_stub(ID, "s1-stub-https", tls=True)}
    configs = {}
    for prefix, stub in stubs.items():
        config = stream_trigger_config(redis_port=redis.port, function_url=stub.url("/s1"),
                                       in_flight=IN_FLIGHT, trigger=TRIGGER, stream=STREAM,
                                       count=READ_COUNT)
        configs[prefix] = https_config(config, stub) if stub.ca_file else config
        load.warm_up(stub.url("/s1"))

    def measure(run_number: int) -> RunSample:
        sample = RunSample()
        others = 0.0
        for prefix, stub in stubs.items():
            others = max(others, measure_one(run_number, sample, prefix, stub))
        ctx.add_other_jobs(sample, others, worst_window=True)
        return sample

    def measure_one(run_number: int, sample: RunSample, prefix: str, stub) -> float:
        """One transport's figures, named with `prefix`; returns the other jobs' worst load."""
        label = ctx.run_label(ID, run_number) + (f" {prefix.rstrip(': ')}" if prefix else "")
        fill_stream(ctx, label, redis.client, STREAM, body, backlog)

        ctx.log(f"{label}: reference, wrk -> stub, {ctx.duration_s:.0f}s")
        reference = load.reference(sample, stub, stub.url("/s1"), ctx.duration_s,
                                   metered={"redis": redis.pid}, prefix=prefix)
        reference_rate = reference.wrk.ok_per_s

        ctx.log(f"{label}: redis stream -> triggerd -> stub, up to {ctx.duration_s:.0f}s")
        stub.reset()
        name = "s1-triggerd" + ("-https" if prefix else "")
        broker = ctx.start_triggerd(ID, configs[prefix], f"{name}-{run_number}")
        window = measure_window(
            ctx, stub, backlog, metered={"triggerd": broker.pid, "stub": stub.pid,
                                         "redis": redis.pid},
            profile=(broker.pid, name))
        meter, delivered_rate = window.meter, window.rate
        max_concurrent = stub.stats()["max_concurrent"]

        # The rest of the backlog must arrive too (bounded: generous for the slowest rate).
        wait_for_the_rest(sample, stub, broker, TRIGGER, backlog, interval=0.1,
                          timeout=30 + 4 * (backlog - window.last) / max(delivered_rate, 1000.0))
        totals = stop_and_count(broker, stub, TRIGGER)
        own_cost = meter.own_cost_s("triggerd", ctx.cpus.broker)

        sample.add(prefix + "reference: wrk -> stub, 2xx", "req/s", reference_rate)
        sample.add(prefix + "delivered to the function", "events/s", delivered_rate)
        sample.add(prefix + "delivered / reference", "ratio",
                   delivered_rate / reference_rate if reference_rate else 0.0, digits=3)
        sample.add(prefix + "measured window (backlog-bounded)", "s", window.seconds, digits=1)
        sample.add(prefix + "function max concurrent requests", "requests", max_concurrent)
        sample.add(prefix + "triggerd CPU use", "cores", window.cores(meter.cpu_s["triggerd"]),
                   digits=2)
        sample.add(prefix + "triggerd CPU per delivered event", "us",
                   window.per_event_us(own_cost), digits=1)
        sample.add(prefix + "triggerd ceiling on one core (delivered / its CPU s)", "events/s",
                   window.delivered / own_cost if own_cost else 0.0)
        sample.add(prefix + "redis-server CPU use", "cores", window.cores(meter.cpu_s["redis"]),
                   digits=2)
        sample.add(prefix + "stub CPU per request, via triggerd", "us",
                   window.per_event_us(meter.cpu_s["stub"]), digits=1)
        sample.add(f"{prefix}CPU {ctx.cpus.broker} busy (triggerd's), via triggerd", "cores",
                   meter.busy_cores(ctx.cpus.broker), digits=2)
        sample.add(f"{prefix}CPU {ctx.cpus.function} busy (stub's + redis'), via triggerd",
                   "cores", meter.busy_cores(ctx.cpus.function), digits=2)
        sample.add(prefix + "triggerd peak RSS (VmHWM)", "MiB", totals.peak_rss_mib, digits=1)
        check_drained(sample, backlog, window, totals, prefix)
        return max(reference.others, meter.others_all(ctx.all_cpus))

    ctx.repeat(result, measure)
    return result
