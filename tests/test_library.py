from pathlib import Path

import pytest

from policyqa.api import Engine
from policyqa.errors import PolicyQAError
from policyqa.library import MAX_NAME_BYTES, add_file, inside, numbered_name, safe_name, unused_name


@pytest.mark.parametrize("hostile, expected", [
    ("../../x.txt", "x.txt"),
    ("/etc/cron.d/evil.txt", "evil.txt"),
    ("C:\\Windows\\evil.md", "evil.md"),
    ("..\\..\\up.txt", "up.txt"),
    (".hidden.txt", "hidden.txt"),
    ("计划<script>.txt", "计划_script_.txt"),
])
def test_hostile_names_stay_inside_the_corpus(tmp_path: Path, hostile: str, expected: str):
    corpus = tmp_path / "corpus"
    name = add_file(corpus, hostile, "一、总体要求\n内容。".encode(), max_bytes=1000)
    assert name == expected
    assert (corpus / expected).is_file()
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == [expected]


def test_a_name_already_in_the_corpus_is_kept_and_the_upload_numbered(tmp_path: Path):
    corpus = tmp_path / "corpus"
    names = [add_file(corpus, "../计划.docx" if i else "计划.docx", f"第{i}版".encode(), max_bytes=1000)
             for i in range(3)]
    assert names == ["计划.docx", "计划(2).docx", "计划(3).docx"]
    assert [(corpus / n).read_bytes().decode() for n in names] == ["第0版", "第1版", "第2版"]  # none replaced
    assert sorted(p.name for p in corpus.iterdir()) == sorted(names)  # no temporary file left


def test_numbered_names():
    assert numbered_name("名称.docx", 2) == "名称(2).docx"
    assert numbered_name("a.b.txt", 10) == "a.b(10).txt"
    long = safe_name("很长的名字" * 100 + ".txt")
    assert numbered_name(long, 2).endswith("(2).txt") and len(numbered_name(long, 2).encode()) <= MAX_NAME_BYTES
    taken = {"x.txt", "x(2).txt"}
    assert unused_name("x.txt", taken.__contains__) == "x(3).txt"
    assert unused_name("y.txt", taken.__contains__) == "y.txt"


def test_long_names_are_capped_and_keep_their_extension():
    name = safe_name("很长的名字" * 100 + ".txt")
    assert name.endswith(".txt") and len(name.encode()) <= 150


@pytest.mark.parametrize("bad", ["", "..", "/", "noext", "evil.exe", "x.txt.sh"])
def test_unusable_or_unsupported_names_are_refused(bad: str):
    with pytest.raises(PolicyQAError):
        safe_name(bad)


def test_oversize_and_empty_uploads_are_refused(tmp_path: Path):
    with pytest.raises(PolicyQAError, match="max_file_bytes"):
        add_file(tmp_path, "big.txt", b"x" * 2000, max_bytes=1000)
    with pytest.raises(PolicyQAError, match="empty"):
        add_file(tmp_path, "e.txt", b"", max_bytes=1000)
    assert not list(tmp_path.iterdir())


def test_inside_refuses_escapes(tmp_path: Path):
    with pytest.raises(PolicyQAError):
        inside(tmp_path, "../outside.txt")


def test_upload_reindex_search_remove(fake_settings, fake_embedder):
    engine = Engine.open(fake_settings, build_if_needed=True, embedder=fake_embedder)
    source = engine.add_file("../新计划.txt", "新计划\n一、研学旅行\n组织研学旅行实践活动三次。\n".encode("gbk"))
    summary = engine.reindex()
    assert summary.added == [source]
    assert any(h.chunk.source == source for h in engine.search("研学旅行", k=3).hits)
    assert any(row["source"] == source for row in engine.library())
    engine.remove_source(source)
    assert engine.reindex().removed == [source]
    assert all(h.chunk.source != source for h in engine.search("研学旅行", k=10).hits)
