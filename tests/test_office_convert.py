"""Old Word (.doc) and WPS (.wps) files through LibreOffice headless. The .doc fixture is a
.docx (python-docx) converted by LibreOffice itself.

Without LibreOffice the conversion tests fail, saying what to install; set
``POLICYQA_SKIP_LIBREOFFICE=1`` to skip them instead (shown in the warnings summary). The
"not installed" report is tested with a PATH that has no soffice."""

from __future__ import annotations

import io
import os
import subprocess
import time
import warnings
from pathlib import Path

import pytest

from policyqa.errors import LoadError
from policyqa.loaders import load_file
from policyqa.office_convert import INSTALL, Converter, find_soffice, read_legacy_word

LIMIT = 5_000_000
SKIP_ENV = "POLICYQA_SKIP_LIBREOFFICE"
BODY = "全面落实立德树人根本任务，推动全县教育高质量发展。"


def require_soffice() -> str:
    """LibreOffice's executable; skip when POLICYQA_SKIP_LIBREOFFICE=1, else fail without it."""
    if os.environ.get(SKIP_ENV) == "1":
        reason = f"LibreOffice tests skipped: {SKIP_ENV}=1"
        warnings.warn(reason, pytest.PytestWarning, stacklevel=2)
        pytest.skip(reason)
    program = find_soffice()
    if program is None:
        pytest.fail(f"the .doc/.wps tests need LibreOffice (soffice on PATH): {INSTALL}. "
                    f"Install it, or set {SKIP_ENV}=1 to skip these tests.", pytrace=False)
    return program


def make_docx() -> bytes:
    import docx

    d = docx.Document()
    d.add_paragraph("某县教育局2023年工作计划")
    d.add_paragraph(BODY)
    table = d.add_table(rows=2, cols=2)
    for r, row in enumerate((("指标", "目标"), ("学前三年毛入园率", "90%以上"))):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


@pytest.fixture(scope="module")
def old_doc(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A real Word 97 .doc, written by LibreOffice from a .docx (through .odt: LibreOffice's
    direct .docx → .doc export drops python-docx's table)."""
    program = require_soffice()
    work = tmp_path_factory.mktemp("make_doc")
    (work / "plan.docx").write_bytes(make_docx())
    for fmt, src in (("odt", work / "plan.docx"), ("doc", work / "out" / "plan.odt")):
        subprocess.run([program, "--headless", "--norestore", f"-env:UserInstallation={(work / 'profile').as_uri()}",
                        "--convert-to", fmt, "--outdir", str(work / "out"), str(src)],
                       check=True, capture_output=True, timeout=180)
    raw = (work / "out" / "plan.doc").read_bytes()
    assert raw.startswith(b"\xd0\xcf\x11\xe0")  # an OLE file, not a renamed .docx
    return raw


def test_doc_converted_by_libreoffice(tmp_path: Path, old_doc: bytes) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "旧 计划 (2023).doc").write_bytes(old_doc)  # spaces, brackets, CJK: copied under a safe name
    sf = load_file(corpus / "旧 计划 (2023).doc", corpus, LIMIT)
    assert sf.fmt == "doc" and "LibreOffice" in sf.encoding
    lines = sf.text.split("\n")
    assert lines[:2] == ["某县教育局2023年工作计划", BODY]
    assert "指标：学前三年毛入园率 | 目标：90%以上" in lines  # its table, with the header
    assert sorted(p.name for p in corpus.iterdir()) == ["旧 计划 (2023).doc"]  # nothing written beside it


def test_wps_goes_through_the_same_conversion(tmp_path: Path, old_doc: bytes) -> None:
    (tmp_path / "plan.wps").write_bytes(old_doc)  # LibreOffice reads the content, not the name
    sf = load_file(tmp_path / "plan.wps", tmp_path, LIMIT)
    assert sf.fmt == "wps" and BODY in sf.text


def test_damaged_doc_is_a_clear_load_error(tmp_path: Path) -> None:
    require_soffice()
    fake = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504) + "WordDocument".encode("utf-16-le") + bytes(1000)
    (tmp_path / "broken.doc").write_bytes(fake)
    with pytest.raises(LoadError) as info:
        load_file(tmp_path / "broken.doc", tmp_path, LIMIT)
    assert info.value.source == "broken.doc"
    assert "LibreOffice could not convert it" in info.value.reason and "save it as .docx" in info.value.reason


def test_not_installed_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))  # no soffice, no libreoffice
    (tmp_path / "old.doc").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(2000))
    with pytest.raises(LoadError) as info:
        load_file(tmp_path / "old.doc", tmp_path, LIMIT)
    assert info.value.source == "old.doc"
    assert info.value.reason.startswith("old Word/WPS file: install LibreOffice (Debian: apt-get install "
                                        "libreoffice-writer-nogui) or save it as .docx")


def test_renamed_docx_read_without_libreoffice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    (tmp_path / "really_docx.doc").write_bytes(make_docx())
    sf = load_file(tmp_path / "really_docx.doc", tmp_path, LIMIT)
    assert sf.fmt == "doc" and sf.encoding == "docx" and BODY in sf.text


def test_hanging_conversion_is_stopped(tmp_path: Path) -> None:
    hang = tmp_path / "fake-soffice"
    hang.write_text("#!/bin/sh\nsleep 60 &\nsleep 60\n", encoding="utf-8")  # a child in its group too
    hang.chmod(0o755)

    def never(raw: bytes, source: str, max_bytes: int):
        raise AssertionError("nothing to read after a timeout")

    started = time.monotonic()
    with pytest.raises(LoadError) as info:
        read_legacy_word(b"\xd0\xcf\x11\xe0" + bytes(100), "slow.doc", LIMIT, never,
                         Converter(str(hang), timeout=1))
    assert time.monotonic() - started < 30  # killed, children included (else communicate() waits)
    assert "LibreOffice took more than 1 s" in info.value.reason


def test_program_that_cannot_start(tmp_path: Path) -> None:
    with pytest.raises(LoadError, match="cannot start LibreOffice"):
        read_legacy_word(b"\xd0\xcf\x11\xe0" + bytes(100), "x.doc", LIMIT, lambda *a: ("", "", {}),
                         Converter(str(tmp_path / "missing-soffice")))


def test_missing_libreoffice_fails_the_tests_unless_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv(SKIP_ENV, raising=False)
    with pytest.raises(pytest.fail.Exception, match="libreoffice-writer-nogui"):
        require_soffice()
    monkeypatch.setenv(SKIP_ENV, "1")
    with pytest.warns(pytest.PytestWarning, match=SKIP_ENV):
        with pytest.raises(pytest.skip.Exception, match=SKIP_ENV):
            require_soffice()
