"""S4 webhook -> function: how many webhook events per second triggerd takes in and delivers to
a function, against the same load generator driving the same function directly.

Per run, in this order (interleaved, so that drift of the machine hits both alike):
  reference  wrk POSTs the body straight to the stub: the rate at which the load generator and
             the function, sharing their CPU, can exchange requests with nothing in between.
  triggerd   a fresh triggerd (one http trigger, the stub as its function); wrk POSTs the same
             body to the webhook. Counted: 202/s and 503/s as wrk saw them, and the events the
             stub received during wrk's run (its request-count delta over that window).
             Afterwards the trigger is drained and every accepted event must have reached the
             function: received == delivered == the stub's count.
"""
from __future__ import annotations

from benchlib.context import Context
from benchlib.load import Load, wrk_missing
from benchlib.meter import Meter
from benchlib.payload import make_body
from benchlib.results import RunSample, ScenarioResult
from benchlib.triggerd import config_head

ID = "S4"
TITLE = "webhook -> function, 1 KiB body"

BODY_BYTES = 1024
CONNECTIONS = 64          # wrk's, in both runs; the function's max_concurrency matches it
MAX_INFLIGHT = 1000       # the trigger is not the limit: room for every open request and more
TRIGGER = "s4-webhook"
PATH = "/hooks/s4"
CONTENT_TYPE = "application/json"

TRIGGER_CONFIG = """\
triggers:
  {trigger}:
    function: stub
    source:
      type: http
      path: {path}
    delivery:
      max_inflight: {max_inflight}
"""


def run(ctx: Context) -> ScenarioResult:
    result = ctx.result(ID, TITLE)
    if wrk_missing(result):
        return result
    load = Load(ctx, ID, make_body(BODY_BYTES), CONNECTIONS, CONTENT_TYPE)

    stub = ctx.start_stub(ID, "s4-stub")
    config = config_head(stub.url("/s4"), CONNECTIONS) + TRIGGER_CONFIG.format(
        trigger=TRIGGER, path=PATH, max_inflight=MAX_INFLIGHT)

    if ctx.warmup_s > 0:
        ctx.log(f"{ID}: warm-up, {ctx.warmup_s:.0f}s each way")
        load.post(stub.url("/s4"), ctx.warmup_s)
        broker = ctx.start_triggerd(ID, config, "s4-triggerd-warmup")
        load.post(broker.webhook_url(PATH), ctx.warmup_s)
        broker.wait_idle(TRIGGER)
        broker.stop()

    def measure(run_number: int) -> RunSample:
        sample = RunSample()
        label = ctx.run_label(ID, run_number)

        ctx.log(f"{label}: reference, wrk -> stub, {ctx.duration_s:.0f}s")
        reference = load.reference(sample, stub, stub.url("/s4"), ctx.duration_s)
        reference_rate = reference.wrk.ok_per_s
        answered = max(reference.wrk.requests, 1)
        reference_stub_us = reference.meter.cpu_s["stub"] / answered * 1e6
        reference_wrk_us = reference.meter.cpu_s["reaped"] / answered * 1e6

        ctx.log(f"{label}: wrk -> triggerd webhook -> stub, {ctx.duration_s:.0f}s")
        broker = ctx.start_triggerd(ID, config, f"s4-triggerd-{run_number}")
        stub.reset()
        before_requests = stub.requests()
        meter = Meter({"triggerd": broker.pid, "stub": stub.pid})
        with ctx.profile(broker.pid, "s4-triggerd"):
            webhook = load.post(broker.webhook_url(PATH), ctx.duration_s)
        after_requests = stub.requests()
        meter.stop()
        max_concurrent = stub.stats()["max_concurrent"]

        broker.wait_idle(TRIGGER)
        received = broker.metric("triggerd_events_received_total", trigger=TRIGGER)
        delivered_total = broker.metric("triggerd_events_delivered_total", trigger=TRIGGER)
        stub_total = stub.requests()
        peak_rss = broker.peak_rss_mib()
        exit_status = broker.stop()

        # Delivered: what reached the function while wrk ran (the stub's count over the same
        # window), not what triggerd answered 202 to.
        delivered = after_requests - before_requests
        window = meter.wall_s
        delivered_rate = delivered / window
        cpu = meter.cpu_s["triggerd"]
        own_cost = meter.own_cost_s("triggerd", ctx.cpus.broker)

        def per_event(seconds: float) -> float:
            return seconds / delivered * 1e6 if delivered else 0.0

        sample.add("reference: wrk -> stub, 2xx", "req/s", reference_rate)
        sample.add("webhook 202 Accepted", "req/s", webhook.ok_per_s)
        sample.add("webhook non-2xx (503: trigger full)", "req/s", webhook.refused_per_s)
        sample.add("delivered to the function", "events/s", delivered_rate)
        sample.add("delivered / reference", "ratio",
                   delivered_rate / reference_rate if reference_rate else 0.0, digits=3)
        sample.add("webhook answer latency p99", "ms", webhook.latency_p99_ms, digits=1)
        sample.add("function max concurrent requests", "requests", max_concurrent)
        sample.add("triggerd CPU in the window", "s", cpu, digits=2)
        sample.add("triggerd CPU use", "cores", cpu / window, digits=2)
        sample.add("triggerd CPU per delivered event", "us", per_event(own_cost), digits=1)
        # What one core of triggerd would carry at that cost per event.
        sample.add("triggerd ceiling on one core (delivered / its CPU s)", "events/s",
                   delivered / own_cost if own_cost else 0.0)
        sample.add("triggerd peak RSS (VmHWM)", "MiB", peak_rss, digits=1)
        # Where the rest of the time goes: the function's and the load generator's cost per
        # request, alone (reference) and behind triggerd, and how busy each CPU was.
        sample.add("stub CPU per request, reference", "us", reference_stub_us, digits=1)
        sample.add("stub CPU per request, via triggerd", "us", per_event(meter.cpu_s["stub"]),
                   digits=1)
        sample.add("wrk CPU per request, reference", "us", reference_wrk_us, digits=1)
        sample.add("wrk CPU per request, via triggerd", "us",
                   meter.cpu_s["reaped"] / max(webhook.requests, 1) * 1e6, digits=1)
        sample.add(f"CPU {ctx.cpus.broker} busy (triggerd's), via triggerd", "cores",
                   meter.busy_cores(ctx.cpus.broker), digits=2)
        sample.add(f"CPU {ctx.cpus.function} busy (stub's), via triggerd", "cores",
                   meter.busy_cores(ctx.cpus.function), digits=2)
        sample.add(f"CPU {ctx.cpus.broker} of it in softirq+irq, via triggerd", "cores",
                   meter.interrupt_cores(ctx.cpus.broker), digits=2)
        ctx.add_other_jobs(sample, max(reference.others, meter.others_all(ctx.all_cpus)),
                           worst_window=True)

        sample.check(delivered > 0, "no event reached the function")
        sample.check(webhook.socket_errors == 0,
                     f"wrk saw {webhook.socket_errors} socket errors or timeouts")
        sample.check(received == delivered_total == stub_total,
                     f"events lost or duplicated: triggerd received {received:.0f} and "
                     f"delivered {delivered_total:.0f}; the function saw {stub_total}")
        sample.check(webhook.ok <= received,
                     f"wrk read {webhook.ok} 2xx but triggerd received {received:.0f} events")
        sample.check(exit_status == 0, f"triggerd exited {exit_status} on SIGTERM")
        return sample

    ctx.repeat(result, measure)
    return result
