"""The event body every throughput scenario sends."""
from __future__ import annotations


def make_body(size: int) -> bytes:
    """A JSON object of exactly `size` bytes, without a newline (kcat -P splits on them), the
    same in every run."""
    head, tail = b'{"order":12345,"note":"', b'"}'
    filler = b"abcdefghijklmnopqrstuvwxyz0123456789" * (size // 36 + 1)
    return head + filler[: size - len(head) - len(tail)] + tail
