"""S2 kafka -> function: how many messages per second triggerd takes from Kafka (librdkafka's
mock cluster, 8 partitions) and delivers to a function, with `ordering: none` and
`ordering: partition`, against a function stub that answers at once or after 1 ms.

References, measured in the same run against the same stub:
  none           wrk -c64 POSTing the same body (as S1): the function's own limit.
  partition 0 ms wrk -c8: eight requests in flight at a time, as eight partitions with one
                 event each allow: the real bound of that concurrency over HTTP.
  partition 1 ms 8 x (wrk -c1's requests/s): one request at a time per partition, each costing
                 the stub's delay plus a measured round trip, i.e. partitions / (delay + RTT).
                 wrk runs on triggerd's CPU for this one, so that its round trip crosses from
                 that CPU to the stub's as triggerd's requests do: on this 2-vCPU VM waking the
                 other, idle CPU costs about a tenth of the 1 ms cycle, which wrk beside the
                 stub never pays. That same-CPU figure is kept as a figure of its own.

Per run: one topic `s2` of 8 partitions, filled once (kcat -P per partition, 1 KiB values,
in message sets of up to SET_MESSAGES, 4 000 per partition: the mock cluster's limits, see
PER_PARTITION_FULL) before anything is measured; each variant then reads it from the start
with a group of its own, so every variant sees the same backlog. The first WARM_SHARE is not measured (group join, fetch
start); the window ends after duration_s or when only TAIL_SHARE is left. Counted: the stub's
requests over the window. Afterwards triggerd drains on SIGTERM and the count it delivered
must equal what the function received (nothing invented, nothing lost on the way).
The mock cluster (a process of its own) and the stubs run on the load/function CPU.

Experiments: S2_VARIANTS="none:0,partition:1" runs only those variants; S2_SET_MESSAGES=1
produces one message per message set, the worst case for a consumer (librdkafka's cost per
set, not per byte, then dominates; docs/benchmarks.md has both).
"""
from __future__ import annotations

import os
import shutil
import time

from benchlib.backlog import measure_window
from benchlib.context import Context
from benchlib.load import Load, wrk_missing
from benchlib.payload import make_body
from benchlib.procs import wait_until
from benchlib.results import RunSample, ScenarioResult, Skip
from benchlib.triggerd import config_head

ID = "S2"
TITLE = "kafka (mock cluster, 8 partitions) -> function, 1 KiB messages"

BODY_BYTES = 1024
PARTITIONS = 8
IN_FLIGHT = 64            # max_inflight and max_concurrency; wrk -c for `none`
# Messages in the topic. The mock cluster cannot serve a fetch that starts inside a message set
# or past its first log segment (offset out of range). triggerd pauses nothing while it runs
# and seeks a partition only once it took every message fetched (a set boundary), so sets of
# many messages are safe; a partition holds at most 4 000 1 KiB messages (about 4 MiB, the
# first segment). The windows are short (about a second at full speed): hence the runs.
PER_PARTITION_FULL = 4000
PER_PARTITION_SMOKE = 1000
TOPIC = "s2"
VARIANTS = [("none", 0), ("none", 1), ("partition", 0), ("partition", 1)]
# Messages per message set, as a producer under load batches them (kcat's batch.num.messages).
SET_MESSAGES = int(os.environ.get("S2_SET_MESSAGES", "100"))
if os.environ.get("S2_VARIANTS"):
    VARIANTS = [(ordering, int(delay)) for ordering, delay in
                (item.split(":") for item in os.environ["S2_VARIANTS"].split(","))]

TRIGGER_CONFIG = """\
triggers:
  {trigger}:
    function: stub
    source:
      type: kafka
      connection: kafka
      topic: {topic}
      group: {group}
      start: earliest
    delivery:
      max_inflight: {in_flight}
      ordering: {ordering}
"""


def reference_shape(ordering: str, delay_ms: int) -> tuple[int, int, str, str]:
    """wrk's connections, the factor on its rate, how the reference is named, and the --cpus
    role wrk runs on."""
    if ordering == "none":
        return IN_FLIGHT, 1, f"wrk -c{IN_FLIGHT}", "load"
    if delay_ms == 0:
        return PARTITIONS, 1, f"wrk -c{PARTITIONS}", "load"
    return 1, PARTITIONS, f"{PARTITIONS} x wrk -c1 from triggerd's CPU", "broker"


def run(ctx: Context) -> ScenarioResult:
    result = ctx.result(ID, TITLE)
    if shutil.which("kcat") is None:
        raise Skip("kcat is not installed (apt-get install kcat)")
    if wrk_missing(result):
        return result
    body = make_body(BODY_BYTES)
    load = Load(ctx, ID, body, IN_FLIGHT)
    per_partition = PER_PARTITION_SMOKE if ctx.smoke else PER_PARTITION_FULL
    backlog = per_partition * PARTITIONS
    lines_file = ctx.workdir / "s2-messages.txt"
    lines_file.write_bytes((body + b"\n") * per_partition)

    stubs = {delay: ctx.start_stub(ID, f"s2-stub-{delay}ms", delay_ms=delay)
             for delay in sorted({delay for _, delay in VARIANTS})}
    load.warm_up(stubs[min(stubs)].url("/s2"))

    def measure(run_number: int) -> RunSample:
        sample = RunSample()
        label = ctx.run_label(ID, run_number)
        # A fresh cluster per run: the same backlog, and no state from the last run.
        cluster_out = ctx.workdir / f"s2-cluster-{run_number}.log"
        cluster = ctx.procs.start(
            "kafka_mock_cluster",
            [str(ctx.binary("kafka_mock_cluster")), "--topic", f"{TOPIC}:{PARTITIONS}"],
            ctx.cpus.load, cluster_out)
        ctx.placed(ID, "load", "kafka_mock_cluster", cluster)

        def bootstrap():
            if not cluster.alive():
                raise RuntimeError(f"kafka_mock_cluster exited early:\n{cluster.log_text()}")
            text = cluster_out.read_text().strip() if cluster_out.exists() else ""
            return text.splitlines()[0] if text else None

        servers = wait_until(bootstrap, timeout=10, what="the mock cluster's address")
        ctx.log(f"{label}: producing {backlog} messages of {len(body)} B with kcat")
        started = time.monotonic()
        for partition in range(PARTITIONS):
            producer = ctx.procs.start(
                "kcat", ["kcat", "-P", "-b", servers, "-t", TOPIC, "-p", str(partition),
                         "-X", f"batch.num.messages={SET_MESSAGES}", "-X", "linger.ms=0",
                         "-l", str(lines_file)],
                ctx.cpus.load, ctx.workdir / "s2-kcat.log")
            status = producer.popen.wait(timeout=300)
            if status != 0:
                raise RuntimeError(f"kcat -P exited {status}:\n{producer.log_text()}")
        ctx.log(f"{label}: produced in {time.monotonic() - started:.1f}s")

        others_worst = 0.0
        for ordering, delay in VARIANTS:
            name = f"{ordering}, {delay} ms"
            stub = stubs[delay]
            ctx.log(f"{label}: {name}: reference (wrk) {ctx.duration_s:.0f}s")
            connections, scale, how, role = reference_shape(ordering, delay)
            reference = load.reference(sample, stub, stub.url("/s2"), ctx.duration_s,
                                       connections=connections, prefix=f"{name}: ", role=role)
            others_worst = max(others_worst, reference.others)
            reference_rate = reference.wrk.ok_per_s * scale
            beside_rate = None
            if role != "load":
                # The same, with wrk beside the stub (a round trip within one CPU).
                beside = load.reference(sample, stub, stub.url("/s2"), ctx.duration_s,
                                        connections=connections, prefix=f"{name}: ")
                others_worst = max(others_worst, beside.others)
                beside_rate = beside.wrk.ok_per_s * scale

            ctx.log(f"{label}: {name}: kafka -> triggerd -> stub, up to {ctx.duration_s:.0f}s")
            stub.reset()
            trigger = f"s2-{ordering}-{delay}"
            connection = f'  kafka:\n    type: kafka\n    brokers: "{servers}"\n'
            config = config_head(stub.url("/s2"), IN_FLIGHT, connection) + \
                TRIGGER_CONFIG.format(trigger=trigger, topic=TOPIC, in_flight=IN_FLIGHT,
                                      group=f"{trigger}-{run_number}", ordering=ordering)
            broker = ctx.start_triggerd(ID, config, f"{trigger}-triggerd-{run_number}")
            window = measure_window(
                ctx, stub, backlog, "messages",
                metered={"triggerd": broker.pid, "stub": stub.pid, "cluster": cluster.pid},
                profile=(broker.pid, f"s2-{ordering}-{delay}ms-triggerd"))
            meter, delivered, rate = window.meter, window.delivered, window.rate
            others_worst = max(others_worst, meter.others_all(ctx.all_cpus))
            cpu = meter.own_cost_s("triggerd", ctx.cpus.broker)
            peak_rss = broker.peak_rss_mib()
            # The function sees an event before triggerd counts it delivered, and at most
            # max_inflight are between the two. Read while events flow, so bracket the
            # delivered count: everything the function had seen before is delivered or in
            # flight, and nothing delivered can be unseen by the function afterwards.
            seen_before = stub.requests()
            delivered_total = broker.metric("triggerd_events_delivered_total", trigger=trigger)
            seen_after = stub.requests()
            exit_status = broker.stop()

            sample.add(f"{name}: reference ({how})", "req/s", reference_rate)
            sample.add(f"{name}: delivered to the function", "events/s", rate)
            sample.add(f"{name}: delivered / reference", "ratio",
                       rate / reference_rate if reference_rate else 0.0, digits=3)
            if beside_rate is not None:
                sample.add(f"{name}: {PARTITIONS} x wrk -c1 beside the stub", "req/s",
                           beside_rate)
                sample.add(f"{name}: delivered / that", "ratio",
                           rate / beside_rate if beside_rate else 0.0, digits=3)
            sample.add(f"{name}: triggerd CPU per delivered event", "us",
                       window.per_event_us(cpu), digits=1)
            sample.add(f"{name}: triggerd peak RSS (VmHWM)", "MiB", peak_rss, digits=1)
            sample.check(delivered > 0, f"{name}: no message reached the function")
            sample.check(exit_status == 0, f"{name}: triggerd exited {exit_status} on SIGTERM")
            sample.check(seen_before - IN_FLIGHT <= delivered_total <= seen_after,
                         f"{name}: triggerd counted {delivered_total:.0f} delivered while the "
                         f"function received {seen_before} then {seen_after}")
        ctx.procs.stop(cluster)
        ctx.add_other_jobs(sample, others_worst, worst_window=True)
        return sample

    ctx.repeat(result, measure)
    return result

