"""triggerd under test: a config written per run, ports read from the start-up log, counters
read from /metrics, CPU time and peak RSS read from /proc."""
from __future__ import annotations

import re
import time
from pathlib import Path

from . import http
from .procs import Child, ProcessSet, cpu_seconds, status_kib, wait_until

# Both listeners bind port 0; the start-up log says where they ended up. The patterns accept
# "webhook ingress listening on H:P" and "admin API on H:P" / "admin server listening on H:P".
_WEBHOOK_RE = re.compile(r"webhook ingress (?:listening )?on (\S+):(\d+)")
_ADMIN_RE = re.compile(r"admin (?:API|server listening) on (\S+):(\d+)")
_SCALER_RE = re.compile(r"KEDA scaler listening on (\S+):(\d+)")
_SAMPLE_RE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)")
_LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def config_head(function_url: str, max_concurrency: int, connections: str = "",
                server_extra: str = "") -> str:
    """What every scenario's config starts with: both listeners on free loopback ports, info
    logs, `connections` (YAML lines under `connections:`, indented two spaces; none when empty)
    and one function `stub` at `function_url`. `server_extra`: more YAML lines of `server:`,
    indented two spaces. The scenario appends its `triggers:` section."""
    head = ("server:\n  listen: 127.0.0.1:0\n  admin_listen: 127.0.0.1:0\n"
            "  shutdown_timeout: 10s\n" + server_extra + "log:\n  level: info\n")
    if connections:
        head += "connections:\n" + connections
    return head + (f"functions:\n  stub:\n    url: {function_url}\n    timeout: 10s\n"
                   f"    max_concurrency: {max_concurrency}\n")


def parse_metrics(text: str) -> list[tuple[str, dict[str, str], float]]:
    """Prometheus text format 0.0.4 samples as (name, labels, value)."""
    samples = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE_RE.match(line)
        if not match:
            continue
        labels = dict(_LABEL_RE.findall(match.group(2) or ""))
        samples.append((match.group(1), labels, float(match.group(3))))
    return samples


class Triggerd:
    def __init__(self, procs: ProcessSet, binary: Path, workdir: Path, cpus: str,
                 config_yaml: str, name: str = "triggerd", start_timeout: float = 20.0):
        self.procs = procs
        self.config_path = workdir / f"{name}.yaml"
        self.config_path.write_text(config_yaml)
        self.child: Child = procs.start(
            "triggerd", [str(binary), "run", "-c", str(self.config_path)], cpus,
            workdir / f"{name}.log")

        def ports():
            if not self.child.alive():
                raise RuntimeError(f"triggerd exited early ({self.child.popen.returncode}):\n"
                                   f"{self.child.log_text()}")
            log = self.child.log_text()
            admin = _ADMIN_RE.search(log)
            webhook = _WEBHOOK_RE.search(log)
            # A config without http triggers has no ingress; the admin line comes last.
            return (admin, webhook) if admin else None

        admin, webhook = wait_until(ports, timeout=start_timeout, what="triggerd's start-up log")
        self.admin_base = f"http://127.0.0.1:{admin.group(2)}"
        self.webhook_base = f"http://127.0.0.1:{webhook.group(2)}" if webhook else None
        # With server.scaler_listen: the KEDA scaler's gRPC address (it starts before the
        # admin line is written).
        scaler = _SCALER_RE.search(self.child.log_text())
        self.scaler_address = f"127.0.0.1:{scaler.group(2)}" if scaler else None
        wait_until(self._ready, timeout=start_timeout, what="triggerd /readyz")

    def _ready(self) -> bool:
        try:
            http.get(self.admin_base + "/readyz", timeout=2)
            return True
        except OSError:
            return False

    @property
    def pid(self) -> int:
        return self.child.pid

    def webhook_url(self, path: str) -> str:
        if self.webhook_base is None:
            raise RuntimeError("this triggerd has no webhook ingress (no http trigger)")
        return self.webhook_base + path

    def metrics(self) -> list[tuple[str, dict[str, str], float]]:
        return parse_metrics(http.get(self.admin_base + "/metrics"))

    def metric(self, name: str, **labels: str) -> float:
        """Sum of the samples of `name` whose labels include `labels`."""
        return sum(value for sample_name, sample_labels, value in self.metrics()
                   if sample_name == name
                   and all(sample_labels.get(k) == v for k, v in labels.items()))

    def wait_idle(self, trigger: str, timeout: float = 30.0) -> None:
        """Waits until the trigger has no event in flight."""
        wait_until(lambda: self.metric("triggerd_inflight_events", trigger=trigger) == 0,
                   timeout=timeout, interval=0.1, what=f"trigger {trigger} to finish its events")

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)

    def peak_rss_mib(self) -> float:
        return status_kib(self.pid, "VmHWM") / 1024.0

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM (graceful drain); returns the exit status."""
        started = time.monotonic()
        status = self.procs.stop(self.child, timeout=timeout)
        self.stop_seconds = time.monotonic() - started
        return status
