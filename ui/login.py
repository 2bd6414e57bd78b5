"""Failed logins slow down per client address, so a chat exposed with a password resists guessing.

Gradio checks the password but never throttles its login route, and its auth callback is not
told who is asking: this ASGI middleware sits in front of that route and counts per address.
Rate limiters (slowapi and its kind) count requests, not failures in a row, which is what tells
guessing from use.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

# A user who mistypes a few times is never slowed down.
FREE_FAILURES = 5
# Then each failure locks the address out twice as long as the one before, up to the longest.
FIRST_LOCKOUT_S = 1.0
LONGEST_LOCKOUT_S = 300.0
# Addresses remembered at most; past it the oldest are forgotten (an attack from many addresses).
_MOST_ADDRESSES = 10_000


class LoginThrottle:
    """ASGI middleware: after FREE_FAILURES failed logins in a row from one address, its next
    login attempts get 429 with Retry-After until its lockout ends; a good login clears the count."""

    def __init__(self, app, clock: Callable[[], float] = time.monotonic):
        self.app = app
        self.clock = clock
        self._failures: dict[str, tuple[int, float]] = {}  # address -> (failures in a row, locked until)
        self._lock = threading.Lock()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "POST" or not scope["path"].rstrip("/").endswith("/login"):
            await self.app(scope, receive, send)
            return
        address = (scope.get("client") or ("unknown",))[0]
        wait = self.lockout_left(address)
        if wait > 0:
            await _too_many(send, math.ceil(wait))
            return
        status: list[int] = []

        async def noting_status(message):
            if message["type"] == "http.response.start":
                status.append(message["status"])
            await send(message)

        await self.app(scope, receive, noting_status)
        if status:
            self.record(address, succeeded=status[0] < 400)

    def lockout_left(self, address: str) -> float:
        """Seconds until `address` may try to log in again (0 when it may now)."""
        with self._lock:
            _, until = self._failures.get(address, (0, 0.0))
        return max(0.0, until - self.clock())

    def record(self, address: str, succeeded: bool) -> None:
        """Count a login attempt's outcome for `address`."""
        with self._lock:
            if succeeded:
                self._failures.pop(address, None)
                return
            failures = self._failures.pop(address, (0, 0.0))[0] + 1
            locked = failures >= FREE_FAILURES
            lockout = min(LONGEST_LOCKOUT_S, FIRST_LOCKOUT_S * 2 ** (failures - FREE_FAILURES)) if locked else 0.0
            self._failures[address] = (failures, self.clock() + lockout)
            while len(self._failures) > _MOST_ADDRESSES:  # dicts keep insertion order: the oldest go first
                self._failures.pop(next(iter(self._failures)))


async def _too_many(send, retry_after: int) -> None:
    body = (b'{"detail": "Too many failed logins from this address: try again in %d s."}' % retry_after)
    await send({"type": "http.response.start", "status": 429,
                "headers": [(b"content-type", b"application/json"), (b"retry-after", str(retry_after).encode()),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
