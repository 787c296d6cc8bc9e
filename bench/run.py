#!/usr/bin/env python3
"""The triggerd benchmark runner: runs the scenarios of bench/scenarios and prints one table.

Use scripts/bench, which builds first. Progress goes to stderr, the report to stdout.
Exit status: 0 all scenarios passed their checks; 1 a scenario failed (delivered nothing,
lost events, crashed); 2 usage; 3 the time budget ran out.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import shutil
import signal
import sys
import tempfile
import traceback
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from benchlib import machine, report  # noqa: E402
from benchlib.context import Context, Placement  # noqa: E402
from benchlib.results import ScenarioResult, Skip  # noqa: E402


class BudgetExceeded(Exception):
    pass


def discover() -> list:
    """Scenario modules bench/scenarios/sN_*.py, ordered by N."""
    modules = []
    for path in (BENCH_DIR / "scenarios").glob("s*_*.py"):
        number = path.stem[1:].split("_", 1)[0]
        if number.isdigit():
            modules.append((int(number), importlib.import_module(f"scenarios.{path.stem}")))
    return [module for _, module in sorted(modules, key=lambda item: item[0])]


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def parse_args(argv: list[str], allowed: list[int]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="scripts/bench", description="Run the triggerd benchmarks and print one table.")
    parser.add_argument("--smoke", action="store_true",
                        help="one short run per scenario (CI): checks the suite works, "
                             "not how fast")
    parser.add_argument("--runs", type=int, help="measured runs per figure (default 3; smoke 1)")
    parser.add_argument("--duration", type=float,
                        help="seconds per measured run (default 10; smoke 2)")
    parser.add_argument("--warmup", type=float,
                        help="seconds of unmeasured load first (default 2; smoke 0)")
    parser.add_argument("--only", default="", help="scenario ids, comma-separated (e.g. S4)")
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    parser.add_argument("--cpus", default="",
                        help="CPU lists per role, e.g. broker=0,function=1,load=1 "
                             "(several CPUs: 2+3); default " +
                             ", ".join(f"{k}={v}" for k, v in
                                       vars(Placement.default(allowed)).items()))
    parser.add_argument("--build-dir", default="build-bench", help="where the binaries are")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument("--json", metavar="FILE", help="also write every sample to FILE")
    parser.add_argument("--keep-workdir", action="store_true",
                        help="keep the configs and logs of the run (path printed)")
    parser.add_argument("--wait-quiet", type=float, metavar="SECONDS",
                        help="before each run, wait up to SECONDS for the pinned CPUs to "
                             "be idle (other jobs) (default 60; smoke 0)")
    parser.add_argument("--redo", type=int,
                        help="runs that may be measured again because another job took CPU "
                             "time on a pinned CPU meanwhile (default: --runs; smoke 0)")
    parser.add_argument("--perf", metavar="DIR",
                        help="after the measured runs, profile triggerd in one more run with "
                             "perf record; data and a flat report go to DIR")
    parser.add_argument("--max-seconds", type=float,
                        help="time budget of the whole run (default: from runs and durations)")
    args = parser.parse_args(argv)
    args.runs = args.runs if args.runs is not None else (1 if args.smoke else 3)
    args.duration = args.duration if args.duration is not None else (2.0 if args.smoke else 10.0)
    args.warmup = args.warmup if args.warmup is not None else (0.0 if args.smoke else 2.0)
    args.wait_quiet = args.wait_quiet if args.wait_quiet is not None else \
        (0.0 if args.smoke else 60.0)
    args.redo = args.redo if args.redo is not None else (0 if args.smoke else args.runs)
    if args.runs < 1 or args.duration < 1 or args.warmup < 0:
        parser.error("--runs and --duration must be >= 1, --warmup >= 0")
    return args


def built_with_sanitizers(build_dir: Path) -> bool:
    """Whether CMake configured build_dir with TRIGGERD_SANITIZE set."""
    cache = build_dir / "CMakeCache.txt"
    if not cache.is_file():
        return False
    for line in cache.read_text(errors="replace").splitlines():
        if line.startswith("TRIGGERD_SANITIZE:"):
            return line.split("=", 1)[1].strip() != ""
    return False


def main(argv: list[str]) -> int:
    allowed = sorted(os.sched_getaffinity(0))
    nproc = len(allowed)
    args = parse_args(argv, allowed)
    scenarios = discover()
    if args.list:
        for module in scenarios:
            print(f"{module.ID}  {module.TITLE}")
        return 0
    wanted = {s.strip().upper() for s in args.only.split(",") if s.strip()}
    unknown = wanted - {module.ID.upper() for module in scenarios}
    if unknown:
        print(f"unknown scenario(s): {', '.join(sorted(unknown))}; see --list", file=sys.stderr)
        return 2
    if wanted:
        scenarios = [module for module in scenarios if module.ID.upper() in wanted]
    try:
        placement = Placement.parse(args.cpus, allowed)
    except ValueError as error:
        print(error, file=sys.stderr)
        return 2

    root = BENCH_DIR.parent
    build_dir = Path(args.build_dir)
    build_dir = build_dir if build_dir.is_absolute() else root / build_dir
    workdir = Path(tempfile.mkdtemp(prefix="triggerd-bench-"))
    ctx = Context(root=root, build_dir=build_dir, workdir=workdir, smoke=args.smoke,
                  sanitized=built_with_sanitizers(build_dir),
                  runs=args.runs, duration_s=args.duration, warmup_s=args.warmup, cpus=placement,
                  wait_quiet_s=args.wait_quiet, redo_disturbed=args.redo,
                  perf_dir=Path(args.perf).resolve() if args.perf else None)

    # Every loop below is bounded on its own; this is the backstop for the whole run.
    budget = args.max_seconds or (120 + len(scenarios) * (
        args.warmup * 2 + (args.runs + args.redo + (1 if args.perf else 0))
        * (args.wait_quiet + 2 * args.duration + 60) + (300 if args.perf else 0)))

    def on_alarm(_signum, _frame):
        raise BudgetExceeded(f"the run took longer than its budget of {budget:.0f}s")

    def on_term(signum, _frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGALRM, on_alarm)
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)
    signal.alarm(int(budget))

    info = machine.describe(root, build_dir)
    results: list[ScenarioResult] = []
    status = 0
    try:
        if nproc < 2:
            ctx.log(f"warning: fewer than 2 CPUs: every process shares CPU {allowed[0]}; "
                    "the figures do not compare with the documented ones")
        for module in scenarios:
            ctx.log(f"{module.ID}: {module.TITLE}")
            try:
                result = module.run(ctx)
            except Skip as skip:
                result = ScenarioResult(module.ID, module.TITLE, skipped=str(skip))
            except BudgetExceeded:
                raise
            except Exception as error:  # noqa: BLE001: reported, and the next scenario runs
                result = ScenarioResult(module.ID, module.TITLE)
                result.fail(f"{type(error).__name__}: {error}")
                ctx.log(traceback.format_exc().rstrip())
            finally:
                ctx.procs.close()
            results.append(result)
    except BudgetExceeded as error:
        ctx.log(str(error))
        status = 3
    except (KeyboardInterrupt, SystemExit):
        ctx.log("interrupted; stopping what was started")
        ctx.procs.close()
        if not args.keep_workdir:
            remove_tree(workdir)
        return 130
    finally:
        signal.alarm(0)
        ctx.procs.close()

    mode = "smoke (1 short run: checks the suite, not the speed)" if args.smoke else \
        f"{args.runs} runs of {args.duration:.0f}s each after {args.warmup:.0f}s warm-up; " \
        "median and min – max"
    print(f"triggerd benchmarks, {info['date']}")
    print(f"binaries: {info['build']}")
    print(f"machine: nproc {info['nproc']}, CPU {info['cpu']}, {info['memory']} RAM, "
          f"kernel {info['kernel']}, {info['wrk']}")
    print(f"mode: {mode}")
    print("placement (taskset -c; CPUs as /proc/PID/status Cpus_allowed_list shows them):")
    for scenario_id, role, name, cpus in ctx.placements:
        print(f"  {scenario_id}  {role:<8}  {name:<14}  CPU {cpus}")
    print()
    print(report.markdown(results) if args.markdown else report.text(results))
    failed = [r for r in results if r.failures]
    for result in results:
        for note in result.notes:
            print(f"{result.id}: note: {note}")
        for failure in result.failures:
            print(f"{result.id}: FAILED: {failure}")
    if args.json:
        Path(args.json).write_text(json.dumps(
            {"machine": info, "mode": mode, "placement": ctx.placements,
             "results": [r.to_json() for r in results]}, indent=2) + "\n")
    if status == 0 and (failed or len(results) < len(scenarios)):
        status = 1
    if args.keep_workdir or status != 0:
        print(f"configs and logs kept in {workdir}")
    else:
        remove_tree(workdir)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
