"""Small HTTP calls to 127.0.0.1 (stats, metrics), each with a timeout. An https:// url is
checked against `cafile` (a test CA's certificate) when one is given."""
from __future__ import annotations

import json
import ssl
import urllib.request

TIMEOUT_S = 5.0


def _context(cafile: str | None) -> ssl.SSLContext | None:
    return ssl.create_default_context(cafile=cafile) if cafile else None


def get(url: str, timeout: float = TIMEOUT_S, cafile: str | None = None) -> str:
    with urllib.request.urlopen(url, timeout=timeout, context=_context(cafile)) as response:
        return response.read().decode()


def post(url: str, body: bytes = b"", timeout: float = TIMEOUT_S,
         cafile: str | None = None) -> str:
    request = urllib.request.Request(url, data=body, method="POST")
    with urllib.request.urlopen(request, timeout=timeout, context=_context(cafile)) as response:
        return response.read().decode()


def get_json(url: str, timeout: float = TIMEOUT_S, cafile: str | None = None):
    return json.loads(get(url, timeout, cafile))
