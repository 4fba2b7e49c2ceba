"""On-disk stores (store.py) and the loaded index's memory layout (index.py)."""

import json

import numpy as np
import pytest

from policyqa.api import Engine, build_index, search_params
from policyqa.errors import IndexFormatError
from policyqa.index import FORMAT_VERSION, current_generation, load_index
from policyqa.search import filter_mask, lexical_side, search
from policyqa.store import LazyJson, RecordStore, RowFile, TextStore, write_records, write_texts
from policyqa.types import Filters


def test_record_store_reads_single_records_slices_and_streams(tmp_path):
    rows = [{"i": i, "text": "第" + "一" * i + "条，繁體"} for i in range(50)]
    assert write_records(tmp_path / "r.jsonl", rows) == 50
    store = RecordStore(tmp_path / "r.jsonl", lambda d: (d["i"], d["text"]))
    assert len(store) == 50 and store[7] == (7, rows[7]["text"]) and store[-1][0] == 49
    assert [x[0] for x in store[3:6]] == [3, 4, 5]
    assert [x[0] for x in store] == list(range(50))
    with pytest.raises(IndexError):
        store[50]


def test_record_store_refuses_a_file_that_does_not_match_its_offsets(tmp_path):
    write_records(tmp_path / "r.jsonl", [{"a": 1}, {"a": 2}])
    with open(tmp_path / "r.jsonl", "ab") as f:
        f.write(b'{"a": 3}\n')
    with pytest.raises(ValueError, match="offsets"):
        RecordStore(tmp_path / "r.jsonl", dict)


def test_empty_record_store(tmp_path):
    write_records(tmp_path / "e.jsonl", [])
    store = RecordStore(tmp_path / "e.jsonl", dict)
    assert len(store) == 0 and not store and list(store) == []


def test_text_store_is_a_mapping_with_exact_texts(tmp_path):
    texts = {"a.txt": "一、总体要求\r\n（一）繁體字", "sub/b.md": "", "c.txt": "x" * 5000}
    write_texts(tmp_path / "t.jsonl", texts)
    store = TextStore(tmp_path / "t.jsonl", keep=1)
    assert dict(store) == texts and "a.txt" in store and "zz" not in store
    assert store["c.txt"] == texts["c.txt"] and store["a.txt"] == texts["a.txt"]  # evicts c, re-reads fine
    assert store["c.txt"] == texts["c.txt"]
    with pytest.raises(KeyError):
        store["zz"]


def test_row_file_reads_rows_slices_and_whole(tmp_path):
    arr = (np.arange(60, dtype=np.float16) / 7).reshape(20, 3)
    np.save(tmp_path / "v.npy", arr)
    f = RowFile(tmp_path / "v.npy")
    assert f.shape == (20, 3) and len(f) == 20 and f.dtype == np.float16
    assert np.array_equal(f[4], arr[4]) and np.array_equal(f[-1], arr[-1])
    assert np.array_equal(f[3:7], arr[3:7]) and f[5:5].shape == (0, 3)
    assert np.array_equal(np.asarray(f), arr) and np.array_equal(f.astype(np.float32), arr.astype(np.float32))
    assert np.array_equal(f[::5], arr[::5])
    with pytest.raises(IndexError):
        f[20]
    np.save(tmp_path / "e.npy", np.zeros((0, 3), np.float16))
    assert len(RowFile(tmp_path / "e.npy")) == 0 and np.asarray(RowFile(tmp_path / "e.npy")).shape == (0, 3)
    with open(tmp_path / "v.npy", "r+b") as fh:
        fh.truncate(200)  # header (128 bytes) intact, rows cut
    with pytest.raises(ValueError, match="truncated"):
        RowFile(tmp_path / "v.npy")


def test_lazy_json_loads_on_first_use(tmp_path):
    p = tmp_path / "k.json"
    p.write_text(json.dumps(["a", "b"]), encoding="utf-8")
    lazy = LazyJson(p)
    p.write_text(json.dumps(["c"]), encoding="utf-8")  # not read yet: sees the new content
    assert list(lazy) == ["c"] and len(lazy) == 1 and lazy[0] == "c"


def test_loaded_index_keeps_bulky_parts_on_disk(fake_settings, fake_embedder):
    build_index(fake_settings, fake_embedder)
    data = load_index(fake_settings.index_dir)
    assert isinstance(data.sentences.vectors, RowFile) and isinstance(data.sentences.spans, RowFile)
    assert isinstance(data.chunks, RecordStore) and isinstance(data.documents, RecordStore)
    assert isinstance(data.texts, TextStore)
    for c in data.chunks:  # records read back exactly
        assert data.texts[c.source][c.start : c.end] == c.text
    assert data.doc_table is not None and len(data.doc_table.chunk_doc) == len(data.chunks)
    assert [data.doc_table.doc_ids[k] for k in data.doc_table.chunk_doc] == [c.doc_id for c in data.chunks]


def test_filter_mask_matches_a_per_chunk_check(fake_settings, fake_embedder):
    build_index(fake_settings, fake_embedder)
    data = load_index(fake_settings.index_dir)
    chunks = list(data.chunks)
    some = chunks[-1]
    cases = [
        Filters(year=some.metadata.year), Filters(source=some.source), Filters(doc_id=some.doc_id),
        Filters(doc_type=some.metadata.doc_type), Filters(source="nope.txt"), Filters(year=1999),
        Filters(region=(some.metadata.region or "无此地")[-2:]), Filters(doc_id="no-such-doc"),
        Filters(year=some.metadata.year, source=chunks[0].source),
    ]
    for f in cases:
        expected = [
            (not f.year or c.metadata.year == f.year) and (not f.source or c.source == f.source)
            and (not f.doc_id or c.doc_id == f.doc_id) and (not f.doc_type or c.metadata.doc_type == f.doc_type)
            and (not f.region or (c.metadata.region is not None and f.region in c.metadata.region))
            for c in chunks
        ]
        assert filter_mask(data, f).tolist() == expected, f
    assert filter_mask(data, Filters()) is None


def test_precomputed_lexical_side_gives_the_same_result(fake_settings, fake_embedder):
    engine = Engine.open(fake_settings, build_if_needed=True, embedder=fake_embedder)
    q = "学校体育 足球"
    params = search_params(fake_settings, 5)
    qv = engine.query_vector(q)
    direct = search(engine.data, qv, q, params)
    given = search(engine.data, qv, q, params, lexical_scores=lexical_side(engine.data, q))
    assert direct.to_json() == given.to_json() == engine.search(q, k=5).to_json()


def test_index_from_another_format_is_refused_then_rebuilt(fake_settings, fake_embedder):
    build_index(fake_settings, fake_embedder)
    manifest = current_generation(fake_settings.index_dir) / "manifest.json"
    d = json.loads(manifest.read_text(encoding="utf-8"))
    d["format_version"] = FORMAT_VERSION - 1
    manifest.write_text(json.dumps(d), encoding="utf-8")
    with pytest.raises(IndexFormatError, match="rebuild"):
        Engine.open(fake_settings, embedder=fake_embedder)
    engine = Engine.open(fake_settings, build_if_needed=True, embedder=fake_embedder)
    assert engine.manifest.format_version == FORMAT_VERSION and engine.search("体育").hits


def test_damaged_index_is_reported_with_what_to_do(fake_settings, fake_embedder):
    build_index(fake_settings, fake_embedder)
    (current_generation(fake_settings.index_dir) / "chunk_doc.npy").unlink()
    with pytest.raises(IndexFormatError, match="policyqa index --rebuild"):
        load_index(fake_settings.index_dir)


def test_text_store_serves_concurrent_readers(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    texts = {f"f{i}.txt": f"第{i}个文件。" * (i + 1) for i in range(40)}
    write_texts(tmp_path / "t.jsonl", texts)
    store = TextStore(tmp_path / "t.jsonl", keep=3)
    names = [f"f{i % 40}.txt" for i in range(4000)]
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(store.__getitem__, names))
    assert got == [texts[n] for n in names]
