"""Shared pieces of the browser tests: Debian's chromium driven by Playwright (design.md §7).

Without chromium, a CJK font or Playwright these tests fail, saying what to install; set
``POLICYQA_SKIP_BROWSER=1`` to skip them instead (the reason is shown in the warnings summary).

``shot(page, name, tab)`` saves a full-page screenshot to ``tests/artifacts/screenshots/``
(or ``$PQA_SCREENSHOTS``), kept by CI as artefacts, and fails when the shown tab is blank.
"""

from __future__ import annotations

import importlib.util
import io
import os
import shutil
import socket
import subprocess
import warnings
from pathlib import Path

import pytest
from PIL import Image

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]
TITLE = "教育政策文件问答与检索"
SKIP_ENV = "POLICYQA_SKIP_BROWSER"
SCREENSHOTS = Path(__file__).resolve().parent / "artifacts" / "screenshots"
INSTALL = "apt-get install -y chromium fonts-noto-cjk"

MARKS = [pytest.mark.browser]


def has_cjk_font() -> bool:
    """Whether fontconfig knows a font with Chinese glyphs (else Chromium draws boxes)."""
    if shutil.which("fc-list") is None:
        return False
    out = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True, check=False).stdout
    return bool(out.strip())


def missing() -> list[str]:
    """What the browser tests need and this machine lacks, each with how to get it."""
    out = []
    if not Path(CHROMIUM).exists():
        out.append(f"Debian's chromium at {CHROMIUM} ({INSTALL})")
    if not has_cjk_font():
        out.append(f"a CJK font, or every Chinese character renders as a box ({INSTALL})")
    if importlib.util.find_spec("playwright") is None:
        out.append("the Python package playwright (pip install -e '.[test]')")
    return out


def require_browser() -> None:
    """Skip when POLICYQA_SKIP_BROWSER=1, else fail unless everything is installed."""
    if os.environ.get(SKIP_ENV) == "1":
        reason = f"browser tests skipped: {SKIP_ENV}=1"
        warnings.warn(reason, pytest.PytestWarning, stacklevel=2)
        pytest.skip(reason)
    problems = missing()
    if problems:
        pytest.fail("the browser tests need " + "; ".join(problems)
                    + f". Install them, or set {SKIP_ENV}=1 to skip these tests.", pytrace=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch_browser():
    """Yields a launched headless chromium (use from a fixture)."""
    require_browser()
    from playwright import sync_api  # present: require_browser checked

    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def open_page(browser, url: str, height: int = 800, width: int = 1280):
    """Yields a page on ``url`` once the app's title shows; dialogs are recorded in
    ``page.dialogs`` and dismissed (a hostile document must never open one)."""
    ctx = browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN")
    pg = ctx.new_page()
    pg.set_default_timeout(15_000)
    dialogs: list[str] = []
    pg.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    pg.dialogs = dialogs
    pg.goto(url)
    pg.get_by_text(TITLE).wait_for()
    yield pg
    ctx.close()


def ink(png: bytes) -> float:
    """Share of pixels that differ clearly from the image's most common colour (0: blank)."""
    with Image.open(io.BytesIO(png)) as im:
        gray = im.convert("L")
        hist = gray.histogram()
        background = max(range(256), key=hist.__getitem__)
        far = sum(n for level, n in enumerate(hist) if abs(level - background) > 40)
        return far / max(gray.width * gray.height, 1)


def shot(page, name: str, tab: str) -> Path:
    """Save a full-page screenshot ``name``.png; fail when the panel of ``tab`` (its id:
    ask, search, …), as shown, has next to nothing drawn in it."""
    folder = Path(os.environ.get("PQA_SCREENSHOTS") or SCREENSHOTS)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    panel = page.locator(f"#tab-{tab}")
    assert panel.is_visible(), f"tab {tab} is not shown in screenshot {name}"
    share = ink(panel.screenshot())
    assert share > 0.005, f"screenshot {path}: the {tab} tab looks blank ({share:.2%} of pixels drawn)"
    return path


def tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).click()
