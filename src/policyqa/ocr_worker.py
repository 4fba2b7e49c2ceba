"""The OCR worker process: a page task in, its recognised page out, killed past the page's time limit."""

from __future__ import annotations

import os
import pickle
import select
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from .ocr_engine import Engine, load_engine, recognise
from .ocr_images import load_image_frame, render_pdf_page
from .ocr_types import DEFAULT_OCR_MODEL, OcrError, OcrPage, PageTask

_START_TIMEOUT_S = 300  # for the worker to import and load its models


def ocr_page_task(engine: Engine, task: PageTask) -> OcrPage:
    """Render and recognise one page (in the worker process)."""
    t0 = time.perf_counter()
    if task.kind == "pdf":
        img = render_pdf_page(task.raw, task.index, task.dpi, task.max_pixels)
    else:
        img = load_image_frame(task.raw, task.index, task.max_pixels)
    angle, lines, upright = recognise(engine, img)
    h, w = upright.shape[:2]
    dpi = task.dpi if task.kind == "pdf" else 0
    return OcrPage(tuple(lines), angle, int(w), int(h), dpi, time.perf_counter() - t0)


def _send(fh, obj: Any) -> None:
    body = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    fh.write(struct.pack("<Q", len(body)) + body)
    fh.flush()


def _recv_exact(fd: int, n: int, deadline: float | None) -> bytes:
    parts, got = [], 0
    while got < n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError
        chunk = os.read(fd, min(n - got, 1 << 20))
        if not chunk:
            raise EOFError
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def _recv(fd: int, deadline: float | None) -> Any:
    (n,) = struct.unpack("<Q", _recv_exact(fd, 8, deadline))
    return pickle.loads(_recv_exact(fd, n, deadline))


def worker_main(model: str = DEFAULT_OCR_MODEL) -> None:
    """The worker's loop with the engine of ``model``: tasks on stdin, results on stdout
    (pickled, length first); anything a library prints goes to stderr."""
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    fd = sys.stdin.fileno()
    try:
        engine = load_engine(model)  # the model loads before the first page's time limit starts
        _send(out, ("ready", None))
    except Exception as e:  # noqa: BLE001 — reported as the page's failure
        _send(out, ("error", f"the OCR engine cannot start: {type(e).__name__}: {str(e)[:200]}"))
        return
    while True:
        try:
            task = _recv(fd, None)
        except EOFError:
            return
        try:
            reply = ("ok", ocr_page_task(engine, task).to_json())
        except OcrError as e:
            reply = ("error", e.reason)
        except Exception as e:  # noqa: BLE001 — reported as the page's failure
            reply = ("error", f"OCR failed: {type(e).__name__}: {str(e)[:200]}")
        _send(out, reply)


class OcrWorker:
    """One recognition process (a fresh interpreter) running the engine of ``model`` (one of
    ``OCR_MODELS``), started on first use and killed on a page's timeout (a fresh one starts
    for the next page). Whoever runs OCR owns a worker and closes it when done (``with
    OcrWorker(model) as worker:``); a closed worker starts no process, and ``close`` from
    another thread stops a page being read at once (a cancelled build)."""

    def __init__(self, model: str = DEFAULT_OCR_MODEL) -> None:
        self.model = model
        self._proc: subprocess.Popen | None = None
        self._closed = False
        self._pages = threading.Lock()  # one page at a time
        self._state = threading.Lock()  # guards _proc/_closed (close may come from another thread)

    def __enter__(self) -> "OcrWorker":
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def run(self, task: PageTask, timeout_s: float) -> OcrPage:
        with self._pages:
            return self._run(task, timeout_s)

    def _run(self, task: PageTask, timeout_s: float) -> OcrPage:
        proc = self._process()
        try:
            _send(proc.stdin, task)
            status, value = _recv(proc.stdout.fileno(), time.monotonic() + timeout_s)
        except TimeoutError:
            self._stop(proc)
            raise OcrError(f"OCR timed out after {timeout_s:g} s; raise the setting ocr_page_timeout_s "
                           "to wait longer") from None
        except (EOFError, OSError, ValueError, pickle.UnpicklingError, struct.error):
            self._stop(proc)
            if self._closed:
                raise OcrError(_CLOSED, of_file=False) from None
            raise OcrError("the OCR process stopped (out of memory or a crash)") from None
        if status != "ok":
            raise OcrError(value)
        return OcrPage.from_json(value)

    def _process(self) -> subprocess.Popen:
        """The running process, a fresh one started (and its engine loaded) if needed."""
        with self._state:
            if self._closed:
                raise OcrError(_CLOSED, of_file=False)
            proc, fresh = self._proc, False
            if proc is None or proc.poll() is not None:
                proc, fresh = self._spawn(), True
                self._proc = proc
        if fresh:
            self._ready(proc)
        return proc

    def _ready(self, proc: subprocess.Popen) -> None:
        """Wait for a new process to load its engine (not counted in any page's time)."""
        try:
            status, value = _recv(proc.stdout.fileno(), time.monotonic() + _START_TIMEOUT_S)
        except TimeoutError:
            self._stop(proc)
            raise OcrError(f"the OCR engine did not start within {_START_TIMEOUT_S} s", of_file=False) from None
        except (EOFError, OSError, ValueError, pickle.UnpicklingError, struct.error):
            self._stop(proc)
            reason = _CLOSED if self._closed else "the OCR process stopped while starting (out of memory or a crash)"
            raise OcrError(reason, of_file=False) from None
        if status != "ready":
            self._stop(proc)
            raise OcrError(value, of_file=False)

    def _spawn(self) -> subprocess.Popen:
        # this very package (not another installed copy), its folder on the path only while
        # the module is imported: the libraries it loads later come from the usual places
        folder = str(Path(__file__).resolve().parents[1])
        boot = (f"import sys; sys.path.insert(0, {folder!r}); import policyqa.ocr_worker as m; "
                f"sys.path.remove({folder!r}); m.worker_main({self.model!r})")
        return subprocess.Popen([sys.executable, "-c", boot], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, close_fds=True)

    def _stop(self, proc: subprocess.Popen) -> None:
        """Kill ``proc`` (a page past its time, a broken pipe); the next page starts a fresh one."""
        with self._state:
            if self._proc is proc:
                self._proc = None
        _kill(proc)

    def close(self) -> None:
        """Stop the process for good (killed: it holds nothing, results are written on this side)."""
        with self._state:
            self._closed = True
            proc, self._proc = self._proc, None
        if proc is not None:
            _kill(proc)


_CLOSED = "OCR stopped: its worker was closed (the build ended or was cancelled)"


def _kill(proc: subprocess.Popen) -> None:
    proc.kill()
    proc.wait()
    for fh in (proc.stdin, proc.stdout):
        try:
            fh.close()
        except OSError:
            pass
