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

Each run measures this three times: over HTTP; then over HTTP with batched delivery; then over
HTTPS (the stub serving TLS with a certificate of a test CA that triggerd trusts through
tls.ca_file; wrk's reference over HTTPS too). Both transports keep their connections alive, so
HTTPS costs the encryption of each request and answer, and a handshake only per connection.

"batch 100:" is the same trigger with delivery.batch {max_events: 100, max_wait: 100ms,
max_bytes: 1MiB}: one POST (application/cloudevents-batch+json) carries up to 100 events, and
64 such requests are under way at a time, as 64 single events are above (max_inflight, which
counts events, is 6400). Its backlog is larger (BATCH_BACKLOG_*), since it drains several times
faster; it has no wrk run of its own. The stub counts requests, one per batch, so the window counts
events by triggerd's triggerd_events_delivered_total (read from /metrics every BATCH_INTERVAL
s), and afterwards that counter must equal N and the stub's request count lie between N/100
and N. Its ratio is against the unbatched HTTP rate of the same run, measured just before it.
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

BATCH_EVENTS = 100               # delivery.batch.max_events
BATCH = f"batch {BATCH_EVENTS}: "  # the prefix of the batched variant's figures
# Several times S1's rate: a window of a few seconds at the full size (about 1.1 GiB in
# Redis), and, in --smoke, enough that a Release build's drain is not over before the window
# opens; a sanitized build (CI's smoke) is slow enough for S1's smoke backlog.
BATCH_BACKLOG_FULL = 1_000_000
BATCH_BACKLOG_SMOKE = 100_000
BATCH_BACKLOG_SMOKE_SANITIZED = BACKLOG_SMOKE
BATCH_INTERVAL = 0.05            # s between two reads of triggerd's delivered count


def run(ctx: Context) -> ScenarioResult:
    result = ctx.result(ID, TITLE)
    if wrk_missing(result):
        return result
    body = make_body(BODY_BYTES)
    load = Load(ctx, ID, body, IN_FLIGHT)
    backlog = BACKLOG_SMOKE if ctx.smoke else BACKLOG_FULL
    batch_backlog = BATCH_BACKLOG_FULL if not ctx.smoke else \
        BATCH_BACKLOG_SMOKE_SANITIZED if ctx.sanitized else BATCH_BACKLOG_SMOKE
    with start_redis(ctx, ID, "s1-redis") as redis:
        return _run(ctx, result, redis, load, body, backlog, batch_backlog)


def https_config(config: str, stub) -> str:
    """`config` with the function reached over HTTPS, trusting the stub's test CA."""
    url = stub.url("/s1")
    return config.replace(f"    url: {url}\n",
                          f"    url: {url}\n    tls: {{ca_file: {stub.ca_file}}}\n")


def _run(ctx: Context, result: ScenarioResult, redis: Redis, load: Load, body: bytes,
         backlog: int, batch_backlog: int) -> ScenarioResult:
    stubs = {"": ctx.start_stub(ID, "s1-stub"),
             "https: ": ctx.start_stub(ID, "s1-stub-https", tls=True)}
    configs = {}
    for prefix, stub in stubs.items():
        config = stream_trigger_config(redis_port=redis.port, function_url=stub.url("/s1"),
                                       in_flight=IN_FLIGHT, trigger=TRIGGER, stream=STREAM,
                                       count=READ_COUNT)
        configs[prefix] = https_config(config, stub) if stub.ca_file else config
        load.warm_up(stub.url("/s1"))
    batch_config = stream_trigger_config(
        redis_port=redis.port, function_url=stubs[""].url("/s1"), in_flight=IN_FLIGHT,
        trigger=TRIGGER, stream=STREAM, count=READ_COUNT, batch_events=BATCH_EVENTS)

    def measure(run_number: int) -> RunSample:
        sample = RunSample()
        # Unbatched HTTP first, the batched variant right after it (its ratio is against the
        # former: the machine's speed drifts over minutes), then HTTPS.
        others, unbatched_rate = measure_one(run_number, sample, "", stubs[""])
        others = max(others, measure_batched(run_number, sample, stubs[""], unbatched_rate))
        others = max(others, measure_one(run_number, sample, "https: ", stubs["https: "])[0])
        ctx.add_other_jobs(sample, others, worst_window=True)
        return sample

    def add_drain_figures(sample: RunSample, prefix: str, window, max_concurrent: int,
                          own_cost: float, totals) -> None:
        """What the batched and unbatched drains both report, named with `prefix`."""
        meter = window.meter
        sample.add(prefix + "measured window (backlog-bounded)", "s", window.seconds, digits=1)
        sample.add(prefix + "function max concurrent requests", "requests", max_concurrent)
        sample.add(prefix + "triggerd CPU use", "cores", window.cores(meter.cpu_s["triggerd"]),
                   digits=2)
        sample.add(prefix + "triggerd CPU per delivered event", "us",
                   window.per_event_us(own_cost), digits=2)
        sample.add(prefix + "triggerd ceiling on one core (delivered / its CPU s)", "events/s",
                   window.delivered / own_cost if own_cost else 0.0)
        sample.add(prefix + "redis-server CPU use", "cores", window.cores(meter.cpu_s["redis"]),
                   digits=2)
        sample.add(f"{prefix}CPU {ctx.cpus.broker} busy (triggerd's), via triggerd", "cores",
                   meter.busy_cores(ctx.cpus.broker), digits=2)
        sample.add(f"{prefix}CPU {ctx.cpus.function} busy (stub's + redis'), via triggerd",
                   "cores", meter.busy_cores(ctx.cpus.function), digits=2)
        sample.add(prefix + "triggerd peak RSS (VmHWM)", "MiB", totals.peak_rss_mib, digits=1)

    def measure_one(run_number: int, sample: RunSample, prefix: str,
                    stub) -> tuple[float, float]:
        """One transport's figures, named with `prefix`; returns the other jobs' worst load
        and the delivered rate."""
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
        add_drain_figures(sample, prefix, window, max_concurrent, own_cost, totals)
        sample.add(prefix + "stub CPU per request, via triggerd", "us",
                   window.per_event_us(meter.cpu_s["stub"]), digits=1)
        check_drained(sample, backlog, window, totals, prefix)
        return max(reference.others, meter.others_all(ctx.all_cpus)), delivered_rate

    def measure_batched(run_number: int, sample: RunSample, stub,
                        unbatched_rate: float) -> float:
        """The batched variant over HTTP; returns the other jobs' load in its window."""
        label = f"{ctx.run_label(ID, run_number)} {BATCH.rstrip(': ')}"
        fill_stream(ctx, label, redis.client, STREAM, body, batch_backlog)
        ctx.log(f"{label}: redis stream -> triggerd -> stub in batches of {BATCH_EVENTS}, up "
                f"to {ctx.duration_s:.0f}s")
        stub.reset()
        name = "s1-triggerd-batch"
        broker = ctx.start_triggerd(ID, batch_config, f"{name}-{run_number}")

        def events() -> int:
            return int(broker.metric("triggerd_events_delivered_total", trigger=TRIGGER))

        window = measure_window(
            ctx, stub, batch_backlog, what="events",
            metered={"triggerd": broker.pid, "stub": stub.pid, "redis": redis.pid},
            profile=(broker.pid, name), probe=stub.requests, events=events,
            interval=BATCH_INTERVAL, warm_interval=BATCH_INTERVAL / 2)
        meter, delivered_rate = window.meter, window.rate
        requests = window.probed[1] - window.probed[0]
        max_concurrent = stub.stats()["max_concurrent"]

        wait_for_the_rest(sample, stub, broker, TRIGGER, batch_backlog, interval=0.1,
                          events=events, timeout=30 + 4 * (batch_backlog - window.last)
                          / max(delivered_rate, 1000.0))
        totals = stop_and_count(broker, stub, TRIGGER)
        own_cost = meter.own_cost_s("triggerd", ctx.cpus.broker)

        sample.add(BATCH + "delivered to the function", "events/s", delivered_rate)
        sample.add(BATCH + "delivered / unbatched (HTTP, this run)", "ratio",
                   delivered_rate / unbatched_rate if unbatched_rate else 0.0, digits=3)
        sample.add(BATCH + "requests to the function", "req/s",
                   requests / window.seconds if window.seconds else 0.0)
        sample.add(BATCH + "events per request (mean)", "events",
                   window.delivered / requests if requests else 0.0, digits=1)
        add_drain_figures(sample, BATCH, window, max_concurrent, own_cost, totals)
        sample.add(BATCH + "redis-server CPU per delivered event", "us",
                   window.per_event_us(meter.cpu_s["redis"]), digits=2)
        sample.add(BATCH + "stub CPU per event, via triggerd", "us",
                   window.per_event_us(meter.cpu_s["stub"]), digits=2)
        check_drained(sample, batch_backlog, window, totals, BATCH, batch_events=BATCH_EVENTS)
        return meter.others_all(ctx.all_cpus)

    ctx.repeat(result, measure)
    return result
