"""AMI framing for the server side: headers in, bytes out. No I/O."""

from __future__ import annotations

import time
from dataclasses import dataclass

BANNER = b"Asterisk Call Manager/11.0.0\r\n"

Headers = list[tuple[str, str]]


def encode(headers: Headers) -> bytes:
    """One AMI message: ``Key: value`` lines ending in a blank line."""
    return ("".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n").encode()


def timestamp(now: float | None = None) -> str:
    """Asterisk's ``<epoch>.<usec>`` timestamp."""
    return f"{time.time() if now is None else now:.6f}"


@dataclass(frozen=True, slots=True)
class Request:
    """One action sent by a client; headers keep their order and repeats (``Variable:``)."""

    headers: tuple[tuple[str, str], ...]

    @property
    def action(self) -> str:
        return self.get("Action")

    @property
    def action_id(self) -> str | None:
        for key, value in self.headers:
            if key.lower() == "actionid":
                return value
        return None

    def get(self, name: str, default: str = "") -> str:
        lname = name.lower()
        for key, value in self.headers:
            if key.lower() == lname:
                return value
        return default

    def has(self, name: str) -> bool:
        lname = name.lower()
        return any(key.lower() == lname for key, _ in self.headers)

    def get_all(self, name: str) -> list[str]:
        lname = name.lower()
        return [value for key, value in self.headers if key.lower() == lname]


def parse_requests(buffer: bytes) -> tuple[list[Request], bytes]:
    """Split a client byte stream into requests; return the unfinished tail."""
    requests: list[Request] = []
    text = buffer.replace(b"\r\n", b"\n")
    *blocks, tail = text.split(b"\n\n")
    for block in blocks:
        lines = [line for line in block.decode("utf-8", "replace").split("\n") if line.strip()]
        if not lines:
            continue
        headers: list[tuple[str, str]] = []
        for line in lines:
            key, sep, value = line.partition(":")
            if sep:
                headers.append((key.strip(), value.strip()))
        requests.append(Request(tuple(headers)))
    return requests, tail.replace(b"\n", b"\r\n")
