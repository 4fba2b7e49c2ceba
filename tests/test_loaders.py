"""loaders: encodings, newlines, BOMs, file discovery and clear load errors."""

from __future__ import annotations

import codecs
import hashlib
from pathlib import Path

import pytest

from policyqa.errors import LoadError
from policyqa.loaders import SUPPORTED_SUFFIXES, decode_bytes, iter_corpus_files, load_file

SIMPLIFIED = "教育局工作计划\n一、指导思想\n（一）学前教育：学前三年毛入园率达到90%以上。\n"
TRADITIONAL = "教育督導工作計劃\n一、全力推進義務教育均衡發展督導評估工作\n認真落實全省教育督導工作會議。\n"
LIMIT = 10_000


@pytest.fixture()
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    (root / "nested" / "deeper").mkdir(parents=True)
    (root / ".hidden_dir").mkdir()
    (root / "gbk.txt").write_bytes(SIMPLIFIED.encode("gbk"))
    (root / "big5.txt").write_bytes(TRADITIONAL.encode("big5"))
    (root / "utf16.txt").write_bytes(SIMPLIFIED.encode("utf-16"))  # with BOM, native order
    (root / "utf16be.txt").write_bytes(codecs.BOM_UTF16_BE + SIMPLIFIED.encode("utf-16-be"))
    (root / "bom.md").write_bytes(SIMPLIFIED.encode("utf-8-sig"))
    (root / "crlf.txt").write_bytes("第一行\r\n第二行\r第三行\n\r\n末行".encode("utf-8"))
    (root / "binary.txt").write_bytes(b"PK\x03\x04\x00\x00\x14\x00binary\x00\xff\xfe")
    (root / "empty.txt").write_bytes(b"")
    (root / "blank.txt").write_bytes(b"  \n\t\n")
    (root / "huge.txt").write_bytes(("很长的文本。" * 1000).encode("utf-8"))
    (root / "report.xyz").write_bytes(b"whatever")
    (root / "nested" / "deeper" / "plan.txt").write_text(SIMPLIFIED, encoding="utf-8")
    (root / ".hidden.txt").write_text("secret", encoding="utf-8")
    (root / ".hidden_dir" / "x.txt").write_text("secret", encoding="utf-8")
    return root


def _load(root: Path, name: str, limit: int = LIMIT):
    return load_file(root / name, root, limit)


def test_iter_corpus_files_sorted_recursive_skips_hidden(corpus: Path) -> None:
    names = [p.relative_to(corpus).as_posix() for p in iter_corpus_files(corpus)]
    assert names == sorted(names)
    assert "nested/deeper/plan.txt" in names
    assert "report.xyz" in names  # listed so that it can be reported
    assert not any(part.startswith(".") for n in names for part in n.split("/"))


def test_iter_corpus_files_single_file(corpus: Path) -> None:
    assert iter_corpus_files(corpus / "gbk.txt") == [corpus / "gbk.txt"]


def test_source_is_relative_posix(corpus: Path) -> None:
    sf = _load(corpus, "nested/deeper/plan.txt")
    assert sf.source == "nested/deeper/plan.txt"
    assert sf.text == SIMPLIFIED
    assert sf.encoding == "utf-8"
    assert sf.fmt == "txt"


def test_gbk(corpus: Path) -> None:
    sf = _load(corpus, "gbk.txt")
    assert sf.text == SIMPLIFIED
    assert sf.encoding == "gb18030"


def test_big5(corpus: Path) -> None:
    sf = _load(corpus, "big5.txt")
    assert sf.text == TRADITIONAL
    assert sf.encoding in ("big5", "cp950")


@pytest.mark.parametrize(
    "text, codec",
    [
        ("教育局工作计划", "gbk"),
        ("二、工作目标", "gbk"),
        ("学前教育", "gbk"),
        ("教育督導工作計劃", "big5"),
        ("認真落實", "big5"),
        ("學前教育三年毛入園率達到90%以上。", "big5"),
    ],
)
def test_short_legacy_texts_decode_correctly(text: str, codec: str) -> None:
    decoded, _ = decode_bytes(text.encode(codec))
    assert decoded == text


def test_utf16_with_bom(corpus: Path) -> None:
    for name in ("utf16.txt", "utf16be.txt"):
        sf = _load(corpus, name)
        assert sf.text == SIMPLIFIED
        assert sf.encoding.startswith("utf-16")
        assert "\ufeff" not in sf.text


def test_utf8_bom_is_stripped(corpus: Path) -> None:
    sf = _load(corpus, "bom.md")
    assert sf.text == SIMPLIFIED
    assert sf.text[0] == "教"  # offsets index the text after the BOM
    assert sf.encoding == "utf-8-sig"
    assert sf.fmt == "md"


def test_newlines_as_python_text_mode(corpus: Path) -> None:
    sf = _load(corpus, "crlf.txt")
    with open(corpus / "crlf.txt", encoding="utf-8") as fh:  # universal newlines
        assert sf.text == fh.read()
    assert sf.text == "第一行\n第二行\n第三行\n\n末行"


def test_hash_and_size_of_raw_bytes(corpus: Path) -> None:
    raw = (corpus / "gbk.txt").read_bytes()
    sf = _load(corpus, "gbk.txt")
    assert sf.sha256 == hashlib.sha256(raw).hexdigest()
    assert sf.size == len(raw)


def _error(corpus: Path, name: str, limit: int = LIMIT) -> LoadError:
    with pytest.raises(LoadError) as info:
        _load(corpus, name, limit)
    assert info.value.source == name
    assert name in str(info.value)
    return info.value


def test_binary_rejected(corpus: Path) -> None:
    assert "not text" in _error(corpus, "binary.txt").reason


def test_undecodable_rejected() -> None:
    with pytest.raises(LoadError, match="not text"):
        decode_bytes(bytes(range(1, 32)) * 20)


def test_empty_rejected(corpus: Path) -> None:
    assert "empty" in _error(corpus, "empty.txt").reason
    assert "empty" in _error(corpus, "blank.txt").reason


def test_oversize_rejected_with_setting_name(corpus: Path) -> None:
    size = (corpus / "huge.txt").stat().st_size
    reason = _error(corpus, "huge.txt", limit=1000).reason
    assert str(size) in reason and "1000" in reason and "max_file_bytes" in reason


def test_unsupported_extension(corpus: Path) -> None:
    reason = _error(corpus, "report.xyz").reason
    assert reason == f"unsupported file type '.xyz'; supported: {', '.join(SUPPORTED_SUFFIXES)}"


def test_unreadable_reports_os_error(corpus: Path) -> None:
    # Tests run as root, so chmod 000 would not stop the read: use a missing file instead.
    reason = _error(corpus, "gone.txt").reason
    assert reason.startswith("cannot read file:")
