"""Shared pieces of the browser tests: Debian's chromium driven by Playwright (design.md §7).

Set ``PQA_SCREENSHOTS=/some/dir`` to save a screenshot of each step that calls ``shot``.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]
TITLE = "教育政策文件问答与检索"

MARKS = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(),
                       reason="Debian chromium not installed at /usr/bin/chromium (apt-get install -y chromium)"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch_browser():
    """Yields a launched headless chromium (use from a fixture)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def open_page(browser, url: str, height: int = 800):
    """Yields a page on ``url`` once the app's title shows; dialogs are recorded in
    ``page.dialogs`` and dismissed (a hostile document must never open one)."""
    ctx = browser.new_context(viewport={"width": 1280, "height": height}, locale="zh-CN")
    pg = ctx.new_page()
    pg.set_default_timeout(15_000)
    dialogs: list[str] = []
    pg.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    pg.dialogs = dialogs
    pg.goto(url)
    pg.get_by_text(TITLE).wait_for()
    yield pg
    ctx.close()


def shot(page, name: str) -> None:
    folder = os.environ.get("PQA_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).click()
