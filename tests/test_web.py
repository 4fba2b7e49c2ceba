"""Handler-level tests of the web app with the FakeEngine (no browser)."""

from __future__ import annotations

import json
import re
import socket
from dataclasses import replace

import gradio as gr
import pytest

from policyqa import web
from policyqa.answer_check import check_citations
from policyqa.config import Settings
from policyqa.errors import PolicyQAError
from tests.fake_engine import EVIL_TITLE, FakeEngine

HOSTILE = ("<script", "<img", "onerror=alert(1)>", "href=", "javascript:alert(1)\"")


@pytest.fixture(scope="module")
def engine() -> FakeEngine:
    return FakeEngine()


def _no_markup_from_documents(html_text: str) -> None:
    assert "<script" not in html_text.lower()
    assert "<img" not in html_text.lower()
    assert "href=\"javascript" not in html_text.lower()
    assert "<b>每月" not in html_text  # document's own tags stay text
    assert "${" not in html_text and "{{" not in html_text


def test_build_app_has_stable_api_names(engine):
    app = web.build_app(engine)
    assert isinstance(app, gr.Blocks)
    public = {fn.api_name for fn in app.fns.values() if fn.api_visibility == "public"}
    assert public == {"ask", "search"}
    chat = next(b for b in app.blocks.values() if isinstance(b, gr.Chatbot))
    assert chat.render_markdown is False and chat.sanitize_html is True
    assert chat.latex_delimiters == []


def test_every_interactive_element_has_an_id(engine):
    app = web.build_app(engine)
    kinds = (gr.Textbox, gr.Button, gr.Dropdown, gr.Slider, gr.Chatbot, gr.Tab)
    for block in app.blocks.values():
        if isinstance(block, kinds):
            assert block.elem_id, block


def test_ask_turn_builds_cited_messages(engine):
    history, cites, answer = web.ask_turn(engine, "交流轮岗教师比例有什么要求？", [])
    assert answer is not None and not answer.abstained
    assert check_citations(answer, engine.source_text) == []
    assert history[0] == {"role": "user", "content": "交流轮岗教师比例有什么要求？"}
    assert "[1]" in history[1]["content"] and "10%" in history[1]["content"]
    sources = [m for m in history if m.get("metadata")]
    assert len(sources) == len(cites) >= 1
    assert sources[0]["metadata"]["title"].startswith("[1] ")
    assert "二、教师队伍建设" in sources[0]["metadata"]["title"]
    assert cites[0].text in sources[0]["content"]
    # a second turn keeps the first
    history2, _, _ = web.ask_turn(engine, "学前三年毛入园率目标是多少", history)
    assert history2[: len(history)] == history and len(history2) > len(history)


def test_chat_markers_carry_their_turn(engine):
    history, _, first = web.ask_turn(engine, "交流轮岗教师比例有什么要求？", [])
    history, _, second = web.ask_turn(engine, "学前三年毛入园率目标是多少", history)
    answers = [m["content"] for m in history if m["role"] == "assistant" and not m.get("metadata")]
    for turn, (content, answer) in enumerate(zip(answers, (first, second))):
        found = re.findall(r'class="pqa-cite pqa-t(\d+) pqa-n(\d+)"', content)
        assert found == [(str(turn), str(c.n)) for c in answer.citations]
    # only markers of real citations become links; without a turn nothing does
    answer = replace(first, answer=first.answer + "见附件[9]。")
    marked = web.cite_markers(web.esc_lines(answer.answer), answer, 4)
    assert "pqa-t4 pqa-n1" in marked and "附件[9]。" in marked and "pqa-n9" not in marked
    assert web.cite_markers("甲[1]", first, None) == "甲[1]"


def test_ask_turn_abstains_plainly(engine):
    history, cites, answer = web.ask_turn(engine, "火星探测器的发射窗口", [])
    assert answer.abstained and cites == []
    assert "没有找到" in history[-1]["content"]


def test_empty_or_too_long_question_is_a_message(engine):
    with pytest.raises(PolicyQAError, match="请输入问题"):
        web.ask_turn(engine, "   ", [])
    limit = engine.settings.max_query_chars
    with pytest.raises(PolicyQAError, match=f"超过上限 {limit:,} 字"):
        web.ask_turn(engine, "教" * (limit + 1), [])
    assert web.ask_turn(engine, "教师" + "培" * (limit - 2), [])[2] is not None  # at the limit: asked


def test_chat_messages_escape_hostile_text(engine):
    _, _, answer = web.ask_turn(engine, "校园安全制度", [])
    assert any(c.source == "evil.txt" for c in answer.citations)
    msgs = web.answer_messages(answer)
    for m in msgs:
        _no_markup_from_documents(m["content"])
        if m.get("metadata"):
            _no_markup_from_documents(m["metadata"]["title"])
    joined = "".join(m["content"] + m.get("metadata", {}).get("title", "") for m in msgs)
    assert "[点我](javascript:alert(1))" in joined  # shown as the plain characters
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in joined
    # a hostile question is escaped too
    history, _, _ = web.ask_turn(engine, "<img src=x onerror=alert(1)>校园安全", [])
    assert history[0]["content"] == "&lt;img src=x onerror=alert(1)&gt;校园安全"


def test_esc_neutralises_html_and_templates():
    raw = '<script>alert(1)</script><img src=x onerror=alert(1)>[a](javascript:alert(1)) ${x} {{y}} `z` "q\''
    out = web.esc(raw)
    assert "<" not in out and ">" not in out and '"' not in out
    assert "$" not in out and "{" not in out and "}" not in out and "`" not in out
    import html

    assert html.unescape(out) == raw


def test_document_view_escapes_and_highlights(engine):
    evil = next(d for d in engine.documents() if d.title == EVIL_TITLE)
    outline, body = web.render_document(engine, evil.doc_id)
    _no_markup_from_documents(outline)
    _no_markup_from_documents(body)
    assert "&lt;img src=x onerror=alert(1)&gt;安全管理" in outline
    assert "mark" not in body

    _, cites, _ = web.ask_turn(engine, "交流轮岗教师比例有什么要求？", [])
    doc_id, outline, body = web.open_citation(engine, cites[0])
    marked = re.findall(r'<mark class="pqa-hit"[^>]*>(.*?)</mark>', body)
    assert "".join(marked) == web.esc(cites[0].text)
    assert body.count('id="pqa-hit"') == 1
    assert "二、教师队伍建设" in outline and "一、总体目标" in outline
    assert doc_id == cites[0].doc_id


def test_open_citation_accepts_search_hits(engine):
    result = web.run_search(engine, "学前教育 幼儿园", k=3)
    ref = web.hit_ref(result.hits[0])
    doc_id, _, body = web.open_citation(engine, ref)
    assert doc_id == result.hits[0].chunk.doc_id
    assert web.esc(result.hits[0].chunk.text) in body


def test_open_citation_unknown_source_is_a_clear_error(engine):
    with pytest.raises(PolicyQAError):
        web.open_citation(engine, {"doc_id": "", "source": "nope.txt", "start": 0, "end": 3})


def test_search_filters_and_results_html(engine):
    result = web.run_search(engine, "教师", region="某縣", k=10)
    assert result.hits and all(h.chunk.metadata.region == "某縣" for h in result.hits)
    result = web.run_search(engine, "教师", year="2023", doc_type="计划", k=10)
    assert result.hits and all(h.chunk.metadata.year == 2023 for h in result.hits)
    result = web.run_search(engine, "教师", doc_id="plan-2", k=10)
    assert result.hits and {h.chunk.doc_id for h in result.hits} == {"plan-2"}
    page = web.results_html(result)
    assert "篇二" in page and "<mark>教师</mark>" in page and "匹配" in page
    uncovered = web.run_search(engine, "火星探测器发射窗口", k=5)
    page = web.results_html(uncovered)  # one verdict with ask: not covered, nearest passages below
    assert uncovered.abstained and web.NOT_COVERED in page and "pqa-card" in page
    assert web.NO_RESULTS in web.results_html(replace(uncovered, hits=()))
    with pytest.raises(PolicyQAError):
        web.run_search(engine, "  ")


def test_search_results_escape_hostile_text(engine):
    page = web.results_html(web.run_search(engine, "校园安全", k=10))
    _no_markup_from_documents(page)
    assert "&lt;script&gt;" in page
    page = web.results_html(web.run_search(engine, "<script>校园安全", k=10))
    _no_markup_from_documents(page)


def test_mark_terms_folds_but_shows_original():
    out = web.mark_terms("推進教師交流輪崗，全年交流教師120名。", "教师交流轮岗")
    assert "<mark>推進</mark>" not in out
    assert "<mark>教師交流輪崗</mark>" in out
    assert web.mark_terms("<b>x</b>安全", "安全") == "&lt;b&gt;x&lt;/b&gt;<mark>安全</mark>"
    assert "<mark>" in web.mark_terms("Teacher exchange rules", "teacher")


def test_filters():
    assert web.make_filters("", "", "", "") is None
    f = web.make_filters("计划", "2023", "", "")
    assert f.doc_type == "计划" and f.year == 2023 and f.region is None
    with pytest.raises(PolicyQAError):
        web.make_filters(year="二〇二三")


def test_facet_choices_start_with_all(engine):
    ch = web.facet_choices(engine)
    assert ch["region"][0] == ("全部", web.ALL)
    assert ("某縣", "某縣") in ch["region"]
    assert ("2023", "2023") in ch["year"]
    assert any(v == "evil-1" for _, v in ch["doc"])


def test_guard_turns_errors_into_messages():
    @web.guard
    def known():
        raise PolicyQAError("索引不存在：请先运行 policyqa index")

    @web.guard
    def unknown():
        raise ZeroDivisionError("secret detail")

    with pytest.raises(gr.Error, match="索引不存在"):
        known()
    with pytest.raises(gr.Error) as info:
        unknown()
    assert "secret detail" not in str(info.value) and "Traceback" not in str(info.value)


def test_api_functions_return_json(engine):
    ask, search = web.api_functions(engine)
    a = ask("交流轮岗教师比例有什么要求？")
    assert set(a) == {"question", "abstained", "answer", "citations", "generator", "notice", "unverified", "searched_as"}
    assert a["citations"] and {"n", "source", "start", "end", "text", "title", "heading_path"} <= set(a["citations"][0])
    s = search("教师培训", 3, region="西城区")
    assert s["results"] and all(r["metadata"]["region"] == "西城区" for r in s["results"])
    json.dumps(a), json.dumps(s)
    failing_ask, failing_search = web.api_functions(FakeEngine(fail_with="索引正在重建，请稍后再试"))
    with pytest.raises(gr.Error, match="索引正在重建"):
        failing_search("教师")
    with pytest.raises(gr.Error, match="索引正在重建"):
        failing_ask("教师")


def test_parse_auth():
    assert web.parse_auth(None) is None
    assert web.parse_auth("admin:s3cret:x") == ("admin", "s3cret:x")
    with pytest.raises(PolicyQAError):
        web.parse_auth("admin")


def test_serve_build_progress_goes_to_stderr(capsys):
    from policyqa.types import ProgressEvent

    web.stderr_progress(ProgressEvent("embed", 3, 12, detail="plan_a.txt"))
    web.stderr_progress(ProgressEvent("scan", 0, 0, detail="building the index (no index yet)"))
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("[ 25.0%]") and err[0].endswith("plan_a.txt")
    assert err[1].startswith("[  0.0%]") and "no index yet" in err[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_gradio_client_endpoints(engine):
    client_mod = pytest.importorskip("gradio_client")
    app = web.build_app(engine)
    settings = Settings(model="hash:256", port=_free_port())
    web.launch(app, settings, prevent_thread_lock=True, quiet=True, ssr_mode=False)
    try:
        client = client_mod.Client(f"http://127.0.0.1:{settings.port}/", verbose=False)
        a = client.predict("交流轮岗教师比例有什么要求？", api_name="/ask")
        assert a["citations"][0]["text"] in engine.source_text(a["citations"][0]["source"])
        s = client.predict("校园安全", 5, "", "", "", "", api_name="/search")
        assert s["results"] and s["query"] == "校园安全"
    finally:
        app.close()


def test_results_of_a_translated_english_query_mark_its_chinese_words(engine):
    import dataclasses

    result = web.run_search(engine, "教师", k=3)
    english = dataclasses.replace(result, query="teacher <b>exchange</b>", translated_terms=("教师", "<i>"))
    page = web.results_html(english)
    assert "<mark>教师</mark>" in page or "<mark>教師</mark>" in page
    assert "英文检索词按词典对应为：教师、&lt;i&gt;" in page  # shown, and shown as text
    assert "<i>" not in page and "<b>exchange" not in page


def test_results_of_an_expanded_chinese_query_mark_the_official_words(engine):
    import dataclasses

    result = web.run_search(engine, "教师", k=3)
    expanded = dataclasses.replace(result, query="老师<b>手把手</b>", expanded_terms=("教师", "<i>"))
    page = web.results_html(expanded)
    assert "<mark>教师</mark>" in page or "<mark>教師</mark>" in page
    assert "口语说法同时按公文用语检索：教师、&lt;i&gt;" in page
    assert "<i>" not in page and "<b>手把手" not in page


# ---------------------------------------------------------------------------- page wiring


def _events(app, event: str) -> list:
    return [f for f in app.fns.values() if any(t[1] == event for t in f.targets)]


def _ids(blocks) -> list[str]:
    return [b.elem_id for b in blocks]


LISTS = ["filter-type", "filter-year", "filter-region", "filter-doc", "doc-select"]


def test_page_load_and_tabs_refresh_every_document_list():
    """A page built before a library change (another session's upload) shows the change
    on its next load, or when a tab listing documents is opened."""
    engine = FakeEngine()
    app = web.build_app(engine)
    refreshers = _events(app, "load") + _events(app, "select")
    shown = {app.blocks[t[0]].elem_id for f in _events(app, "select") for t in f.targets}
    assert shown == {"tab-search", "tab-doc", "tab-library"} and len(refreshers) == 4
    for f in refreshers:
        assert _ids(f.inputs) == LISTS and _ids(f.outputs) == ["lib-table", "lib-remove"] + LISTS
    engine.add_file("bei.txt", "2025年北区教育局工作计划\n一、冰雪运动\n建设冰雪特色学校8所。\n".encode())
    engine.reindex()
    table, remove, f_type, f_year, f_region, f_doc, doc_select = refreshers[0].fn(
        web.ALL, "2023", web.ALL, "plan-2", "tw-1")
    assert "bei.txt" in table and "bei.txt" in [v for _, v in remove["choices"]]
    assert ("2025", "2025") in f_year["choices"] and f_year["value"] == "2023"  # kept
    assert "up-bei.txt" in [v for _, v in f_doc["choices"]] and f_doc["value"] == "plan-2"
    assert "up-bei.txt" in [v for _, v in doc_select["choices"]] and doc_select["value"] == "tw-1"


def test_boxes_stop_at_the_configured_limits():
    from dataclasses import replace

    engine = FakeEngine()
    engine.settings = replace(engine.settings, max_query_chars=120, max_draft_chars=900)
    app = web.build_app(engine)
    boxes = {b.elem_id: b for b in app.blocks.values() if isinstance(b, gr.Textbox)}
    limits = {i: boxes[i].max_length for i in ("ask-input", "search-input", "compare-input", "prec-input")}
    assert limits == {"ask-input": 120, "search-input": 120, "compare-input": 120, "prec-input": 900}
    # each box tells, in the browser, when it is full
    notes = {f.outputs[0].elem_id: f.js for f in _events(app, "change") if f.fn is None}
    assert set(notes) == {"ask-limit", "search-limit", "compare-limit", "prec-limit"}
    assert ">= 120" in notes["ask-limit"] and ">= 900" in notes["prec-limit"] and "120 字的上限" in notes["ask-limit"]


def test_over_long_input_is_a_clear_message_everywhere(engine):
    q = "教" * (engine.settings.max_query_chars + 1)
    for call in (lambda: web.run_search(engine, q), lambda: web.run_compare(engine, q),
                 lambda: web.ask_turn(engine, q, [])):
        with pytest.raises(PolicyQAError, match="超过上限"):
            call()
    with pytest.raises(PolicyQAError, match="草稿有 .* 字，超过上限"):
        web.run_precedents(engine, "教" * (engine.settings.max_draft_chars + 1))
    ask, search = web.api_functions(engine)
    with pytest.raises(gr.Error, match="问题有 1,001 字，超过上限 1,000 字"):
        ask(q)
    with pytest.raises(gr.Error, match="请输入问题"):
        ask("  ")
    with pytest.raises(gr.Error, match="超过上限"):
        search(q)


def test_every_open_in_document_goes_through_one_helper(engine):
    """Citation buttons, the chat's [n] markers, and clicks on search results, compare rows
    and precedents: the same outputs, and the same messages for nothing chosen and for a
    stale choice."""
    app = web.build_app(engine)
    opens = [f for f in app.fns.values() if _ids(f.outputs)[:4] == ["tabs", "doc-select", "doc-outline", "doc-view"]]
    triggers = sorted(app.blocks[t[0]].elem_id for f in opens for t in f.targets)
    assert triggers == sorted([f"cite-{i + 1}" for i in range(web.MAX_CITES)]
                              + ["cite-hint", "compare-table", "prec-results", "search-results"])
    by_id = {app.blocks[f.targets[0][0]].elem_id: f for f in opens}

    def click(elem_id, state, **data):
        return by_id[elem_id].fn(state, False, gr.EventData(None, data))  # (list, 显示为简体, event)

    refs = [web.hit_ref(h) for h in web.run_search(engine, "学前三年毛入园率", k=3).hits]
    tabs, select, outline, view, showing = click("search-results", refs, index=0)
    assert showing == {"doc_id": refs[0]["doc_id"], "span": [refs[0]["start"], refs[0]["end"]]}
    assert select["value"] == refs[0]["doc_id"] and 'class="pqa-hit"' in view and "一、总体目标" in outline
    for data, message in (({}, "请先选择"), ({"index": None}, "请先选择"), ({"index": 7}, "不在当前结果中")):
        with pytest.raises(gr.Error, match=message):
            click("search-results", refs, **data)
    with pytest.raises(gr.Error, match="不在当前结果中"):
        by_id["cite-2"].fn(refs[:1], False)
    # an earlier answer's [n] opens that answer's citation
    first = engine.ask("交流轮岗教师比例有什么要求？")
    second = engine.ask("学前三年毛入园率目标是多少")
    view = click("cite-hint", [first, second], turn=0, n=1)[3]
    c = first.citations[0]
    assert f'<mark class="pqa-hit" id="pqa-hit">{web.esc(engine.source_text(c.source)[c.start:c.end])}' in view
    for data in ({"turn": 2, "n": 1}, {"turn": 0, "n": 9}):
        with pytest.raises(gr.Error, match="不在当前结果中"):
            click("cite-hint", [first, second], **data)
    with pytest.raises(gr.Error, match="请先选择"):
        click("cite-hint", [first], turn="x", n=1)


def test_refused_text_is_shown_at_its_box_before_anything_runs(engine):
    app = web.build_app(engine)
    checked = {app.blocks[f.targets[0][0]].elem_id: f.validator for f in app.fns.values() if f.validator}
    assert set(checked) == {"ask-input", "ask-btn", "search-input", "search-btn", "compare-input", "compare-btn",
                            "prec-btn"}
    too_long = "教" * (engine.settings.max_query_chars + 1)
    box, history = checked["ask-input"]("  ", [])
    assert box == {"__type__": "validate", "is_valid": False, "message": web.qa.EMPTY_QUESTION}
    assert history["is_valid"] is True
    box, *others = checked["search-btn"](too_long, web.ALL, web.ALL, web.ALL, web.ALL, 10)
    assert not box["is_valid"] and "超过上限" in box["message"] and all(o["is_valid"] for o in others)
    # an event with the text box as its only input gets one verdict, not a list (Gradio runs
    # the event on a list there: the empty topic reached the handler instead of its box)
    assert checked["compare-input"]("学前教育")["is_valid"]
    assert checked["compare-btn"]("  ") == {"__type__": "validate", "is_valid": False,
                                            "message": "请输入要对比的主题，例如：学前教育毛入园率。"}
    assert checked["prec-btn"]("")["message"] == "请粘贴一段正在起草的文字。"


def test_serve_prints_typed_build_progress(capsys):
    from policyqa.types import ProgressEvent

    web.stderr_progress(ProgressEvent("embed", 3, 10, "files", "plan_a.txt"))
    assert capsys.readouterr().err == "[ 30.0%] 解析文件并计算向量 3/10 个文件 plan_a.txt\n"


def test_outline_lists_titles_indented_by_level_not_numbered_sentences():
    from policyqa.web.document import outline_heading

    assert outline_heading("一、加强学前教育") and outline_heading("（一）扩大普惠资源")
    assert not outline_heading("1.实施薄弱学校改造工程，完成44所标准化学校建设。")
    assert not outline_heading("2.到2025年，" + "学前三年毛入园率达到90%以上" * 3)


def test_document_outline_hierarchy(fake_settings, fake_embedder):
    from policyqa.api import Engine, build_index

    build_index(fake_settings, fake_embedder)
    engine = Engine.open(fake_settings, embedder=fake_embedder)
    doc = next(d for d in engine.documents() if d.source == "plan_a.txt")
    outline, body = web.render_document(engine, doc.doc_id)
    assert 'class="pqa-l1">一、加强学前教育</a>' in outline
    assert 'class="pqa-l2">（一）扩大普惠资源</a>' in outline
    assert "标准化学校建设" not in outline  # a numbered target sentence is body text
    assert "标准化学校建设" in body


def test_results_say_how_strong_and_which_side_found_them(engine):
    from policyqa.web.search_tab import found_by, strength_label

    result = web.run_search(engine, "交流轮岗教师比例", k=5)
    assert not result.abstained and result.threshold > 0
    labels = [strength_label(h, result) for h in result.hits]
    best = max(result.hits, key=lambda h: h.evidence_score or 0)
    assert strength_label(best, result) == "直接相关" and set(labels) <= {"直接相关", "相关"}
    assert all(found_by(h) in ("语义＋关键词匹配", "语义匹配", "关键词匹配") for h in result.hits)
    page = web.results_html(result)
    assert "直接相关" in page and f'title="score {result.hits[0].score:.4f}"' in page
    uncovered = web.run_search(engine, "火星探测器发射窗口", k=5)
    assert {strength_label(h, uncovered) for h in uncovered.hits} == {"仅供参考"}
    assert "threshold" in result.to_json()  # the API keeps the raw numbers


def test_precedent_label_counts_matched_draft_sentences():
    from policyqa.web.precedents_tab import precedent_label

    item = {"overlap": 0.456, "matches": [{"draft_start": 0, "draft_end": 10, "start": 1, "end": 5},
                                          {"draft_start": 0, "draft_end": 10, "start": 7, "end": 9},
                                          {"draft_start": 11, "draft_end": 20, "start": 12, "end": 15}]}
    assert precedent_label(item) == "与草稿 2 句对应 · 字面重合 46%"
    assert precedent_label({"matches": [], "overlap": 0}) == "整体相似"


def test_simplified_view_converts_each_span_and_keeps_offsets(engine, monkeypatch):
    """显示为简体: traditional text shown simplified, span by span at the same length, so the
    highlight covers the cited characters; the source name, citations and offsets keep the
    original."""
    assert web.shown("某縣教育局2024年工作總結", True) == "某县教育局2024年工作总结"
    assert web.shown("某縣教育局", False) == "某縣教育局"
    tw = next(d for d in engine.documents() if d.doc_id == "tw-1")
    text = engine.source_text(tw.source)
    start = text.index("推進教師交流輪崗")
    span = (start, start + len("推進教師交流輪崗"))
    original, simplified = (web.render_document(engine, "tw-1", span, simp)[1] for simp in (False, True))
    assert '<mark class="pqa-hit" id="pqa-hit">推進教師交流輪崗</mark>' in original
    assert '<mark class="pqa-hit" id="pqa-hit">推进教师交流轮岗</mark>' in simplified
    assert "某县教育局2024年工作总结" in simplified and "summary_tw.txt" in simplified
    assert "總結" not in simplified and "總結" in original
    outline = web.render_document(engine, "tw-1", span, True)[0]
    assert "一、教师队伍" in outline
    # a span whose conversion would change its length is shown as written
    monkeypatch.setattr(web.common, "fold", lambda t: t.replace("隊伍", "队伍们"))
    assert web.shown("一、教師隊伍", True) == "一、教師隊伍"
    assert '<mark class="pqa-hit" id="pqa-hit">推進教師交流輪崗</mark>' in web.render_document(
        engine, "tw-1", span, True)[1]


def test_simplified_results_chat_and_tables(engine):
    result = web.run_search(engine, "教師交流輪崗", k=5, region="某縣")
    page = web.results_html(result, simplified=True)
    assert "某县教育局2024年工作总结" in page and "工作總結" not in page
    assert "<mark>" in page and "推进" in page
    assert web.results_html(result) != page and "工作總結" in web.results_html(result)
    _, cites, answer = web.ask_turn(engine, "教師交流輪崗", [])
    tw = [c for c in answer.citations if c.source == "summary_tw.txt"]
    assert tw, answer
    msgs = web.answer_messages(answer, 0, simplified=True)
    joined = "".join(m["content"] + m.get("metadata", {}).get("title", "") for m in msgs)
    assert web.shown(tw[0].text, True) in joined and "summary_tw.txt" in joined
    assert "pqa-cite pqa-t0 pqa-n1" in msgs[0]["content"]
    # the citation itself (what opens and exports) keeps the original
    assert web.shown_citation(tw[0], True).start == tw[0].start and tw[0].text in engine.source_text(tw[0].source)
    history = web.chat_history([answer], simplified=True)
    assert history[0]["content"] == "教師交流輪崗" and history[1:] == msgs  # the question as typed
    labels = [u["value"] for u in web.cite_button_updates(cites, True) if u.get("visible")]
    assert any("某县" in x for x in labels)
    table = {"topic": "教師", "rows": [{"doc_id": "tw-1", "source": "summary_tw.txt", "start": 0, "end": 5,
                                        "title": "某縣教育局", "phrasing": "全年交流教師120名。", "value_text": "120名",
                                        "indicator": "交流教師"}]}
    page = web.compare_html(table, simplified=True)
    assert "某县教育局" in page and "全年交流教师<mark>120名</mark>。" in page and "交流教师" in page
    prec = {"results": [{"doc_id": "tw-1", "source": "summary_tw.txt", "start": 10, "end": 18, "title": "某縣教育局",
                         "text": "推進教師交流輪崗", "matches": [{"start": 12, "end": 14}]}]}
    page = web.precedents_html(prec, simplified=True)
    assert "推进<mark>教师</mark>交流轮岗" in page and "某县教育局" in page


def test_a_follow_up_in_the_chat_carries_the_previous_question(engine):
    history, _, first = web.ask_turn(engine, "教师交流轮岗有什么要求？", [])
    history, _, follow = web.ask_turn(engine, "比例呢？", history, earlier=[first.question])
    assert "交流轮岗" in follow.searched_as
    assert "按“" in history[-1 - len(follow.citations)]["content"]  # the chat says what was searched
