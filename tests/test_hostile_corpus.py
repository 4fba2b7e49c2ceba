"""Hostile corpus folders: links leading outside, names that are not UTF-8, absurdly deep
trees and folders with nothing to index. Real files in tmp_path, the HashEmbedder."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from policyqa import cli
from policyqa.api import build_index, index_is_current
from policyqa.config import load_settings
from policyqa.embed import HashEmbedder
from policyqa.errors import LoadError, PolicyQAError
from policyqa.index import corpus_fingerprint, load_index
from policyqa.ingest import CorpusError
from policyqa.lexical import LexicalIndex
from policyqa.loaders import MAX_DEPTH, corpus_path, iter_corpus_files, load_file, source_name, walk_corpus

PLAN = "某县教育局2023年工作计划\n一、加强学前教育\n全县学前三年毛入园率达到92%以上。\n"
SECRET = "root:x:0:0:root:/root:/usr/sbin/nologin secretword\n"


def _settings(corpus: Path, tmp_path: Path):
    return load_settings(env={}, corpus=corpus, index_dir=tmp_path / "index", model="hash:64")


def _manifest_json(index_dir: Path) -> dict:
    """The newest generation's manifest, read as strict UTF-8 JSON."""
    (manifest,) = sorted(index_dir.glob("gen-*/manifest.json"))[-1:]
    return json.loads(manifest.read_bytes().decode("utf-8"))


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder next to the corpus, with a file the build must never read."""
    out = tmp_path / "outside"
    out.mkdir()
    (out / "passwd").write_text(SECRET, encoding="utf-8")
    (out / "more.txt").write_text("外部文件\n一、不应出现\nsecretword 外部内容。\n", encoding="utf-8")
    return out


@pytest.fixture
def linked_corpus(tmp_path: Path, outside: Path) -> Path:
    root = tmp_path / "corpus"
    (root / "sub").mkdir(parents=True)
    (root / "plan.txt").write_text(PLAN, encoding="utf-8")
    os.symlink(outside / "passwd", root / "passwd.txt")  # absolute
    os.symlink("../../outside/passwd", root / "sub" / "rel_passwd.txt")  # relative, climbing out
    os.symlink(outside, root / "outdir")  # a folder outside
    os.symlink("loop_b.txt", root / "loop_a.txt")
    os.symlink("loop_a.txt", root / "loop_b.txt")
    os.symlink("missing.txt", root / "dangling.txt")
    os.symlink("plan.txt", root / "alias.txt")  # inside: indexed once, under plan.txt
    os.symlink("..", root / "sub" / "up")  # the corpus root itself: no endless walk
    (root / ".hidden.txt").write_text(PLAN, encoding="utf-8")
    (root / ".git").mkdir()
    (root / ".git" / "notes.txt").write_text(PLAN, encoding="utf-8")
    return root


# ---------------------------------------------------------------- 1. symbolic links


def test_walk_reports_every_refused_entry_by_name_and_reason(linked_corpus: Path) -> None:
    walk = walk_corpus(linked_corpus)
    assert [source_name(p, linked_corpus) for p in walk.files] == ["plan.txt"]
    reasons = {e.source: e.reason for e in walk.skipped}
    assert set(reasons) == {"passwd.txt", "sub/rel_passwd.txt", "outdir", "loop_a.txt", "loop_b.txt",
                            "dangling.txt", "alias.txt", "sub/up", ".hidden.txt", ".git"}
    for name in ("passwd.txt", "sub/rel_passwd.txt", "outdir"):
        assert "outside the corpus" in reasons[name]
    assert "loop" in reasons["loop_a.txt"] and "loop" in reasons["loop_b.txt"]
    assert "dangling" in reasons["dangling.txt"]
    assert "'plan.txt'" in reasons["alias.txt"] and "inside the corpus" in reasons["alias.txt"]
    assert "hidden file" in reasons[".hidden.txt"] and "hidden folder" in reasons[".git"]
    assert all(isinstance(e, LoadError) for e in walk.skipped)


def test_build_never_indexes_files_outside_and_lists_them_as_skipped(linked_corpus, tmp_path) -> None:
    settings = _settings(linked_corpus, tmp_path)
    summary = build_index(settings, HashEmbedder(dim=64))
    assert summary.files == 1  # plan.txt, once (alias.txt is a link to it)
    skipped = {e["source"]: e["reason"] for e in summary.skipped}
    assert "outside the corpus" in skipped["passwd.txt"] and "dangling" in skipped["dangling.txt"]
    data = load_index(settings.index_dir)
    assert set(data.texts) == {"plan.txt"}
    assert all("secretword" not in c.text for c in data.chunks)


def test_cli_search_never_returns_the_linked_file(linked_corpus, tmp_path, capsys) -> None:
    common = ["--corpus", str(linked_corpus), "--index-dir", str(tmp_path / "index"), "--model", "hash:64"]
    assert cli.main(["index", *common, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert {"passwd.txt", "sub/rel_passwd.txt", "outdir"} <= {e["source"] for e in summary["skipped"]}
    assert cli.main(["search", "root nologin secretword", *common, "--json"]) == 0
    results = json.loads(capsys.readouterr().out)["results"]
    assert results and {r["source"] for r in results} == {"plan.txt"}
    assert not any("nologin" in r["text"] or "secretword" in r["text"] for r in results)



def test_refused_entries_are_never_opened_and_keep_the_index_current(linked_corpus, tmp_path) -> None:
    settings = _settings(linked_corpus, tmp_path)
    build_index(settings, HashEmbedder(dim=64))
    entry = next(e for e in _manifest_json(settings.index_dir)["skipped"] if e["source"] == "passwd.txt")
    assert "sha256" not in entry and "size" not in entry  # the outside file was not even hashed
    assert index_is_current(settings)


def test_load_file_refuses_a_file_swapped_for_a_link_after_the_walk(linked_corpus, outside) -> None:
    (path,) = iter_corpus_files(linked_corpus)  # plan.txt, a regular file when walked
    path.unlink()
    os.symlink(outside / "passwd", path)  # the race: replaced before it is opened
    with pytest.raises(LoadError, match="symbolic link"):
        load_file(path, linked_corpus, 10_000)


def test_load_file_refuses_a_folder_swapped_for_a_link_after_the_walk(tmp_path, outside) -> None:
    root = tmp_path / "corpus"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "more.txt").write_text(PLAN, encoding="utf-8")
    (path,) = iter_corpus_files(root)
    (root / "sub" / "more.txt").unlink()
    (root / "sub").rmdir()
    os.symlink(outside, root / "sub")  # sub/more.txt now names outside/more.txt
    with pytest.raises(LoadError, match="symbolic link"):
        load_file(path, root, 10_000)


def test_a_corpus_root_that_is_a_link_is_walked(tmp_path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (real / "plan.txt").write_text(PLAN, encoding="utf-8")
    os.symlink(real, tmp_path / "corpus")
    root = tmp_path / "corpus"
    (path,) = iter_corpus_files(root)
    assert load_file(path, root, 10_000).source == "plan.txt"


# ---------------------------------------------------------------- 2. names that are not UTF-8


def _bytes_file(folder: Path, name: bytes, text: str) -> None:
    fd = os.open(os.path.join(os.fsencode(folder), name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        os.write(fd, text.encode("utf-8"))
    finally:
        os.close(fd)


GBK_NAME = "计划".encode("gbk") + b".txt"
GBK_TEXT = "某县体育工作计划\n一、加强体育\n每天校园体育活动一小时，足球队达到120支。\n"


def test_gbk_file_name_is_indexed_with_a_readable_source(fake_settings) -> None:
    _bytes_file(fake_settings.corpus, GBK_NAME, GBK_TEXT)
    summary = build_index(fake_settings, HashEmbedder(dim=64))
    assert "计划.txt" in summary.added and summary.files == 3
    manifest = _manifest_json(fake_settings.index_dir)  # valid UTF-8 JSON
    assert manifest["files"]["计划.txt"]["size"] == len(GBK_TEXT.encode("utf-8"))
    data = load_index(fake_settings.index_dir)
    assert data.texts["计划.txt"] == GBK_TEXT
    assert corpus_path(fake_settings.corpus, "计划.txt").read_bytes() == GBK_TEXT.encode("utf-8")
    assert index_is_current(fake_settings)  # the re-stat by name finds the same file
    again = build_index(fake_settings, HashEmbedder(dim=64), previous=data)
    assert again.up_to_date


def test_name_clashing_after_decoding_and_undecodable_names_stay_apart(tmp_path) -> None:
    root = tmp_path / "corpus"
    root.mkdir()
    (root / "计划.txt").write_text(PLAN, encoding="utf-8")  # the same name, really in UTF-8
    _bytes_file(root, GBK_NAME, GBK_TEXT)
    _bytes_file(root, b"\xff\xfe.txt", GBK_TEXT)  # neither UTF-8 nor GB18030
    sources = [source_name(p, root) for p in iter_corpus_files(root)]
    escaped = GBK_NAME.decode("utf-8", "backslashreplace")  # (b"\\xc6\\xbb" happens to be UTF-8: "ƻ")
    assert escaped.startswith("\\xbc") and escaped.endswith("\\xae.txt")
    assert sorted(sources) == sorted(["计划.txt", escaped, "\\xff\\xfe.txt"])
    for source in sources:
        json.dumps(source, ensure_ascii=False).encode("utf-8")  # no lone surrogates
        path = corpus_path(root, source)
        assert source_name(path, root) == source and load_file(path, root, 10_000).source == source
    assert corpus_path(root, "计划.txt").read_text(encoding="utf-8") == PLAN


def test_gbk_folder_name_is_walked(tmp_path) -> None:
    root = tmp_path / "corpus"
    folder = os.path.join(os.fsencode(root), "文件".encode("gbk"))
    os.makedirs(folder)
    _bytes_file(Path(os.fsdecode(folder)), GBK_NAME, GBK_TEXT)
    (path,) = iter_corpus_files(root)
    assert source_name(path, root) == "文件/计划.txt"
    assert corpus_path(root, "文件/计划.txt") == path


def test_fingerprint_hashes_a_name_that_is_not_unicode() -> None:
    assert corpus_fingerprint({"\udcbc\udcc6.txt": "0" * 64}) != corpus_fingerprint({"a.txt": "0" * 64})
    assert corpus_fingerprint({"计划.txt": "ab"}) == corpus_fingerprint({"计划.txt": "ab"})


# ---------------------------------------------------------------- 3. deep trees


def _remove_tree(top: Path) -> None:
    """Remove a tree without recursion (shutil.rmtree recurses once per level)."""
    folders, stack = [], [str(top)]
    while stack:
        folder = stack.pop()
        folders.append(folder)
        for entry in os.scandir(folder):
            if entry.is_dir(follow_symlinks=False):
                stack.append(entry.path)
            else:
                os.unlink(entry.path)
    for folder in reversed(folders):  # children were listed after their parents
        os.rmdir(folder)


@pytest.fixture
def deep_corpus(tmp_path: Path):
    root = tmp_path / "corpus"
    root.mkdir()
    (root / "plan.txt").write_text(PLAN, encoding="utf-8")
    folder = str(root)
    for level in range(1, 1001):
        folder = os.path.join(folder, "d")
        os.mkdir(folder)
        if level in (10, 1000):
            Path(folder, f"level{level}.txt").write_text(f"第{level}层计划\n一、内容\n测试文本{level}。\n", encoding="utf-8")
    yield root
    _remove_tree(root)


def test_a_1000_level_tree_builds_and_reports_the_cut(deep_corpus, tmp_path) -> None:
    summary = build_index(_settings(deep_corpus, tmp_path), HashEmbedder(dim=64))
    assert summary.files == 2  # plan.txt and level 10
    (cut,) = summary.skipped
    assert cut["source"] == "/".join(["d"] * (MAX_DEPTH + 1)) and f"{MAX_DEPTH} levels" in cut["reason"]


# ---------------------------------------------------------------- 4. nothing to index


def test_nothing_indexable_says_so_and_keeps_the_existing_index(tmp_path) -> None:
    root = tmp_path / "corpus"
    root.mkdir()
    (root / "plan.txt").write_text(PLAN, encoding="utf-8")
    settings = _settings(root, tmp_path)
    build_index(settings, HashEmbedder(dim=64))
    before = load_index(settings.index_dir).manifest.created
    (root / "plan.txt").write_bytes(b"")
    (root / "notes.xyz").write_text("x", encoding="utf-8")
    with pytest.raises(CorpusError) as info:
        build_index(settings, HashEmbedder(dim=64))
    message = str(info.value)
    assert message.startswith(f"no file in {root} could be indexed: 2 skipped")
    assert "notes.xyz: unsupported file type" in message and "plan.txt: empty file" in message
    assert "add .txt" in message and "\n" not in message
    assert load_index(settings.index_dir).manifest.created == before  # still serving


def test_empty_and_missing_corpus_folders_give_one_line_errors(tmp_path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CorpusError, match=r"^corpus folder .*empty is empty: add \.txt"):
        build_index(_settings(empty, tmp_path), HashEmbedder(dim=64))
    with pytest.raises(CorpusError, match=r"^corpus folder .*nowhere not found: give an existing folder"):
        build_index(_settings(tmp_path / "nowhere", tmp_path), HashEmbedder(dim=64))
    assert issubclass(CorpusError, PolicyQAError)


def test_cli_reports_an_empty_corpus_in_one_line(tmp_path, capsys) -> None:
    (tmp_path / "corpus").mkdir()
    code = cli.main(["index", "--corpus", str(tmp_path / "corpus"), "--index-dir", str(tmp_path / "index"),
                     "--model", "hash:64"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and any("is empty: add .txt" in line for line in err)


def test_lexical_index_of_no_texts_is_empty() -> None:
    index = LexicalIndex.build([])
    assert index.n_docs == 0 and len(index.vocab) == 0
