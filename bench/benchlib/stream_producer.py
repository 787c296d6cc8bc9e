#!/usr/bin/env python3
"""An open-loop Redis stream producer for latency scenarios (S6): XADDs entries at a fixed rate
on a precise schedule, whatever happens downstream, each entry stamped with the time it is sent.

    stream_producer.py --port P --stream S --rate 20000 --seconds 12 [--body-bytes 1024]
                       [--field sent_us] [--tick-ms 0.5]

Each entry has one field `data`: a JSON object of --body-bytes bytes that starts with
{"FIELD":MICROSECONDS_SINCE_THE_EPOCH, taken from the system clock just before the entry is
written to the socket (the function stub's --latency-from json:FIELD reads it back).

The schedule: entry k is due at start + k / rate. The loop wakes at most every --tick-ms, writes
every entry that is due by then in one send (a pipeline: XADD replies are read every 10 ms
without waiting for them), and sleeps until the next one is due. One write costs about 50 us
of CPU, most of it the kernel's loopback TCP: at 18 000 entries/s a tick of 0.5 ms (batches of
about 10) costs about 0.12 cores, 0.2 ms about 0.19. Entries are never sent early; when the
process falls behind (descheduled), it catches up with a larger batch, and since the stamp is
the send time, its own lateness is not counted as latency downstream. How late it ever was is
reported (max_behind_ms).

Prints one line at the end: PRODUCER_JSON {"sent", "seconds", "rate", "batches",
"max_batch", "max_behind_ms", "replies", "errors", "cpu_s"}. Exit status 0, or 1 when Redis
refused an XADD or did not answer them all.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import socket
import sys
import time

STAMP_DIGITS = 16  # microseconds since the epoch: 16 digits until the year 2286
DRAIN_INTERVAL_S = 0.01  # XADD replies pile up in the socket for at most this long (~5 KB)


def build_entry(stream: bytes, field: bytes, body_bytes: int) -> tuple[bytes, bytes]:
    """The XADD command of one entry, split around its stamp: (before, after)."""
    head = b'{"' + field + b'":'
    tail_head, tail_end = b',"note":"', b'"}'
    fixed = len(head) + STAMP_DIGITS + len(tail_head) + len(tail_end)
    if body_bytes < fixed:
        raise SystemExit(f"--body-bytes must be at least {fixed}")
    filler = (b"abcdefghijklmnopqrstuvwxyz0123456789" * (body_bytes // 36 + 1))
    tail = tail_head + filler[: body_bytes - fixed] + tail_end
    command_head = b"*5\r\n$4\r\nXADD\r\n$%d\r\n%s\r\n$1\r\n*\r\n$4\r\ndata\r\n$%d\r\n" % (
        len(stream), stream, body_bytes)
    return command_head + head, tail + b"\r\n"


class Replies:
    """Counts XADD replies ($N CRLF id CRLF, or -ERR CRLF) without parsing them."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.lines = 0
        self.errors = 0
        # The last two bytes seen, so that a CRLF or an error line split across two reads
        # counts once; a CRLF at first, so that an error as the very first reply counts.
        self.tail = b"\r\n"

    def _take(self, chunk: bytes) -> None:
        joined = self.tail + chunk
        self.lines += joined.count(b"\r\n") - (1 if self.tail == b"\r\n" else 0)
        self.errors += joined.count(b"\r\n-")  # error replies are lines starting with -
        self.tail = joined[-2:]

    def drain(self) -> None:
        """Whatever arrived, without waiting."""
        while True:
            try:
                chunk = self.sock.recv(1 << 20, socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                return
            if not chunk:
                raise RuntimeError("redis closed the connection")
            self._take(chunk)

    def wait_for(self, replies: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.count < replies:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(1 << 20)
            except socket.timeout:
                return False
            if not chunk:
                return False
            self._take(chunk)
        return True

    @property
    def count(self) -> int:
        # A successful reply is two lines, an error one: close enough for a check that
        # expects no errors at all.
        return (self.lines - self.errors) // 2 + self.errors


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--stream", required=True)
    parser.add_argument("--rate", type=float, required=True, help="entries per second")
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--body-bytes", type=int, default=1024)
    parser.add_argument("--field", default="sent_us")
    parser.add_argument("--tick-ms", type=float, default=0.5,
                        help="shortest time between two writes (default 0.5 ms)")
    args = parser.parse_args()

    before, after = build_entry(args.stream.encode(), args.field.encode(), args.body_bytes)
    sock = socket.create_connection(("127.0.0.1", args.port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.settimeout(None)  # blocking sends; drain() reads with MSG_DONTWAIT
    replies = Replies(sock)
    tick = args.tick_ms / 1000.0
    rate = args.rate
    total = int(rate * args.seconds)

    sent = batches = max_batch = 0
    max_behind = 0.0
    start = time.monotonic() + 0.01
    next_drain = start
    monotonic, time_ns, sleep = time.monotonic, time.time_ns, time.sleep
    while sent < total:
        now = monotonic()
        due = min(total, math.floor((now - start) * rate) + 1) - sent  # due at or before now
        if due > 0:
            stamp = b"%016d" % (time_ns() // 1000)
            sock.sendall((before + stamp + after) * due)
            behind = now - (start + sent / rate)  # the first of them was due this long ago
            max_behind = max(max_behind, behind)
            sent += due
            batches += 1
            max_batch = max(max_batch, due)
            if now >= next_drain:  # not per batch: a syscall saved; the replies just wait
                replies.drain()
                next_drain = now + DRAIN_INTERVAL_S
        # Wake when the next entry is due, but not before a tick has passed since this wake:
        # fewer, larger writes (each costs ~50 us of CPU, most of it the kernel's loopback TCP).
        wait = max(start + sent / rate, now + tick) - monotonic()
        if wait > 0:
            sleep(wait)
    elapsed = monotonic() - start
    complete = replies.wait_for(sent, timeout=30)
    usage = os.times()
    summary = {"sent": sent, "seconds": elapsed, "rate": sent / elapsed if elapsed > 0 else 0,
               "batches": batches, "max_batch": max_batch,
               "max_behind_ms": max_behind * 1000.0, "replies": replies.count,
               "errors": replies.errors, "cpu_s": usage.user + usage.system}
    print("PRODUCER_JSON " + json.dumps(summary), flush=True)
    return 0 if complete and replies.errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
