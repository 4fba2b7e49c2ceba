"""One contract, two engines: what the web layer relies on (``policyqa.web.protocol.EngineLike``)
holds for the test stand-in ``FakeEngine`` and for the real ``Engine`` over a small corpus
indexed with the ``HashEmbedder``. Every test runs against both."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from policyqa.answer_check import check_citations
from policyqa.config import load_settings
from policyqa.embed import HashEmbedder
from policyqa.engine import Engine
from policyqa.errors import PolicyQAError
from policyqa.types import Filters
from policyqa.web.libraries import LibraryView
from policyqa.web.protocol import EngineLike
from tests.conftest import PLAN_A, PLAN_B, write
from tests.fake_engine import ABSTAIN, FakeEngine

PLAN_C = "某区教育局2024年工作计划\n\n一、学前教育\n到2025年，学前三年毛入园率达到95%。\n二、队伍\n开展教师培训。\n"
NEW_TEXT = "北区教育局2025年工作计划\n\n一、冰雪运动\n推进冰雪运动进校园，建设冰雪特色学校8所。\n"
ON_TOPIC = "学前三年毛入园率的目标是多少"  # both corpora state one
OFF_TOPIC = "火星探测器的发射窗口"
PROTOCOL_METHODS = sorted(n for n, v in vars(EngineLike).items() if inspect.isfunction(v) and not n.startswith("_"))


def real_engine(base: Path) -> Engine:
    corpus = base / "corpus"
    write(corpus / "plan_a.txt", PLAN_A)
    write(corpus / "sub" / "plan_b_gbk.txt", PLAN_B, encoding="gbk")
    write(corpus / "plan_c.txt", PLAN_C)
    settings = load_settings(env={}, corpus=corpus, index_dir=base / "index", model="hash:256",
                             abstain_cjk=ABSTAIN)
    return Engine.open(settings, build_if_needed=True, embedder=HashEmbedder(256))


@pytest.fixture(scope="module")
def engines(tmp_path_factory) -> dict[str, EngineLike]:
    return {"fake": FakeEngine(), "real": real_engine(tmp_path_factory.mktemp("contract")),
            "view": library_view(real_engine(tmp_path_factory.mktemp("contract-view")))}


def library_view(engine: Engine) -> LibraryView:
    """A server's view of one library it may manage (web.libraries), around a real engine."""
    return LibraryView(engine.settings, {"科室": engine}, frozenset({"科室"}))


@pytest.fixture(params=["fake", "real", "view"])
def engine(request, engines) -> EngineLike:
    return engines[request.param]


@pytest.fixture(params=["fake", "real", "view"])
def fresh_engine(request, tmp_path) -> EngineLike:
    """An engine of its own, for tests that change its library."""
    if request.param == "fake":
        return FakeEngine()
    return real_engine(tmp_path) if request.param == "real" else library_view(real_engine(tmp_path))


# ---------------------------------------------------------------------------- the interface


@pytest.mark.parametrize("name", PROTOCOL_METHODS)
def test_methods_have_the_protocol_signature(engine, name):
    expected = inspect.signature(getattr(EngineLike, name))
    actual = inspect.signature(getattr(type(engine), name))
    assert list(actual.parameters) == list(expected.parameters), name
    for p in expected.parameters.values():
        assert actual.parameters[p.name].default == p.default, (name, p.name)


def test_protocol_lists_what_the_web_layer_calls():
    assert PROTOCOL_METHODS == ["add_file", "ask", "ask_stream", "compare", "documents", "facets", "generation", "library",
                                "page_region", "precedents", "reindex", "remove_source", "search", "source_text"]
    assert "settings" in EngineLike.__annotations__


def test_a_passage_of_a_text_file_has_no_page_image(engine):
    doc = engine.documents()[0]
    assert engine.page_region(doc.source, doc.start, doc.end) is None
    assert engine.page_region("no-such-file.pdf", 0, 10) is None


# ---------------------------------------------------------------------------- refused input


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_empty_input_is_refused_everywhere(engine, text):
    for call in (engine.search, engine.ask, engine.compare, engine.precedents):
        with pytest.raises(PolicyQAError):
            call(text)


@pytest.mark.parametrize("k", [0, -1])
def test_k_must_be_positive(engine, k):
    with pytest.raises(PolicyQAError, match="positive"):
        engine.search(ON_TOPIC, k=k)


def test_over_long_input_is_refused(engine):
    s = engine.settings
    with pytest.raises(PolicyQAError, match="limit"):
        engine.search("教" * (s.max_query_chars + 1))
    with pytest.raises(PolicyQAError, match="limit"):
        engine.ask("教" * (s.max_query_chars + 1))
    with pytest.raises(PolicyQAError, match="limit"):
        engine.precedents("教" * (s.max_draft_chars + 1))


# ---------------------------------------------------------------------------- results


def test_search_hits_quote_their_source_exactly(engine):
    result = engine.search(ON_TOPIC, k=3)
    assert not result.abstained and 1 <= len(result.hits) <= 3 and result.query == ON_TOPIC
    scores = [h.score for h in result.hits]
    assert scores == sorted(scores, reverse=True)
    for h in result.hits:
        c = h.chunk
        assert engine.source_text(c.source)[c.start:c.end] == c.text
    assert "毛入园率" in result.hits[0].chunk.text
    assert set(result.to_json()) == {"query", "abstained", "top_score", "threshold", "results", "translated_terms",
                                     "expanded_terms"}


def test_filters_restrict_hits(engine):
    doc = next(d for d in engine.documents() if d.metadata.year)
    result = engine.search("教育", k=10, filters=Filters(year=doc.metadata.year))
    assert result.hits and all(h.chunk.metadata.year == doc.metadata.year for h in result.hits)
    result = engine.search("教育", k=10, filters=Filters(doc_id=doc.doc_id))
    assert result.hits and {h.chunk.doc_id for h in result.hits} == {doc.doc_id}


def test_off_topic_question_abstains_and_is_declined(engine):
    assert engine.search(OFF_TOPIC).abstained
    answer = engine.ask(OFF_TOPIC)
    assert answer.abstained and answer.citations == ()


def test_answer_cites_exact_passages(engine):
    answer = engine.ask(ON_TOPIC)
    assert not answer.abstained and answer.citations
    assert check_citations(answer, engine.source_text) == []
    assert "[1]" in answer.answer and "%" in answer.answer
    assert set(answer.to_json()) == {"question", "abstained", "answer", "citations", "generator", "notice",
                                     "unverified", "searched_as"}
    assert answer.generator == "extractive"  # no chat model configured


# ---------------------------------------------------------------------------- documents


def test_documents_facets_and_texts_agree(engine):
    docs = engine.documents()
    assert docs and len({d.doc_id for d in docs}) == len(docs)
    facets = engine.facets()
    assert facets["doc"] == [(d.title, d.doc_id) for d in docs]
    assert facets["year"] == sorted({d.metadata.year for d in docs if d.metadata.year})
    for d in docs:
        text = engine.source_text(d.source)
        assert 0 <= d.start < d.end <= len(text)
        assert d.title and d.title in text[d.start:d.end]
        for b in d.blocks:
            assert d.start <= b.start <= b.end <= d.end
    with pytest.raises(PolicyQAError):
        engine.source_text("no-such-file.txt")


def test_library_rows_are_the_documents(engine):
    rows = engine.library()
    assert [r["doc_id"] for r in rows] == [d.doc_id for d in engine.documents()]
    for r in rows:
        assert {"doc_id", "title", "source", "chunks", "indexed_at", "year", "region", "doc_type"} <= set(r)
        assert r["chunks"] >= 1 and r["indexed_at"] is not None


def test_compare_one_row_per_document_quoting_its_sentence(engine):
    table = engine.compare("学前三年毛入园率")
    assert table.rows and len({r.doc_id for r in table.rows}) == len(table.rows)
    for r in table.rows:
        assert engine.source_text(r.source)[r.start:r.end] == r.phrasing
        if r.value_text:
            assert r.value_text in r.phrasing
    assert any(r.value is not None and r.unit == "%" for r in table.rows)
    assert set(table.to_json()) == {"topic", "rows"}


def test_precedents_quote_passages_and_leave_out_the_draft(engine):
    chunk = engine.search(ON_TOPIC, k=1).hits[0].chunk
    found = engine.precedents(chunk.text, k=5)
    results = found.to_json()["results"]
    assert results and len(results) <= 5
    for r in results:
        assert engine.source_text(r["source"])[r["start"]:r["end"]] == r["text"]
        assert {"doc_id", "title", "heading_path", "score", "matches", "group", "from_source"} <= set(r)
    assert all(r["text"] != chunk.text for r in results)  # the draft itself is not its own precedent
    kept = engine.precedents(chunk.text, k=5, exclude_self=False).to_json()["results"]
    assert kept[0]["text"] == chunk.text


def test_json_shapes_are_the_same_for_both(engines):
    fake, real = engines["fake"], engines["real"]

    def shape(engine: EngineLike) -> dict[str, set[str]]:
        hit = engine.search(ON_TOPIC, k=1).to_json()["results"][0]
        cite = engine.ask(ON_TOPIC).to_json()["citations"][0]
        row = engine.compare("学前三年毛入园率").to_json()["rows"][0]
        prec = engine.precedents("到2026年，全区学前三年毛入园率要达到96%以上。").to_json()["results"][0]
        return {"hit": set(hit), "citation": set(cite), "row": set(row), "precedent": set(prec),
                "library": set(engine.library()[0]), "facets": set(engine.facets())}

    assert shape(fake) == shape(real)


# ---------------------------------------------------------------------------- the library


def test_add_reindex_remove(fresh_engine):
    engine = fresh_engine
    name = engine.add_file("../冰雪 计划.txt", NEW_TEXT.encode())
    # (a view of several libraries names it <library>/<name>)
    base = name.removeprefix("科室/") if isinstance(engine, LibraryView) else name
    assert "/" not in base and base.endswith(".txt")
    summary = engine.reindex()
    assert summary.added == [name] and not summary.up_to_date
    assert summary.documents == len(engine.documents())
    hits = engine.search("冰雪运动进校园", k=3).hits
    assert hits and hits[0].chunk.source == name
    assert any(d.source == name for d in engine.documents())
    assert engine.reindex().up_to_date
    engine.remove_source(name)
    summary = engine.reindex()
    assert summary.removed == [name]
    assert all(d.source != name for d in engine.documents())
    with pytest.raises(PolicyQAError):
        engine.remove_source(name)
    with pytest.raises(PolicyQAError):
        engine.add_file("empty.txt", b"")


def test_generation_names_what_is_served(engine):
    generation = engine.generation()
    if isinstance(engine, LibraryView):  # its library's generation, by name
        inner = engine.engines["科室"]
        assert generation == f"科室={inner.generation()}"
        engine = inner
        generation = engine.generation()
    path = engine.data.path
    assert generation == (path.name if path is not None else None)
    assert path is None or generation.startswith("gen-")  # an index on disk: its generation folder
