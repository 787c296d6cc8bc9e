"""The function stub (tests/function_stub) as the function under load."""
from __future__ import annotations

from pathlib import Path

from . import http
from .procs import Child, ProcessSet, wait_until


class FunctionStub:
    def __init__(self, procs: ProcessSet, binary: Path, workdir: Path, cpus: str,
                 threads: int = 1, status: int = 200, delay_ms: int = 0, name: str = "stub",
                 latency_from: str | None = None, port: int = 0, tls: bool = False):
        self.workdir = workdir
        port_file = workdir / f"{name}.port"
        port_file.unlink(missing_ok=True)
        # port 0: any free port; a fixed one for a function that a scenario brings up and down.
        argv = [str(binary), "--listen", f"127.0.0.1:{port}", "--threads", str(threads),
                "--status", str(status), "--delay-ms", str(delay_ms),
                "--port-file", str(port_file)]
        if latency_from:   # "ce-time" or "json:FIELD": see latency()
            argv += ["--latency-from", latency_from]
        # HTTPS with a certificate for 127.0.0.1 from a test CA made at start: ca_file is the
        # CA's certificate, for triggerd's tls.ca_file.
        self.ca_file: str | None = None
        if tls:
            tls_dir = workdir / f"{name}-tls"
            tls_dir.mkdir(exist_ok=True)
            argv += ["--tls-self-signed", str(tls_dir)]
            self.ca_file = str(tls_dir / "ca.pem")
        self.child: Child = procs.start("function_stub", argv, cpus, workdir / f"{name}.log")

        def port():
            if not self.child.alive():
                raise RuntimeError(f"function_stub exited early:\n{self.child.log_text()}")
            text = port_file.read_text().strip() if port_file.exists() else ""
            return int(text) if text.isdigit() and int(text) > 0 else None

        self.port: int = wait_until(port, timeout=10, what="function_stub's port file")
        self.base = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.child.pid

    def url(self, path: str = "/bench") -> str:
        return self.base + path

    def stats(self) -> dict:
        """{"requests", "max_concurrent", "current_concurrent", "connections"} since the last
        reset. The stats and reset requests themselves are not counted."""
        return http.get_json(self.base + "/_stub/stats", cafile=self.ca_file)

    def requests(self) -> int:
        return int(self.stats()["requests"])

    def latency(self) -> dict:
        """With latency_from set: {"count", "unparsed", "min_us", "p50_us", "p90_us", "p99_us",
        "p999_us", "max_us", "mean_us"} since the last reset, receive time minus the event's
        start in microseconds (the figures are None while count is 0)."""
        return http.get_json(self.base + "/_stub/latency", cafile=self.ca_file)

    def reset(self) -> None:
        http.post(self.base + "/_stub/reset", cafile=self.ca_file)
