"""Redis for the stream scenarios (S1, S3, S6): a private redis-server pinned like any other
process, a minimal RESP client (PING, DEL, pipelined XADDs), and their one-trigger config.
"""
from __future__ import annotations

import contextlib
import shutil
import socket
import time
from dataclasses import dataclass
from typing import Iterator

from .procs import Child, wait_until
from .results import Skip
from .triggerd import config_head

XADD_BATCH = 1000


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def resp(*args: bytes) -> bytes:
    """One command in RESP (an array of bulk strings)."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        out.append(b"$%d\r\n%s\r\n" % (len(arg), arg))
    return b"".join(out)


def stream_trigger_config(redis_port: int, function_url: str, in_flight: int, trigger: str,
                          stream: str, count: int, batch_events: int = 0) -> str:
    """A config with one redis-stream trigger reading `stream` from its start (`count` per
    read) into the stub, `in_flight` requests at a time (S1, S3, S6). `batch_events` > 0:
    batched delivery, up to that many events per request (delivery.batch, max_wait 100ms,
    max_bytes 1MiB), and `in_flight` batches under way: max_inflight, which counts events,
    is in_flight * batch_events."""
    connection = f"  redis:\n    type: redis\n    address: 127.0.0.1:{redis_port}\n"
    batch = ""
    max_inflight = in_flight
    if batch_events > 0:
        max_inflight = in_flight * batch_events
        batch = (f"      batch: {{max_events: {batch_events}, max_wait: 100ms, "
                 "max_bytes: 1MiB}\n")
    return config_head(function_url, in_flight, connection) + f"""\
triggers:
  {trigger}:
    function: stub
    source:
      type: redis-stream
      connection: redis
      stream: "{stream}"
      group: triggerd
      start: "0"
      count: {count}
    delivery:
      max_inflight: {max_inflight}
""" + batch


class RedisClient:
    """One socket, replies of known shape only: enough for PING, DEL and pipelined XADDs."""

    def __init__(self, port: int, timeout: float = 10.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)

    def close(self) -> None:
        self.sock.close()

    def _read_lines(self, lines: int) -> bytes:
        buf = bytearray()
        found = 0
        while found < lines:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise RuntimeError("redis closed the connection")
            # Counted per chunk, plus one for a CRLF split across two chunks.
            found += chunk.count(b"\r\n") + (1 if buf.endswith(b"\r") and chunk[:1] == b"\n"
                                              else 0)
            buf += chunk
        return bytes(buf)

    def simple(self, *args: bytes) -> bytes:
        """A command whose reply is one line (+OK, :N, -ERR)."""
        self.sock.sendall(resp(*args))
        reply = self._read_lines(1)
        if reply.startswith(b"-"):
            raise RuntimeError(f"redis: {reply.decode(errors='replace').strip()}")
        return reply

    def fill(self, stream: bytes, data: bytes, count: int) -> None:
        """XADD stream * data DATA, `count` times, pipelined in batches."""
        command = resp(b"XADD", stream, b"*", b"data", data)
        left = count
        while left > 0:
            batch = min(XADD_BATCH, left)
            self.sock.sendall(command * batch)
            reply = self._read_lines(2 * batch)  # each reply: $N CRLF id CRLF
            if reply.startswith(b"-") or b"\r\n-" in reply:
                raise RuntimeError(f"redis refused an XADD: {reply[:200]!r}")
            left -= batch

    def refill(self, stream: str, data: bytes, count: int) -> None:
        """The stream deleted and filled again with `count` entries of `data`."""
        self.simple(b"DEL", stream.encode())
        self.fill(stream.encode(), data, count)


@dataclass
class Redis:
    child: Child
    port: int
    client: RedisClient

    @property
    def pid(self) -> int:
        return self.child.pid


def fill_stream(ctx, label: str, client: RedisClient, stream: str, data: bytes,
                count: int) -> None:
    """RedisClient.refill, before anything is measured, saying how long it took."""
    ctx.log(f"{label}: filling the stream with {count} entries of {len(data)} B")
    started = time.monotonic()
    client.refill(stream, data, count)
    ctx.log(f"{label}: filled in {time.monotonic() - started:.1f}s")


@contextlib.contextmanager
def start_redis(ctx, scenario_id: str, name: str) -> Iterator[Redis]:
    """A redis-server on a free 127.0.0.1 port, without persistence, pinned to the load CPU
    (it stands in for the producers), its files in the run's scratch directory, and a client
    connected to it (closed when the block ends; the server stops with the scenario's other
    processes). Raises Skip when redis-server is not installed."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise Skip("redis-server is not installed (apt-get install redis-server)")
    directory = ctx.workdir / name
    directory.mkdir(exist_ok=True)
    port = free_port()
    child = ctx.procs.start(
        "redis-server", [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "",
                         "--appendonly", "no", "--dir", str(directory), "--protected-mode", "yes",
                         "--loglevel", "warning"],
        ctx.cpus.load, ctx.workdir / f"{name}.log")
    ctx.placed(scenario_id, "load", "redis-server", child)

    def up():
        if not child.alive():
            raise RuntimeError(f"redis-server exited early:\n{child.log_text()}")
        try:
            return RedisClient(port, timeout=2)
        except OSError:
            return None

    client: RedisClient = wait_until(up, timeout=10, what="redis-server to accept connections")
    try:
        client.sock.settimeout(30)
        client.simple(b"PING")
        yield Redis(child, port, client)
    finally:
        client.close()
