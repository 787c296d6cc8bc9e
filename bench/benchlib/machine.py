"""What the figures were measured on."""
from __future__ import annotations

import datetime
import os
import platform
import shutil
import subprocess
from pathlib import Path


def _cpuinfo_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _mem_total_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return 0.0


def _command(argv: list[str], cwd: Path | None = None) -> str:
    if shutil.which(argv[0]) is None:
        return "not installed"
    try:
        done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    lines = (done.stdout or done.stderr).strip().splitlines()
    return lines[0] if lines else ""


def _source_dir(build_dir: Path) -> Path | None:
    """The source tree a CMake build directory was configured from."""
    try:
        for line in (build_dir / "CMakeCache.txt").read_text().splitlines():
            if line.startswith("CMAKE_HOME_DIRECTORY:"):
                return Path(line.split("=", 1)[1])
    except OSError:
        pass
    return None


def _commit(tree: Path) -> str:
    commit = _command(["git", "-C", str(tree), "rev-parse", "--short", "HEAD"])
    if not commit or commit.startswith(("fatal", "unknown", "not installed")):
        return "unknown (not a git checkout)"
    dirty = _command(["git", "-C", str(tree), "status", "--porcelain", "--untracked-files=no"])
    if dirty not in ("", "unknown", "not installed"):
        commit += " with uncommitted changes"
    return commit


def describe(root: Path, build_dir: Path) -> dict[str, str]:
    source = _source_dir(build_dir) or root
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": str(len(os.sched_getaffinity(0))),
        "cpu": _cpuinfo_model(),
        "memory": f"{_mem_total_gib():.1f} GiB",
        "kernel": platform.release(),
        "build": f"{build_dir} (Release; sources {source}, commit {_commit(source)})",
        "wrk": _command(["wrk", "--version"]).split(" [")[0],
    }
