"""Index storage integrity: damaged files give one line saying what to run, ``policyqa
index`` repairs by itself, a generation a reader holds survives builds in another process,
leftovers of killed builds are removed, and a full disk is one line with the old index
still serving."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest

from policyqa import cli
from policyqa import index as index_mod
from policyqa.api import Engine, build_index
from policyqa.config import load_settings
from policyqa.embed import HashEmbedder
from policyqa.errors import IndexDamagedError
from policyqa.generations import READERS_LOCK, record_checksums, verify_checksums
from policyqa.index import current_generation, load_index, tidy_index

from .conftest import PLAN_A, PLAN_B, write

ROOT = Path(__file__).resolve().parents[1]
MODEL = "hash:128"
ONE_LINE = r"^index damaged: (?P<file>[^\n]+?): (?P<reason>[^\n]+); run 'policyqa index --rebuild'$"


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    """A corpus and its index, built once; each test works on a copy."""
    base = tmp_path_factory.mktemp("pristine")
    write(base / "corpus" / "plan_a.txt", PLAN_A)
    write(base / "corpus" / "sub" / "plan_b.txt", PLAN_B, encoding="gbk")
    build_index(settings_for(base), HashEmbedder(128))
    return base


def settings_for(base: Path, **overrides):
    return load_settings(env={}, corpus=base / "corpus", index_dir=base / "index", model=MODEL, **overrides)


@pytest.fixture
def site(pristine: Path, tmp_path: Path) -> Path:
    shutil.copytree(pristine, tmp_path / "site", symlinks=True)  # (copy2 keeps modification times)
    return tmp_path / "site"


def generations(base: Path) -> set[str]:
    return {p.name for p in (base / "index").iterdir() if p.name not in ("current", ".lock")}


def update(base: Path):
    """``policyqa index`` without --rebuild: an update from the current index."""
    previous = load_index(base / "index")
    try:
        return build_index(settings_for(base), HashEmbedder(128), previous=previous)
    finally:
        previous.close()


def add_plan(base: Path, name: str) -> None:
    write(base / "corpus" / f"{name}.txt", f"{name}计划\n一、加强体育\n每天锻炼一小时，开展{name}活动。\n")


# --- damage ----------------------------------------------------------------------------


def _flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def _truncate(path: Path, keep: float) -> None:
    os.truncate(path, int(path.stat().st_size * keep))


def _edit_manifest(gen: Path) -> None:
    d = json.loads((gen / "manifest.json").read_text(encoding="utf-8"))
    d["n_chunks"] += 1  # still valid JSON of the right shape
    (gen / "manifest.json").write_text(json.dumps(d, ensure_ascii=False), encoding="utf-8")


DAMAGE: dict[str, tuple[str, Callable[[Path], None], str]] = {
    # kind: (file named in the message, how to damage the generation, words of the reason)
    "manifest not JSON": ("manifest.json", lambda g: (g / "manifest.json").write_text("{\"format_version\": 4,"),
                          "not valid JSON"),
    "manifest missing": ("manifest.json", lambda g: (g / "manifest.json").unlink(), "missing"),
    "manifest edited": ("manifest.json", _edit_manifest, "does not match the checksum"),
    "empty .npy": ("chunk_doc.npy", lambda g: _truncate(g / "chunk_doc.npy", 0), "0 bytes"),
    "truncated .npy": ("sentence_vectors.npy", lambda g: _truncate(g / "sentence_vectors.npy", 0.5), "truncated"),
    "truncated vectors.faiss": ("vectors.faiss", lambda g: _truncate(g / "vectors.faiss", 0.7), "truncated"),
    "byte flip in vectors": ("vectors.faiss", lambda g: _flip_byte(g / "vectors.faiss"), "does not match the checksum"),
    "byte flip in records": ("chunks.jsonl", lambda g: _flip_byte(g / "chunks.jsonl"), "does not match the checksum"),
    "missing file": ("lexical/data.npy", lambda g: (g / "lexical" / "data.npy").unlink(), "missing"),
    "generation folder gone": ("current", lambda g: shutil.rmtree(g), "which is missing"),
}


def damage(base: Path, kind: str) -> Path:
    gen = current_generation(base / "index")
    DAMAGE[kind][1](gen)
    return gen


def check_one_line(message: str, kind: str) -> None:
    import re

    m = re.match(ONE_LINE, message)
    assert m, message
    assert m["file"].endswith(DAMAGE[kind][0]) and DAMAGE[kind][2] in m["reason"], message


@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_each_damage_is_one_line_from_the_engine(site, kind):
    damage(site, kind)
    with pytest.raises(IndexDamagedError) as caught:
        Engine.open(settings_for(site), embedder=HashEmbedder(128))
    check_one_line(str(caught.value), kind)
    with pytest.raises(IndexDamagedError):  # serve opens with build_if_needed: damage is still reported
        Engine.open(settings_for(site), build_if_needed=True, embedder=HashEmbedder(128))


@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_each_damage_is_one_line_exit_2_from_the_cli(site, kind, capsys):
    damage(site, kind)
    code = cli.main(["search", "毛入园率", "--index-dir", str(site / "index"), "--model", MODEL])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith("policyqa: error: ")
    check_one_line(err.removeprefix("policyqa: error: ").rstrip("\n"), kind)


@pytest.mark.parametrize("command", [["search", "毛入园率"], ["ask", "毛入园率是多少"], ["compare", "学前三年毛入园率"],
                                     ["serve", "--port", "7999"]])
def test_commands_in_a_real_process_print_one_line_and_no_traceback(site, command):
    damage(site, "truncated vectors.faiss")
    env = {k: v for k, v in os.environ.items() if not k.startswith("POLICYQA_")}
    env["PYTHONPATH"] = str(ROOT / "src")
    proc = subprocess.run([sys.executable, "-m", "policyqa.cli", *command, "--index-dir", str(site / "index"),
                           "--corpus", str(site / "corpus"), "--model", MODEL],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert "Traceback" not in proc.stderr and lines[-1].startswith("policyqa: error: index damaged: "), proc.stderr
    check_one_line(lines[-1].removeprefix("policyqa: error: "), "truncated vectors.faiss")


@pytest.mark.parametrize("kind", ["manifest not JSON", "truncated vectors.faiss", "byte flip in records",
                                  "generation folder gone"])
def test_policyqa_index_rebuilds_an_unreadable_index_by_itself(site, kind, capsys):
    damaged = damage(site, kind)
    common = ["--corpus", str(site / "corpus"), "--index-dir", str(site / "index"), "--model", MODEL]
    assert cli.main(["index", *common]) == 0
    err = capsys.readouterr().err
    notice = [line for line in err.splitlines() if "rebuilding it from scratch" in line]
    assert len(notice) == 1 and notice[0].startswith("index damaged: ") and DAMAGE[kind][0] in notice[0], err
    assert cli.main(["search", "毛入园率", "--json", *common]) == 0
    assert json.loads(capsys.readouterr().out)["results"]
    assert not damaged.exists() and generations(site) == {current_generation(site / "index").name}


def test_large_files_are_hashed_when_their_time_changed(site):
    """Above ``hash_always_bytes`` a file is trusted by size and modification time (an
    untouched index opens without reading its vectors); any write changes the time."""
    gen = current_generation(site / "index")
    sums = record_checksums(gen)
    target = gen / "sentence_vectors.npy"
    st = target.stat()
    _flip_byte(target)
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    verify_checksums(gen, sums, hash_always_bytes=0)  # same size, same time: not read
    with pytest.raises(IndexDamagedError, match="sentence_vectors.npy: its content does not match"):
        verify_checksums(gen, sums)  # small enough to be hashed at every open
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns + 1))
    with pytest.raises(IndexDamagedError, match="sentence_vectors.npy: its content does not match"):
        verify_checksums(gen, sums, hash_always_bytes=0)


def test_a_new_generation_that_is_damaged_is_not_switched_to(site, caplog):
    engine = Engine.open(settings_for(site, reload_check_seconds=0), embedder=HashEmbedder(128))
    old = engine.data.path
    add_plan(site, "plan_c")
    build_index(settings_for(site), HashEmbedder(128))
    damage(site, "truncated vectors.faiss")
    assert engine.data.path == old and engine.search("学前三年毛入园率").hits
    assert "index damaged" in caplog.text
    engine.close()


# --- generations held by readers -------------------------------------------------------

READER = r"""
import json, sys
from pathlib import Path
from policyqa.api import Engine
from policyqa.config import load_settings
from policyqa.embed import HashEmbedder

base = Path(sys.argv[1])
s = load_settings(env={}, corpus=base / "corpus", index_dir=base / "index", model="hash:128",
                  reload_check_seconds=3600)
engine = Engine.open(s, embedder=HashEmbedder(128))
print(engine.data.path.name, flush=True)
assert sys.stdin.readline().strip() == "read"
data = engine.data
doc = engine.documents()[0]
report = {
    "generation": data.path.name,
    "text": engine.source_text(doc.source)[doc.start:doc.end][:20],
    "document": engine.document(doc.doc_id).title,
    "sentence_keys": len(data.sentences.keys),
    "embed_keys": len(data.embed_keys),
    "targets": len(list(data.targets)),
    "compare_rows": len(engine.compare("学前三年毛入园率").rows),
    "answer": engine.ask("学前三年毛入园率达到多少").answer[:20],
}
print(json.dumps(report, ensure_ascii=False), flush=True)
assert sys.stdin.readline().strip() == "close"
engine.close()
print("closed", flush=True)
sys.stdin.readline()
"""


def test_a_reader_in_another_process_keeps_its_generation_across_two_builds(site):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    reader = subprocess.Popen([sys.executable, "-c", READER, str(site)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, env=env)
    try:
        held = reader.stdout.readline().strip()
        assert held == current_generation(site / "index").name
        add_plan(site, "plan_c")
        build_index(settings_for(site), HashEmbedder(128))
        middle = current_generation(site / "index").name
        add_plan(site, "plan_d")
        build_index(settings_for(site), HashEmbedder(128))
        newest = current_generation(site / "index").name
        assert len({held, middle, newest}) == 3
        assert generations(site) == {held, newest}  # the middle one had no reader
        reader.stdin.write("read\n")
        reader.stdin.flush()
        report = json.loads(reader.stdout.readline())
        assert report["generation"] == held and report["text"] and report["document"]
        assert report["sentence_keys"] > 0 and report["embed_keys"] > 0 and report["targets"] > 0
        assert report["compare_rows"] > 0 and report["answer"]
        reader.stdin.write("close\n")
        reader.stdin.flush()
        assert reader.stdout.readline().strip() == "closed"
        assert update(site).up_to_date and generations(site) == {newest}  # nothing changed: only tidies
    finally:
        reader.kill()
        reader.wait()


def test_an_engine_releases_the_old_generation_when_it_switches(site):
    engine = Engine.open(settings_for(site, reload_check_seconds=0), embedder=HashEmbedder(128))
    old = engine.data.path.name
    assert engine.search("学前三年毛入园率").hits
    request = engine.data  # a request still answering from the old data
    add_plan(site, "plan_c")
    build_index(settings_for(site), HashEmbedder(128))
    new = current_generation(site / "index").name
    assert engine.data.path.name == new
    assert old in tidy_index(site / "index").in_use
    assert request.text("plan_a.txt")  # still readable
    del request
    removal = tidy_index(site / "index")
    assert removal.removed == [old] and generations(site) == {new}
    engine.close()


def test_reindex_in_the_serving_process_removes_its_previous_generation(site):
    engine = Engine.open(settings_for(site, reload_check_seconds=3600), embedder=HashEmbedder(128))
    old = engine.data.path.name
    add_plan(site, "plan_c")
    engine.reindex()
    assert engine.data.path.name != old and generations(site) == {engine.data.path.name}
    engine.close()


def test_opening_with_a_build_leaves_only_the_new_generation(site):
    add_plan(site, "plan_c")
    engine = Engine.open(settings_for(site), build_if_needed=True, embedder=HashEmbedder(128))
    assert "plan_c.txt" in engine.data.texts and generations(site) == {engine.data.path.name}
    engine.close()


def test_engine_close_releases_its_generation(site):
    engine = Engine.open(settings_for(site), embedder=HashEmbedder(128))
    lock = engine.data.path / READERS_LOCK
    fd = os.open(lock, os.O_RDONLY)
    try:
        with pytest.raises(BlockingIOError):
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        engine.close()
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(fd)


def test_leftovers_of_killed_builds_are_removed_by_the_next_build(site):
    index_dir = site / "index"
    gen = current_generation(index_dir)
    shutil.copytree(gen, index_dir / "gen-20000101-000000-1-1")  # written, `current` never switched
    shutil.copytree(gen, index_dir / "gen-20000101-000000-2-2")  # the same, but a reader holds it
    (index_dir / ".gen-20000101-000000-3-3.tmp" / "lexical").mkdir(parents=True)  # killed mid-write
    (index_dir / ".gen-20000101-000000-3-3.tmp" / "vectors.faiss").write_bytes(b"\0" * 100)
    (index_dir / ".gen-20000101-000000-4-4.trash").mkdir()  # killed mid-removal
    os.symlink("gen-x", index_dir / ".current.99.tmp")
    (index_dir / "notes.txt").write_text("the operator's own file")
    fd = os.open(index_dir / "gen-20000101-000000-2-2" / READERS_LOCK, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        assert update(site).up_to_date
        assert generations(site) == {gen.name, "gen-20000101-000000-2-2", "notes.txt"}
    finally:
        os.close(fd)
    assert update(site).up_to_date
    assert generations(site) == {gen.name, "notes.txt"}
    assert load_index(index_dir).path == gen


# --- full disk -------------------------------------------------------------------------


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT])
def test_a_full_disk_is_one_line_and_the_old_index_keeps_serving(site, code, monkeypatch, capsys):
    before = load_index(site / "index")
    fingerprint, gen = before.manifest.corpus_fingerprint, before.path
    before.close()
    add_plan(site, "plan_c")

    def full(path, array):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(index_mod, "write_npy", full)
    common = ["--corpus", str(site / "corpus"), "--index-dir", str(site / "index"), "--model", MODEL]
    assert cli.main(["index", *common]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[-1].startswith(f"policyqa: error: disk full while writing the index in {site / 'index'}")
    assert err[-1].endswith("free space and run 'policyqa index' again; the previous index is unchanged")
    assert not any("Traceback" in line for line in err)
    monkeypatch.undo()
    assert generations(site) == {gen.name}  # nothing of the new generation is left
    engine = Engine.open(settings_for(site), embedder=HashEmbedder(128))
    assert engine.manifest.corpus_fingerprint == fingerprint and engine.search("学前三年毛入园率").hits
    engine.close()
