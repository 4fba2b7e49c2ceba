"""Old Word (.doc) and WPS (.wps) files → .docx through LibreOffice headless, then read as .docx.

``read_legacy_word(raw, source, max_bytes, read_docx)`` is a loader reader (see
``loaders``): the file's bytes are written under a safe ASCII name into a private temporary
folder (the corpus is never touched, whatever its file names), converted there by
``soffice --headless --convert-to docx`` with a profile of its own in that folder (a user's
running LibreOffice neither blocks nor sees it), and the result is read by ``read_docx``.
The conversion runs in its own process group and is killed, children included, after
``CONVERT_TIMEOUT`` seconds. The executable is the first of ``SOFFICE_NAMES`` found on PATH.

A ``.doc`` that is really a .docx (renamed) is read directly. Failures are ``LoadError``:
LibreOffice missing (with how to install it), a conversion that fails or times out.
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable

from .errors import LoadError

SOFFICE_NAMES: tuple[str, ...] = ("soffice", "libreoffice")
CONVERT_TIMEOUT = 120.0  # seconds; a big .doc converts in a few
INSTALL = "apt-get install libreoffice-writer-nogui"
NOT_INSTALLED = (f"old Word/WPS file: install LibreOffice (Debian: {INSTALL}) or save it as .docx "
                 "in Word/WPS and add it again")

Reader = tuple[str, str, dict[str, str]]
DocxReader = Callable[[bytes, str, int], Reader]


@dataclass(frozen=True)
class Converter:
    """How to run LibreOffice: its executable and the time one conversion may take."""

    program: str
    timeout: float = CONVERT_TIMEOUT


def find_soffice(names: tuple[str, ...] = SOFFICE_NAMES) -> str | None:
    """The path of LibreOffice's executable on PATH, or None."""
    return next((found for found in map(shutil.which, names) if found), None)


def read_legacy_word(raw: bytes, source: str, max_bytes: int, read_docx: DocxReader,
                     converter: Converter | None = None) -> Reader:
    """The text of a .doc/.wps file, converted to .docx by LibreOffice (``converter``, by
    default the one on PATH)."""
    if _is_docx(raw):  # a .docx renamed .doc: no conversion needed
        text, _, meta = read_docx(raw, source, max_bytes)
        return text, "docx", meta
    if converter is None:
        program = find_soffice()
        if program is None:
            raise LoadError(source, NOT_INSTALLED)
        converter = Converter(program)
    docx = convert_to_docx(raw, source, converter)
    text, _, meta = read_docx(docx, source, max_bytes)
    return text, "docx (converted by LibreOffice)", meta


def convert_to_docx(raw: bytes, source: str, converter: Converter) -> bytes:
    """``raw`` (a .doc/.wps file's bytes) converted to .docx bytes in a private folder."""
    suffix = PurePosixPath(source).suffix.lower()
    suffix = suffix if suffix in (".doc", ".wps") else ".doc"
    with tempfile.TemporaryDirectory(prefix="policyqa-convert-") as tmp:
        folder = Path(tmp)
        original = folder / f"input{suffix}"  # ASCII name: no quoting or encoding surprises
        original.write_bytes(raw)
        out = folder / "out"
        command = [
            converter.program, "--headless", "--norestore", "--nologo", "--nolockcheck",
            f"-env:UserInstallation={(folder / 'profile').as_uri()}",
            "--convert-to", "docx", "--outdir", str(out), str(original),
        ]
        said = _run(command, folder, source, converter.timeout)
        result = out / "input.docx"
        if not result.is_file():  # soffice exits 0 even when it could not load the file
            raise LoadError(source, f"LibreOffice could not convert it ({said or 'no output'}): "
                            "the file may be damaged or not a Word/WPS document; open it in "
                            "Word/WPS, save it as .docx and add it again")
        return result.read_bytes()


def _run(command: list[str], cwd: Path, source: str, timeout: float) -> str:
    """Run LibreOffice in its own process group; return the last line it printed."""
    try:
        proc = subprocess.Popen(command, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, start_new_session=True)
    except OSError as e:
        raise LoadError(source, f"cannot start LibreOffice ({command[0]}): {e.strerror or e}") from None
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        proc.communicate()
        raise LoadError(source, f"LibreOffice took more than {timeout:g} s to convert it: stopped; "
                        "save it as .docx in Word/WPS and add it again") from None
    return _last_line(output.decode("utf-8", "replace"))


def _kill_group(proc: subprocess.Popen) -> None:
    """Kill LibreOffice and the helpers it started (oosplash → soffice.bin) at once."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, AttributeError):  # gone already / no killpg
        if proc.poll() is None:
            proc.kill()


def _last_line(output: str) -> str:
    # "Warning: failed to launch javaldx" is LibreOffice noise about Java, not about the file
    lines = [ln.strip() for ln in output.splitlines() if ln.strip() and "javaldx" not in ln]
    line = lines[-1] if lines else ""
    return line if len(line) <= 200 else line[:197] + "..."


def _is_docx(raw: bytes) -> bool:
    if not raw.startswith(b"PK"):
        return False
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as zf:
            return "word/document.xml" in zf.namelist()
    except (zipfile.BadZipFile, ValueError, OSError):
        return False
