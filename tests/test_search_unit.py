import time
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest

from policyqa.search import dedupe, is_near_duplicate, lexical_ranking, rrf
from policyqa.text import sentence_spans
from policyqa.types import Chunk, DocMeta, Hit


def test_rrf_weights_and_missing_lists():
    fused = rrf([[1, 2, 3], [3, 1]], [1.0, 1.0], k=60)
    assert max(fused, key=fused.get) == 1
    only_dense = rrf([[1, 2], [2, 1]], [1.0, 0.0], k=60)
    assert max(only_dense, key=only_dense.get) == 1


def test_lexical_ranking_honours_mask_and_drops_zero_scores():
    scores = np.array([0.0, 3.0, 1.0, 2.0], dtype=np.float32)
    assert [i for i, _ in lexical_ranking(scores, 10, None)] == [1, 3, 2]
    mask = np.array([True, False, True, True])
    assert [i for i, _ in lexical_ranking(scores, 10, mask)] == [3, 2]


def _hit(i: int, text: str) -> Hit:
    return Hit(Chunk(i, "d", "s.txt", 0, len(text), text, "t", (), DocMeta()), score=1.0 / (i + 1))


def test_near_duplicates_across_scripts_are_dropped():
    a = "認真落實義務教育均衡發展督導評估工作，加快評估進程。"
    b = "认真落实义务教育均衡发展督导评估工作，加快评估进程。"
    assert is_near_duplicate(a, b)
    kept = dedupe([_hit(0, a), _hit(1, b), _hit(2, "完全不同的一段关于校园足球的文字。")])
    assert [h.chunk.chunk_id for h in kept] == [0, 2]


def test_document_frequency_is_the_number_of_passages_containing_a_token():
    from policyqa.lexical import LexicalIndex, tokenize

    texts = ["加强校园足球建设", "校园安全与足球", "教师队伍建设", "足球"]
    lex = LexicalIndex.build(texts)
    for token in {t for text in texts for t in tokenize(text)} | {"w:不存在的词"}:
        expected = sum(token in tokenize(text) for text in texts)
        assert lex.document_frequency(token) == expected == int((lex.scores([token]) > 0).sum()), token


def test_lexical_scores_equal_bm25s_and_survive_save_and_load(tmp_path):
    import bm25s

    from policyqa.lexical import LexicalIndex, tokenize
    from policyqa.store import RowFile

    texts = ["加强校园足球建设，足球进校园", "校园安全与足球", "教师队伍建设", "足球", "English words and 2025"]
    lex = LexicalIndex.build(texts)
    ref = bm25s.BM25(k1=1.2, b=0.75)
    ref.index([tokenize(t) for t in texts], show_progress=False)
    lex.save(tmp_path / "lex")
    loaded = LexicalIndex.load(tmp_path / "lex")
    assert isinstance(loaded.data, RowFile) and loaded.n_docs == len(texts)
    for query in ["校园足球", "足球 足球 建设", "english 2025", "完全无关"]:
        toks = tokenize(query)
        known = [t for t in toks if t in ref.vocab_dict]
        expected = np.asarray(ref.get_scores(known), dtype=np.float32) if known else np.zeros(len(texts))
        assert np.allclose(lex.scores(toks), expected, atol=1e-6), query
        assert np.array_equal(loaded.scores(toks), lex.scores(toks)), query
        assert loaded.coverage(toks) == lex.coverage(toks) == (len(known) / len(toks) if toks else 0.0)
    assert "w:足球" in loaded.vocab and "w:篮球" not in loaded.vocab and 3 not in loaded.vocab


def test_unknown_words_are_the_question_words_no_passage_has():
    from policyqa.lexical import LexicalIndex
    from policyqa.search import unknown_words, without_words

    data = SimpleNamespace(lexical=LexicalIndex.build(["完善校园突发事件应急处置预案", "加强校园安全管理"]))
    assert unknown_words(data, "校园欺凌事件怎么预防和处置?") == ["欺凌", "预防"]
    assert unknown_words(data, "校园安全管理有什么要求?") == []
    assert without_words("校園欺凌事件怎么预防", ["欺凌"]) == "校园事件怎么预防"  # folded


def test_off_topic_when_the_evidence_fits_the_question_without_its_unknown_words():
    from policyqa.search import evidence_vector, is_off_topic

    ev = np.array([1.0, 0.0], dtype=np.float32)
    question = np.array([0.90, 0.436], dtype=np.float32)
    reduced = np.array([0.95, 0.312], dtype=np.float32)  # closer to the evidence by 0.05
    assert is_off_topic(ev, question, reduced, margin=0.01)
    assert not is_off_topic(ev, question, reduced, margin=0.1)
    assert not is_off_topic(ev, reduced, question, margin=0.01)  # the unknown words helped
    vectors = np.eye(3, dtype=np.float32)
    data = SimpleNamespace(sentences=SimpleNamespace(of_chunk=lambda i: range(1, 3), spans=[(0, 5), (5, 9), (9, 20)],
                                                     vectors=vectors))
    hit = Hit(Chunk(7, "d", "s.txt", 5, 20, "x" * 15, "t", (), DocMeta()), score=1.0, evidence_span=(9, 20))
    assert np.array_equal(evidence_vector(data, hit), vectors[2])
    assert evidence_vector(data, Hit(hit.chunk, score=1.0)) is None


def test_engine_declines_off_topic_questions_where_the_model_has_a_margin(fake_settings):
    from policyqa import api, web

    engine = api.Engine.open(fake_settings, build_if_needed=True)
    question = "校园欺凌事件怎么处理"
    assert not engine.ask(question).abstained  # no margin for this model: not checked
    engine = api.Engine.open(replace(fake_settings, off_topic_margin=-2.0))  # any difference counts
    result = engine.search(question)  # 欺凌 is in no passage
    assert result.abstained and result.hits  # the verdict ask declines on; nearest passages kept
    assert engine.ask(question).abstained
    page = web.results_html(result)
    assert web.NOT_COVERED in page and "pqa-card" in page
    assert not engine.off_topic(engine.search("学前教育毛入园率"))  # every word is known
    assert not engine.ask("学前教育毛入园率").abstained


def test_answer_scorer_reads_indexed_vectors_and_embeds_only_unknown_sentences(fake_settings):
    from policyqa import api

    engine = api.Engine.open(fake_settings, build_if_needed=True)
    hits = engine.search("学前三年毛入园率", k=3).hits
    st = engine.data.sentences
    c = hits[0].chunk
    rows = {r: c.text[int(st.spans[r][0]) - c.start:int(st.spans[r][1]) - c.start] for r in st.of_chunk(c.chunk_id)}
    assert list(rows.values()) == [c.text[a:b] for a, b in sentence_spans(c.text) if b - a >= 4]
    row, indexed = next((r, t) for r, t in rows.items() if "毛入园率" in t)
    part = indexed.split("\n")[-1]  # the answer quotes the line, the index holds more
    assert part != indexed and part in indexed
    embedded: list[list[str]] = []
    real = engine.embed_passages
    engine.embed_passages = lambda texts: embedded.append(list(texts)) or real(texts)
    q = engine.query_vector("学前三年毛入园率")
    sims = api.IndexedScorer(engine.data, q, engine.embed_passages, hits).score(
        "学前三年毛入园率", [part, indexed, "完全不在索引里的一句话。"])
    expected = float(np.asarray(st.vectors[row], dtype=np.float32) @ q)
    assert sims[0] == pytest.approx(expected, abs=1e-6)  # a line of an indexed sentence
    assert sims[1] == pytest.approx(expected, abs=1e-6)
    assert embedded == [["完全不在索引里的一句话。"]]


def test_a_long_draft_lets_queries_use_the_model_between_its_batches(fake_settings):
    """Embedding many sentences takes the model lock one small batch at a time, so a query
    that arrives meanwhile is embedded before the long request has finished."""
    import threading

    from policyqa import api
    from policyqa.embed import HashEmbedder

    class Slow(HashEmbedder):
        def embed_passages(self, texts):
            time.sleep(0.005 * len(texts))  # cost grows with the batch, as a model's does
            return super().embed_passages(texts)

    engine = api.Engine.open(fake_settings, build_if_needed=True, embedder=Slow(dim=128))
    long_done = threading.Event()
    worker = threading.Thread(target=lambda: (engine.embed_passages([f"句子{i}" for i in range(200)]), long_done.set()))
    worker.start()
    time.sleep(0.1)
    vec = engine.query_vector("一个从未问过的问题")
    query_finished_first = not long_done.is_set()
    worker.join()
    assert vec.shape == (128,) and query_finished_first


def test_request_text_is_cut_to_what_the_model_reads():
    from policyqa.query_embed import MODEL_READS_CHARS, model_input

    long = "学前教育" * 400
    assert len(model_input(long)) == MODEL_READS_CHARS and model_input("入园率") == "入园率"
