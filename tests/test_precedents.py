"""Precedents for a draft: unit tests over a small fake index, the CLI, and (marked
integration) reworded / verbatim paragraphs of the sample plans with the real model."""

from __future__ import annotations

import json

import pytest

from policyqa.precedents import (
    PrecedentGroup,
    draft_sentences,
    overlap,
    precedents_json,
)
from policyqa.text import bigrams

PLAN_C = """某区教育局2024年工作要点

一、学前教育
扩大普惠性学前教育资源，新建公办幼儿园4所，学前三年毛入园率达到95%以上。
二、教师队伍
实施骨干教师培训计划，每年培训教师300名，推进城乡教师交流轮岗。
三、校园安全
健全学校安全责任体系，定期开展应急疏散演练和安全隐患排查。
"""


@pytest.fixture
def engine(small_corpus, fake_settings, fake_embedder):
    from policyqa.api import Engine, build_index

    (small_corpus / "plan_c.txt").write_text(PLAN_C, encoding="utf-8")
    build_index(fake_settings, fake_embedder)
    return Engine.open(fake_settings, embedder=fake_embedder)


def test_overlap_and_sentences():
    d = set(bigrams("全县学前三年毛入园率达到92%以上。新建公办幼儿园3所。"))
    op, od = overlap("新建公办幼儿园3所。", d, min_draft=5)
    assert op == 1.0 and 0 < od < 1
    assert overlap("完全不同的文字内容", d)[0] < 0.2
    assert draft_sentences("第一句。第二句话！") == [(0, 4), (4, 9)]
    assert draft_sentences("短") == [(0, 1)]


def test_precedents_grouped_with_matches(engine):
    draft = "扩大普惠性学前教育资源，新建公办幼儿园。提高学前三年毛入园率。"
    groups = engine.precedents(draft, k=5, exclude_self=False)
    assert groups and all(isinstance(g, PrecedentGroup) for g in groups)
    docs = [g.doc_id for g in groups]
    assert len(docs) == len(set(docs))  # one group per document
    scores = [g.hits[0].score for g in groups]
    assert scores == sorted(scores, reverse=True)
    for g in groups:
        for h in g.hits:
            c = h.chunk
            assert engine.source_text(c.source)[c.start : c.end] == c.text
            for m in h.matches:
                assert c.start <= m.start < m.end <= c.end
                assert m.text == engine.source_text(c.source)[m.start : m.end]
                assert draft[m.draft_start : m.draft_end] == m.draft_sentence
    assert sum(len(g.hits) for g in groups) <= 5


def test_verbatim_draft_does_not_return_itself(engine):
    draft = "实施骨干教师培训计划，每年培训教师300名，推进城乡教师交流轮岗。"
    with_self = engine.precedents(draft, k=5, exclude_self=False)
    assert draft in with_self[0].hits[0].chunk.text  # the draft is in the corpus …
    groups = engine.precedents(draft, k=5)
    for g in groups:
        for h in g.hits:
            assert draft not in h.chunk.text  # … and is not returned as a precedent
    flat = [h for g in groups for h in g.hits]
    # passages of the draft's own document come after those of other documents
    seen_source = False
    for h in flat:
        seen_source |= h.from_source
        assert not (seen_source and not h.from_source)


def test_json_shape(engine):
    groups = engine.precedents("加强校园安全，开展应急疏散演练。", k=4)
    js = precedents_json(groups)
    assert js == groups.to_json()
    assert js["results"]
    r = js["results"][0]
    assert set(r) >= {"doc_id", "title", "source", "start", "end", "text", "heading_path", "score", "matches"}
    json.dumps(js, ensure_ascii=False)


def test_empty_draft(engine):
    from policyqa.errors import PolicyQAError

    with pytest.raises(PolicyQAError):
        engine.precedents("   ")


def test_cli_precedents(engine, fake_settings, fake_embedder, tmp_path, capsys, monkeypatch):
    from policyqa import cli
    from policyqa.api import Engine

    monkeypatch.setattr(cli, "open_engine", lambda s: Engine.open(fake_settings, embedder=fake_embedder))
    assert cli.main(["precedents", "--text", "新建公办幼儿园，提高毛入园率。", "--json", "--k", "3"]) == 0
    js = json.loads(capsys.readouterr().out)
    assert 0 < len(js["results"]) <= 3
    draft = tmp_path / "draft.txt"
    draft.write_text("健全学校安全责任体系。", encoding="utf-8")
    assert cli.main(["precedents", "--file", str(draft)]) == 0
    assert "【1】" in capsys.readouterr().out
    assert cli.main(["precedents", "--file", str(tmp_path / "missing.txt")]) == 2


# ---------------------------------------------------------------- real model

# From 000 篇九 (合肥市): the 学前教育 paragraph, reworded.
REWORDED_PRESCHOOL = (
    "在学前教育方面，城区学前三年入园率要达到90%以上，农村地区达到65%。"
    "持续开展省市级一类幼儿园的创建，新增加8所等级幼儿园；加快建设乡镇公办中心幼儿园，年内建成3所。"
)
VERBATIM_PRESCHOOL = (
    "学前教育:学前三年幼儿入园率城区达90%以上,农村达65%。继续推进省、市级一类幼儿园创建工作,新增等级幼儿园8所。"
    "加快乡镇公办中心幼儿园建设,建成乡镇公办中心幼儿园3所。"
)
SOURCE_DOC = "000_f6cba63e34b70575.txt#9"


def _is_preschool(text: str) -> bool:
    return any(w in text for w in ("幼儿园", "幼兒園", "学前", "學前", "入园", "入園"))


@pytest.mark.integration
def test_integration_precedents_reworded_from_other_plans(real_engine):
    groups = real_engine.precedents(REWORDED_PRESCHOOL, k=8)
    flat = [h for g in groups for h in g.hits]
    assert flat
    top = flat[:3]
    assert all(h.chunk.doc_id != SOURCE_DOC for h in top)
    assert sum(_is_preschool(h.chunk.text) for h in top) >= 2


@pytest.mark.integration
def test_integration_precedents_verbatim_not_itself(real_engine):
    groups = real_engine.precedents(VERBATIM_PRESCHOOL, k=8)
    first = groups[0].hits[0]
    assert VERBATIM_PRESCHOOL[:30] not in first.chunk.text
    assert first.chunk.doc_id != SOURCE_DOC
    assert _is_preschool(first.chunk.text)
    own = real_engine.precedents(VERBATIM_PRESCHOOL, k=8, exclude_self=False)
    assert VERBATIM_PRESCHOOL[:30] in own[0].hits[0].chunk.text


def test_large_corpora_take_sentence_candidates_from_the_vector_index(engine, monkeypatch):
    import numpy as np

    from policyqa import precedents
    from policyqa.precedents import PrecedentParams, _candidates

    draft = "扩大普惠性学前教育资源，新建公办幼儿园。定期开展应急疏散演练。"
    full = engine.precedents(draft, k=5, exclude_self=False)
    monkeypatch.setattr(precedents, "FULL_SCAN_MAX_SENTENCES", 0)  # as if the corpus were huge
    scanned_rows: list[int] = []
    real_vectors = engine.data.sentences.vectors

    class Watch:  # records which sentence rows are read
        def __getitem__(self, key):
            scanned_rows.append(key.stop - key.start if isinstance(key, slice) else 1)
            return real_vectors[key]

        def __len__(self):
            return len(real_vectors)

    monkeypatch.setattr(engine.data.sentences, "vectors", Watch())
    sents = [draft[a:b] for a, b in precedents.draft_sentences(draft)]
    svecs = np.asarray(engine.embed_passages(sents), dtype=np.float32)
    dvec = np.asarray(engine.embed_passages([draft])[0], dtype=np.float32)
    pool, _ = _candidates(engine.data, dvec, svecs, PrecedentParams(candidates=1, per_sentence=2))
    _, ids = engine.data.vectors.search(svecs, 2)
    assert set(ids.ravel().tolist()) <= set(pool) and len(pool) > 1
    assert scanned_rows == []  # no scan of the sentence table
    fast = engine.precedents(draft, k=5, exclude_self=False)
    assert fast and fast[0].doc_id == full[0].doc_id
