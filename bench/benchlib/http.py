"""Small HTTP calls to 127.0.0.1 (stats, metrics), each with a timeout."""
from __future__ import annotations

import json
import urllib.request

TIMEOUT_S = 5.0


def get(url: str, timeout: float = TIMEOUT_S) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read().decode()


def post(url: str, body: bytes = b"", timeout: float = TIMEOUT_S) -> str:
    request = urllib.request.Request(url, data=body, method="POST")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.read().decode()


def get_json(url: str, timeout: float = TIMEOUT_S):
    return json.loads(get(url, timeout))
