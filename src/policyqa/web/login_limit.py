"""A limit on failed logins per client address, for a page served with ``--auth``.

Gradio checks the password itself (``POST /login``) and has no limit of its own, so the limit
is an ASGI middleware in front of that route (``launch`` passes it to the FastAPI app through
``app_kwargs``): after ``attempts`` failed logins within ``window_seconds`` an address is
refused, correct password or not, with HTTP 429, a ``Retry-After`` header and a Chinese message,
until its oldest failure in the window has aged out. A successful login clears its count.

The client address is the connection's: behind a reverse proxy every client shares the proxy's
address, so there the proxy should limit logins itself (nginx ``limit_req`` on ``/login``).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from starlette.responses import JSONResponse

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict]]
Send = Callable[[dict], Awaitable[None]]


@dataclass
class FailedLogins:
    """Times of recent failed logins per client address (thread-safe)."""

    attempts: int = 5
    window_seconds: float = 60.0
    clock: Callable[[], float] = time.monotonic
    _failures: dict[str, deque[float]] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def retry_after(self, client: str) -> float:
        """Seconds until ``client`` may try again (0: it may now)."""
        with self._lock:
            times = self._recent(client)
            if len(times) < self.attempts:
                return 0.0
            return max(times[0] + self.window_seconds - self.clock(), 0.0)

    def failed(self, client: str) -> None:
        with self._lock:
            self._forget_stale()
            self._failures.setdefault(client, deque()).append(self.clock())

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._failures.pop(client, None)

    def _recent(self, client: str) -> deque[float]:
        times = self._failures.get(client, deque())
        cutoff = self.clock() - self.window_seconds
        while times and times[0] <= cutoff:
            times.popleft()
        return times

    def _forget_stale(self) -> None:
        """Drop addresses with no failure left in the window (many addresses, one try each)."""
        for client in [c for c in self._failures if not self._recent(c)]:
            del self._failures[client]


def refusal_message(seconds: float, limit: FailedLogins) -> str:
    return (f"登录失败次数过多：{limit.window_seconds:g} 秒内失败 {limit.attempts} 次，"
            f"请 {math.ceil(seconds)} 秒后再试。")


def is_login(scope: Scope) -> bool:
    return scope.get("type") == "http" and scope.get("method") == "POST" \
        and str(scope.get("path", "")).rstrip("/").endswith("/login")


class LoginRateLimit:
    """ASGI middleware: counts ``POST /login`` answers of 400 (wrong user or password) per
    client address and refuses the address once it has too many (see the module docstring)."""

    def __init__(self, app: Callable, failures: FailedLogins) -> None:
        self.app = app
        self.failures = failures

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not is_login(scope):
            await self.app(scope, receive, send)
            return
        client = (scope.get("client") or ("unknown", 0))[0]
        wait = self.failures.retry_after(client)
        if wait > 0:
            response = JSONResponse({"detail": refusal_message(wait, self.failures)}, status_code=429,
                                    headers={"Retry-After": str(math.ceil(wait))})
            await response(scope, receive, send)
            return
        status: list[int] = []

        async def send_and_record(message: dict) -> None:
            if message["type"] == "http.response.start":
                status.append(int(message["status"]))
            await send(message)

        await self.app(scope, receive, send_and_record)
        if status and status[0] == 400:
            self.failures.failed(client)
        elif status and status[0] == 200:
            self.failures.succeeded(client)


def login_message(limit: FailedLogins) -> str:
    """Shown on the login form, which shows nothing of a 429 itself."""
    return (f"连续登录失败 {limit.attempts} 次后，最多需等待 {limit.window_seconds:g} 秒才能再次登录"
            "（此时即使密码正确也会被拒绝）。")
