"""S7 start-up with many triggers: how long from exec until triggerd answers /readyz 200, and how
much memory it holds afterwards while idle.

Three configs, each started fresh in every run (the order rotates between runs, so that a
drift of the machine does not always hit the same one):
  1 webhook      one http trigger: the fixed cost of a start (exec, dynamic linking, the
                 listeners)
  1000 webhook   1000 http triggers (one path each)
  1000 cron      1000 cron triggers whose schedule is not due during the run
Each uses 10 functions (the triggers spread over them) that nothing calls, and an http dead
letter per trigger (as a production config would; without it, validation warns once per
trigger). No external server is needed.

Per config and run: the wall time from the fork to the first 200 from GET /readyz (polled
every millisecond over a raw socket on an admin port chosen up front), triggerd's CPU time at
that moment, then after IDLE_S of idleness its VmRSS (and of it, anonymous and file-backed
pages) and VmHWM; `triggerd validate` on the same file times the config load alone. Checks:
/v1/triggers lists every trigger, and SIGTERM ends triggerd with status 0.

Targets (what a platform team would expect of a broker at start-up): 1000 triggers ready
in <= 100 ms, idle RSS <= 30 MiB.
"""
from __future__ import annotations

import json
import os
import subprocess
import time

from benchlib import http
from benchlib.context import Context
from benchlib.meter import Meter
from benchlib.results import RunSample, ScenarioResult
from benchlib.startup import free_port, memory, start_until_ready

ID = "S7"
TITLE = "start-up with 1000 triggers: exec to ready, idle RSS"

TRIGGERS = 1000
FUNCTIONS = 10
IDLE_S = 1.0
IDLE_SMOKE_S = 0.3
# A port nothing listens on: nothing is delivered in this scenario.
NOWHERE = "http://127.0.0.1:9"

HEAD = """\
# S7: {count} {kind} trigger(s) over {functions} function(s); nothing is delivered.
server:
  listen: 127.0.0.1:0
  admin_listen: 127.0.0.1:{admin_port}
  shutdown_timeout: 5s
log:
  level: info
functions:
"""


def make_config(kind: str, count: int, admin_port: int) -> str:
    functions = min(FUNCTIONS, count)
    parts = [HEAD.format(count=count, kind=kind, functions=functions, admin_port=admin_port)]
    for f in range(functions):
        parts.append(f"  fn-{f}:\n    url: {NOWHERE}/fn-{f}\n    timeout: 10s\n"
                     f"    max_concurrency: 64\n")
    parts.append("triggers:\n")
    for t in range(count):
        if kind == "webhook":
            source = f"      type: http\n      path: /hooks/t{t:04d}\n"
        else:
            # 00:00 on 1 January: not due while a run lasts (except across New Year).
            source = f"      type: cron\n      schedule: \"0 0 1 1 *\"\n      data: {{n: {t}}}\n"
        parts.append(f"  t-{t:04d}:\n    function: fn-{t % functions}\n    source:\n{source}"
                     f"    delivery:\n      retries: 3\n"
                     f"      dead_letter: {{type: http, url: \"{NOWHERE}/dead-letter\"}}\n")
    return "".join(parts)


VARIANTS = [("1 webhook", "webhook", 1), (f"{TRIGGERS} webhook", "webhook", TRIGGERS),
            (f"{TRIGGERS} cron", "cron", TRIGGERS)]


def run(ctx: Context) -> ScenarioResult:
    result = ctx.result(ID, TITLE)
    binary = ctx.binary("triggerd")
    idle_s = IDLE_SMOKE_S if ctx.smoke else IDLE_S

    def validate_ms(config_path) -> float:
        """`triggerd validate` wall time: the config load alone, plus exec and exit."""
        started = time.monotonic()
        done = subprocess.run(["taskset", "-c", ctx.cpus.broker, str(binary), "validate", "-c",
                               str(config_path)], capture_output=True, text=True, timeout=60)
        took = time.monotonic() - started
        if done.returncode != 0:
            raise RuntimeError(f"triggerd validate failed ({done.returncode}):\n"
                               f"{done.stderr[-2000:]}")
        return took * 1000

    def measure(run_number: int) -> RunSample:
        sample = RunSample()
        label = ctx.run_label(ID, run_number)
        meter = Meter({"harness": os.getpid()})
        # Rotate the order so that a slow first start (cold page cache) is not always the same
        # config's.
        shift = (run_number - 1) % len(VARIANTS) if run_number else 0
        for name, kind, count in VARIANTS[shift:] + VARIANTS[:shift]:
            admin_port = free_port()
            config_path = ctx.workdir / f"s7-{kind}-{count}.yaml"
            config_path.write_text(make_config(kind, count, admin_port))
            validate = validate_ms(config_path)
            ctx.log(f"{label}: {name}: starting")
            started = start_until_ready(
                ctx.procs, [str(binary), "run", "-c", str(config_path)], ctx.cpus.broker,
                ctx.workdir / f"s7-{kind}-{count}-{run_number}.log", admin_port)
            ctx.placed(ID, "broker", "triggerd", started.child)
            time.sleep(idle_s)
            mem = memory(started.child.pid)
            listed = json.loads(http.get(f"http://127.0.0.1:{admin_port}/v1/triggers"))
            exit_status = ctx.procs.stop(started.child, timeout=15)
            ctx.log(f"{label}: {name}: ready in {started.ready_s * 1000:.1f} ms "
                    f"({started.cpu_to_ready_s * 1000:.1f} ms CPU), RSS {mem.rss_mib:.1f} MiB")

            sample.add(f"{name}: exec to /readyz 200", "ms", started.ready_s * 1000, digits=1)
            sample.add(f"{name}: triggerd CPU until ready", "ms", started.cpu_to_ready_s * 1000,
                       digits=1)
            sample.add(f"{name}: `triggerd validate` (load only)", "ms", validate, digits=1)
            sample.add(f"{name}: idle RSS (VmRSS)", "MiB", mem.rss_mib, digits=1)
            sample.add(f"{name}: of it anonymous (heap, stacks)", "MiB", mem.anon_mib, digits=1)
            sample.add(f"{name}: of it file-backed (binary, libraries)", "MiB", mem.file_mib,
                       digits=1)
            sample.add(f"{name}: peak RSS (VmHWM)", "MiB", mem.peak_mib, digits=1)
            sample.add(f"{name}: threads", "threads", mem.threads)
            sample.check(len(listed) == count,
                         f"{name}: /v1/triggers lists {len(listed)} triggers, not {count}")
            sample.check(exit_status == 0, f"{name}: triggerd exited {exit_status} on SIGTERM")
        meter.stop()
        # The harness's own polling runs on some CPU too; it is metered, so it is not taken for
        # another job.
        ctx.add_other_jobs(sample, meter.others_all(ctx.cpus.broker), cpus=ctx.cpus.broker)
        return sample

    ctx.repeat(result, measure)
    return result
