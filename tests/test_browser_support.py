"""The browser tests' own checks, without a browser: what a machine lacks is named with how
to install it, POLICYQA_SKIP_BROWSER=1 skips visibly, a blank screenshot is caught."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageDraw

from tests import browser_support


def _png(draw: bool) -> bytes:
    im = Image.new("RGB", (400, 200), "white")
    if draw:
        ImageDraw.Draw(im).rectangle((20, 20, 200, 60), fill="black")
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def test_missing_chromium_fails_saying_what_to_install(monkeypatch):
    monkeypatch.delenv(browser_support.SKIP_ENV, raising=False)
    monkeypatch.setattr(browser_support, "CHROMIUM", "/nonexistent/chromium")
    assert any("apt-get install -y chromium fonts-noto-cjk" in m for m in browser_support.missing())
    with pytest.raises(pytest.fail.Exception) as info:
        browser_support.require_browser()
    assert "/nonexistent/chromium" in str(info.value) and "POLICYQA_SKIP_BROWSER=1" in str(info.value)


def test_missing_cjk_font_is_named(monkeypatch):
    monkeypatch.setattr(browser_support, "has_cjk_font", lambda: False)
    assert any(m.startswith("a CJK font") for m in browser_support.missing())


def test_skip_variable_skips_with_its_reason(monkeypatch):
    monkeypatch.setenv(browser_support.SKIP_ENV, "1")
    monkeypatch.setattr(browser_support, "CHROMIUM", "/nonexistent/chromium")
    with pytest.warns(pytest.PytestWarning, match="POLICYQA_SKIP_BROWSER=1"):
        with pytest.raises(pytest.skip.Exception, match="POLICYQA_SKIP_BROWSER=1"):
            browser_support.require_browser()


def test_blank_screenshots_are_told_from_drawn_ones():
    assert browser_support.ink(_png(False)) == 0
    assert browser_support.ink(_png(True)) > 0.05
