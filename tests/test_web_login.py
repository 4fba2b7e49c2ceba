"""The limit on failed logins: the counter alone (a fake clock), then a real server on loopback."""

from __future__ import annotations

import socket
import time

import httpx
import pytest

from policyqa import web
from policyqa.config import Settings
from tests.fake_engine import FakeEngine


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_failed_logins_refuse_after_the_limit_until_the_window_passes():
    clock = Clock()
    logins = web.FailedLogins(attempts=5, window_seconds=60, clock=clock)
    for _ in range(4):
        logins.failed("10.0.0.1")
        clock.now += 1
    assert logins.retry_after("10.0.0.1") == 0
    logins.failed("10.0.0.1")
    assert logins.retry_after("10.0.0.1") == pytest.approx(56)  # the first failure ages out at 1060
    assert logins.retry_after("10.0.0.2") == 0  # per address
    clock.now = 1060.5
    assert logins.retry_after("10.0.0.1") == 0  # four failures left in the window …
    logins.failed("10.0.0.1")
    assert logins.retry_after("10.0.0.1") == pytest.approx(0.5)  # … and a fifth refuses again
    logins.succeeded("10.0.0.1")
    for _ in range(4):
        logins.failed("10.0.0.1")
    assert logins.retry_after("10.0.0.1") == 0  # a success started the count again


def test_addresses_without_recent_failures_are_forgotten():
    clock = Clock()
    logins = web.FailedLogins(attempts=2, window_seconds=10, clock=clock)
    for n in range(100):
        logins.failed(f"10.0.1.{n}")
    clock.now += 11
    logins.failed("10.0.2.1")
    assert set(logins._failures) == {"10.0.2.1"}


def test_messages_say_the_rule_and_the_wait():
    logins = web.FailedLogins(attempts=5, window_seconds=60)
    assert "5 次" in web.login_message(logins) and "60 秒" in web.login_message(logins)
    assert web.refusal_message(12.2, logins) == "登录失败次数过多：60 秒内失败 5 次，请 13 秒后再试。"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server():
    """(url, app, the counter): the page with a login, 3 failures allowed per 2 seconds."""
    settings = Settings(model="hash:256", port=_free_port(), auth="clerk:s3cret")
    logins = web.FailedLogins(attempts=3, window_seconds=2.0)
    app = web.build_app(FakeEngine())
    web.launch(app, settings, logins=logins, prevent_thread_lock=True, quiet=True, ssr_mode=False)
    yield f"http://127.0.0.1:{settings.port}", app, logins
    app.close()


def _login(url: str, password: str) -> httpx.Response:
    return httpx.post(f"{url}/login", data={"username": "clerk", "password": password}, timeout=10)


def test_real_server_refuses_an_address_after_failed_logins(server):
    url, app, logins = server
    assert any(m.cls is web.LoginRateLimit for m in app.server_app.user_middleware)
    assert app.auth_message == web.login_message(logins)  # the rule is on the login form
    assert httpx.get(f"{url}/config", timeout=10).status_code == 401  # the page needs the login
    for _ in range(3):
        assert _login(url, "wrong").status_code == 400
    refused = _login(url, "wrong")
    assert refused.status_code == 429
    assert "登录失败次数过多" in refused.json()["detail"]
    assert 1 <= int(refused.headers["Retry-After"]) <= 2
    assert _login(url, "s3cret").status_code == 429  # even the right password, while refused
    time.sleep(float(refused.headers["Retry-After"]) + 0.2)
    ok = _login(url, "s3cret")
    assert ok.status_code == 200 and ok.json() == {"success": True}
    for _ in range(3):  # the success cleared the count
        assert _login(url, "wrong").status_code == 400
    assert _login(url, "wrong").status_code == 429


def test_without_a_login_nothing_is_limited():
    settings = Settings(model="hash:256", port=_free_port())
    app = web.build_app(FakeEngine())
    web.launch(app, settings, prevent_thread_lock=True, quiet=True, ssr_mode=False)
    try:
        url = f"http://127.0.0.1:{settings.port}"
        assert httpx.get(f"{url}/config", timeout=10).status_code == 200
        assert not any(m.cls is web.LoginRateLimit for m in app.server_app.user_middleware)
    finally:
        app.close()
