"""A scanned PDF served: a search hit on an OCR'd page opens in 文档 with the cited line boxed on
the page image (headless Chromium), and the REST API gives the same image (the real Engine, the
real OCR engine, a real server on loopback)."""

from __future__ import annotations

import pytest

from urllib.parse import quote

import httpx

from tests.browser_support import free_port, launch_browser, open_page, shot
from tests.test_browser_tabs import _search
from tests.test_ocr import PAGE1, PAGE2, draw_page, image_pdf


@pytest.fixture(scope="module")
def scan_site(tmp_path_factory):
    from policyqa.api import Engine
    from policyqa.config import load_settings
    from policyqa.embed import HashEmbedder
    from policyqa.web import build_app, launch

    base = tmp_path_factory.mktemp("scan-site")
    corpus = base / "corpus"
    corpus.mkdir()
    (corpus / "scan.pdf").write_bytes(image_pdf([draw_page(PAGE1), draw_page(PAGE2)]))
    (corpus / "plan.txt").write_text("某市教育局2022年工作总结\n校园足球活动广泛开展，组建足球队120支。\n", encoding="utf-8")
    settings = load_settings(env={}, corpus=corpus, index_dir=base / "index", model="hash:128",
                             host="127.0.0.1", port=free_port())
    engine = Engine.open(settings, build_if_needed=True, embedder=HashEmbedder(128))
    app = build_app(engine)
    launch(app, settings, engine=engine, prevent_thread_lock=True, quiet=True, ssr_mode=False)
    yield f"http://127.0.0.1:{settings.port}/", engine
    app.close()
    engine.close()


@pytest.fixture(scope="module")
def browser():
    yield from launch_browser()


def test_the_rest_api_gives_a_scanned_passage_boxed_on_its_page(scan_site) -> None:
    url, engine = scan_site
    api = url + "api/v1"
    hit = httpx.post(f"{api}/search", json={"query": "标准化学校建设", "k": 1}, timeout=30).json()["results"][0]
    assert hit["source"] == "scan.pdf" and hit["page"] == 2
    doc = next(d for d in engine.documents() if d.source == "scan.pdf")
    got = httpx.get(f"{api}/documents/{quote(doc.doc_id, safe='')}/page-image", params={"start": hit["start"], "end": hit["end"]},
                    timeout=30)
    assert got.status_code == 200, got.text
    assert got.headers["content-type"] == "image/jpeg" and got.headers["x-page"] == "2"
    assert got.content == engine.page_region("scan.pdf", hit["start"], hit["end"]).image
    plan = next(d for d in engine.documents() if d.source == "plan.txt")
    none = httpx.get(f"{api}/documents/{quote(plan.doc_id, safe='')}/page-image", params={"start": 0, "end": 5}, timeout=30)
    assert none.status_code == 404 and "扫描" in none.json()["error"]
    assert httpx.get(f"{api}/documents/nope/page-image", params={"start": 0, "end": 5}, timeout=30).status_code == 404
    bad = httpx.get(f"{api}/documents/{quote(doc.doc_id, safe='')}/page-image", params={"start": "x", "end": 5}, timeout=30)
    assert bad.status_code in (400, 422)


@pytest.mark.browser
def test_a_scanned_hit_opens_with_its_line_boxed_on_the_page(browser, scan_site) -> None:
    for page in open_page(browser, scan_site[0], height=900):
        _search(page, "标准化学校建设")
        card = page.locator("#search-results .pqa-card").first
        card.wait_for()
        assert "第2页" in card.inner_text()
        card.click()
        figure = page.locator("#doc-view details.pqa-page")
        figure.wait_for(state="visible")
        assert "原件第2页" in figure.locator("summary").inner_text()
        img = figure.locator("img.pqa-page-img")
        img.wait_for(state="visible")
        # the inline JPEG decoded (a stripped or broken src leaves naturalWidth 0)
        assert img.evaluate("i => i.complete && i.naturalWidth > 0 && i.getBoundingClientRect().width > 100")
        assert "标准化学校建设" in "".join(page.locator("#doc-view mark.pqa-hit").all_inner_texts())
        shot(page, "5-scan-region", "doc")
        # a text file's passage has no page image
        _search(page, "校园足球")
        page.locator("#search-results .pqa-card", has_text="足球").first.click()
        page.locator("#doc-view .pqa-title", has_text="2022年工作总结").wait_for()
        assert "足球" in "".join(page.locator("#doc-view mark.pqa-hit").all_inner_texts())
        assert page.locator("#doc-view details.pqa-page").count() == 0
        assert page.dialogs == []
