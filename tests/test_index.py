"""Index build/load with the fake embedder on a small fixture corpus."""

import json
from pathlib import Path

import pytest

from policyqa import index as index_mod
from policyqa.api import Engine, build_index, index_is_current
from policyqa.config import load_settings
from policyqa.embed import HashEmbedder
from policyqa.errors import DiskFullError, IndexBusyError, IndexMismatchError, IndexMissingError
from policyqa.index import IndexData, build_lock, load_index
from policyqa.types import Filters


def test_build_reports_bad_files_and_keeps_the_rest(fake_settings, fake_embedder):
    summary = build_index(fake_settings, fake_embedder)
    assert summary.files == 2 and summary.chunks > 0
    assert [s["source"] for s in summary.skipped] == ["broken.txt"]
    assert "empty" in summary.skipped[0]["reason"]
    data = load_index(fake_settings.index_dir)
    assert {c.source for c in data.chunks} == {"plan_a.txt", "sub/plan_b_gbk.txt"}
    for c in data.chunks:
        assert data.texts[c.source][c.start:c.end] == c.text
    assert data.manifest.model == "hash:128" and data.manifest.dim == 128
    assert data.manifest.skipped[0]["source"] == "broken.txt"


def test_search_filters_and_citations(fake_settings, fake_embedder):
    engine = Engine.open(fake_settings, build_if_needed=True, embedder=fake_embedder)
    res = engine.search("校园足球", k=3)
    top = res.hits[0].chunk
    assert top.source == "sub/plan_b_gbk.txt" and "足球" in top.text
    only_a = engine.search("校园足球", k=5, filters=Filters(source="plan_a.txt"))
    assert only_a.hits and all(h.chunk.source == "plan_a.txt" for h in only_a.hits)
    assert res.to_json()["results"][0]["text"] == engine.source_text(top.source)[top.start:top.end]
    by_year = engine.search("教育", k=10, filters=Filters(year=2022))
    assert by_year.hits and {h.chunk.source for h in by_year.hits} == {"sub/plan_b_gbk.txt"}
    assert not engine.search("教育", k=10, filters=Filters(year=1999)).hits


def test_changed_corpus_is_detected_and_unchanged_passages_reuse_vectors(fake_settings, fake_embedder):
    first = build_index(fake_settings, fake_embedder)
    assert index_is_current(fake_settings)  # the skipped empty file, unchanged, is no change
    (fake_settings.corpus / "broken.txt").write_text("修好了：一、加强体育。", encoding="utf-8")
    assert not index_is_current(fake_settings)
    (fake_settings.corpus / "broken.txt").write_text("", encoding="utf-8")
    assert index_is_current(fake_settings)
    (fake_settings.corpus / "plan_c.txt").write_text("新增计划\n一、加强体育\n每天锻炼一小时。\n", encoding="utf-8")
    assert not index_is_current(fake_settings)
    second = build_index(fake_settings, fake_embedder, previous=load_index(fake_settings.index_dir))
    assert second.reused > 0 and 0 < second.embedded < first.embedded
    assert index_is_current(fake_settings)


def test_index_refuses_another_model(fake_settings, fake_embedder, monkeypatch):
    build_index(fake_settings, fake_embedder)
    other = load_settings(env={}, corpus=fake_settings.corpus, index_dir=fake_settings.index_dir, model="hash:64")
    closed = []
    real_close = IndexData.close
    monkeypatch.setattr(IndexData, "close", lambda self: (closed.append(self.path), real_close(self)))
    with pytest.raises(IndexMismatchError, match="hash:128"):
        Engine.open(other, embedder=HashEmbedder(64))
    assert len(closed) == 1 and closed[0] is not None  # its files and generation lock released at once


def test_missing_index_says_how_to_build(tmp_path):
    s = load_settings(env={}, index_dir=tmp_path / "none", model="hash:128")
    with pytest.raises(IndexMissingError, match="policyqa index"):
        Engine.open(s, embedder=HashEmbedder(128))


def test_second_build_is_refused_while_one_runs(fake_settings, fake_embedder):
    with build_lock(fake_settings.index_dir):
        with pytest.raises(IndexBusyError, match="another policyqa process"):
            build_index(fake_settings, fake_embedder)


def test_failed_build_leaves_previous_index_serving(fake_settings, fake_embedder, monkeypatch):
    build_index(fake_settings, fake_embedder)
    before = load_index(fake_settings.index_dir).manifest.corpus_fingerprint
    (fake_settings.corpus / "plan_c.txt").write_text("新增计划\n一、加强体育\n每天锻炼一小时。\n", encoding="utf-8")

    def boom(self, directory: Path) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(index_mod.LexicalIndex, "save", boom)
    with pytest.raises(DiskFullError, match="^disk full while writing the index in .*the previous index is unchanged$"):
        build_index(fake_settings, fake_embedder)
    monkeypatch.undo()
    data = load_index(fake_settings.index_dir)
    assert data.manifest.corpus_fingerprint == before
    assert not [p for p in fake_settings.index_dir.iterdir() if p.name.endswith(".tmp")]
    engine = Engine.open(fake_settings, embedder=fake_embedder)
    assert engine.search("学前三年毛入园率").hits


def test_cli_json_and_batch(fake_settings, fake_embedder, capsys, monkeypatch, tmp_path):
    from policyqa import cli

    common = ["--corpus", str(fake_settings.corpus), "--index-dir", str(fake_settings.index_dir), "--model", "hash:128"]
    assert cli.main(["index", *common, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["chunks"] > 0 and summary["skipped"][0]["source"] == "broken.txt"
    assert cli.main(["search", "毛入园率", "--json", "--k", "3", *common]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) >= {"query", "abstained", "results"}
    r = out["results"][0]
    assert set(r) >= {"source", "start", "end", "text", "title", "heading_path", "score", "doc_id", "metadata"}
    batch = tmp_path / "q.jsonl"
    batch.write_text('{"id": "a", "query": "足球"}\n{"id": "b", "query": "教师培训"}\n', encoding="utf-8")
    assert cli.main(["search", "--batch", str(batch), "--k", "2", *common]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [x["id"] for x in lines] == ["a", "b"]
    assert all(set(x) >= {"top_score", "abstained", "results"} and len(x["results"]) <= 2 for x in lines)


def test_cli_errors_are_one_line_exit_2(tmp_path, capsys):
    from policyqa import cli

    code = cli.main(["search", "x", "--index-dir", str(tmp_path / "nothing"), "--model", "hash:128"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("policyqa: error:") and err.count("\n") == 1


def test_incremental_summary_and_unchanged_reindex_writes_nothing(fake_settings, fake_embedder):
    build_index(fake_settings, fake_embedder)
    gen = load_index(fake_settings.index_dir).path
    same = build_index(fake_settings, fake_embedder, previous=load_index(fake_settings.index_dir))
    assert same.up_to_date and same.embedded == 0
    assert load_index(fake_settings.index_dir).path == gen
    corpus = fake_settings.corpus
    (corpus / "plan_a.txt").write_text((corpus / "plan_a.txt").read_text(encoding="utf-8") + "四、新增一条要求。\n", encoding="utf-8")
    (corpus / "sub" / "plan_b_gbk.txt").unlink()
    (corpus / "plan_c.md").write_text("# 新计划\n一、加强体育\n每天锻炼一小时。\n", encoding="utf-8")
    s = build_index(fake_settings, fake_embedder, previous=load_index(fake_settings.index_dir))
    assert (s.added, s.updated, s.removed) == (["plan_c.md"], ["plan_a.txt"], ["sub/plan_b_gbk.txt"])
    data = load_index(fake_settings.index_dir)
    assert {c.source for c in data.chunks} == {"plan_a.txt", "plan_c.md"}
    assert [c.chunk_id for c in data.chunks] == list(range(len(data.chunks)))
    assert any("新增一条要求" in c.text for c in data.chunks)


def test_section_appended_after_a_scraped_footer_is_indexed_under_its_heading(fake_settings, fake_embedder):
    page = fake_settings.corpus / "scraped.txt"
    footer = "\n本内容由某人收集整理,不代表本站观点\n上一篇 2025年10月31日\n\n相关推荐\n\n发表回复\n\n登录后才能评论\n"
    page.write_text("某县教育局工作计划\n一、总体要求\n坚持立德树人,全面提高义务教育质量。\n" + footer, encoding="utf-8")
    build_index(fake_settings, fake_embedder)
    added = "\n七、组织实施\n各县区要建立工作专班,每季度召开一次推进会,研究解决课后服务经费保障问题。\n"
    page.write_text(page.read_text(encoding="utf-8") + added, encoding="utf-8")
    s = build_index(fake_settings, fake_embedder, previous=load_index(fake_settings.index_dir))
    assert s.updated == ["scraped.txt"] and s.embedded > 0
    new = [c for c in load_index(fake_settings.index_dir).chunks if "课后服务经费" in c.text]
    assert len(new) == 1 and "七、组织实施" in " ".join(new[0].heading_path)
    assert "相关推荐" not in new[0].text and "评论" not in new[0].text


KILL_SCRIPT = r"""
import sys, time
from pathlib import Path
from policyqa.api import build_index
from policyqa.config import load_settings
from policyqa.embed import HashEmbedder

class Slow(HashEmbedder):
    def embed_passages(self, texts):
        Path(sys.argv[3]).write_text("embedding")
        time.sleep(0.2)
        return super().embed_passages(texts)

s = load_settings(env={}, corpus=sys.argv[1], index_dir=sys.argv[2], model="hash:128", batch_size=2)
build_index(s, Slow(128))
"""


def test_killed_build_leaves_previous_index_serving(fake_settings, fake_embedder, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    build_index(fake_settings, fake_embedder)
    before = load_index(fake_settings.index_dir).manifest.corpus_fingerprint
    (fake_settings.corpus / "plan_c.txt").write_text("新增计划\n" + "每天锻炼一小时。\n" * 40, encoding="utf-8")
    flag = tmp_path / "started"
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(fake_settings.corpus),
                             str(fake_settings.index_dir), str(flag)])
    deadline = time.monotonic() + 60
    while not flag.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the build finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    data = load_index(fake_settings.index_dir)
    assert data.manifest.corpus_fingerprint == before
    engine = Engine.open(fake_settings, embedder=fake_embedder)
    assert engine.search("学前三年毛入园率").hits
    # the lock died with the process: a new build runs and picks up the change
    s = build_index(fake_settings, fake_embedder, previous=data)
    assert s.added == ["plan_c.txt"]


def test_start_up_check_trusts_size_and_mtime_and_hashes_only_touched_files(fake_settings, fake_embedder, monkeypatch):
    import os

    from policyqa import build

    build_index(fake_settings, fake_embedder)
    hashed: list[str] = []
    real = build._raw_state
    monkeypatch.setattr(build, "_raw_state", lambda p: hashed.append(p.name) or real(p))
    assert index_is_current(fake_settings)
    assert hashed == ["broken.txt"]  # indexed files: size and mtime match, nothing read
    plan = fake_settings.corpus / "plan_a.txt"
    st = plan.stat()
    os.utime(plan, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # touched, same bytes
    hashed.clear()
    assert index_is_current(fake_settings) and "plan_a.txt" in hashed
    text = plan.read_text(encoding="utf-8")
    plan.write_text(text.replace("92%", "95%"), encoding="utf-8")  # same size, new time
    assert not index_is_current(fake_settings)
