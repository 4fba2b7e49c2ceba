"""A real ``policyqa serve`` process keeps answering while a second process reindexes, and
switches to the new generation within a few seconds (issue 12, item 1).

The server runs in a subprocess on a free loopback port over a temporary corpus indexed with
the deterministic hash embedder. Client threads call the ``/ask`` and ``/search`` API
endpoints (``gradio_client``) and the page's own events over the Gradio queue, as the browser
sends them: 提问 with a citation button, the 文档 selector, 检索 with 在文档中打开, 对比 with
在文档中打开. Meanwhile ``policyqa index`` (or ``--rebuild``) runs in another process after a
file is added. Every request must succeed; afterwards the new file must be found.
"""

from __future__ import annotations

import itertools
import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from tests.conftest import PLAN_A, PLAN_B, ROOT, write

gradio_client = pytest.importorskip("gradio_client")

pytestmark = pytest.mark.integration

MODEL = "hash:128"
ERROR_TEXT = "处理请求时出错"
NEW_SOURCE = "plan_new.txt"
NEW_TEXT = "北区教育局2025年工作计划\n\n一、冰雪运动\n推进冰雪运动进校园，建设冰雪特色学校8所。\n"
NEW_QUERY = "推进冰雪运动进校园"
SWITCH_WITHIN_S = 5.0  # reload_check_seconds is 1 s; a few seconds leaves room on a busy machine


# ---------------------------------------------------------------------------- the server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def child_env() -> dict[str, str]:
    """The test's environment without POLICYQA_* settings, with this tree's sources."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("POLICYQA_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT / "src"), env.get("PYTHONPATH", "")) if p)
    env["GRADIO_ANALYTICS_ENABLED"] = "False"
    return env


def policyqa(base: Path, *words: str) -> list[str]:
    return [sys.executable, "-m", "policyqa.cli", *words, "--corpus", str(base / "corpus"),
            "--index-dir", str(base / "index"), "--model", MODEL]


def wait_for(url: str, proc: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"serve exited ({proc.returncode}):\n{log.read_text()[-3000:]}"
        try:
            if httpx.get(url + "config", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"serve did not answer within {timeout} s:\n{log.read_text()[-3000:]}")


@contextmanager
def serving(base: Path) -> Iterator[str]:
    port = free_port()
    log = base / "serve.log"
    with open(log, "w", encoding="utf-8") as out:
        proc = subprocess.Popen(policyqa(base, "serve") + ["--host", "127.0.0.1", "--port", str(port)],
                                env=child_env(), cwd=base, stdout=out, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}/"
        try:
            wait_for(url, proc, log)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


# ---------------------------------------------------------------------------- the page's events


class PageError(Exception):
    """A page event that failed: the message the page showed, or what went wrong."""


@dataclass
class PageSession:
    """One browser session's events, sent over the Gradio queue as the page sends them."""

    url: str
    config: dict
    session_hash: str = field(default_factory=lambda: uuid.uuid4().hex)

    def __post_init__(self) -> None:
        self.http = httpx.Client(timeout=60)
        self.ids = {c["props"].get("elem_id"): c["id"] for c in self.config["components"]
                    if c.get("props", {}).get("elem_id")}

    def event(self, elem_id: str, trigger: str, data: list, event_data: dict | None = None) -> list:
        """The outputs of the event ``trigger`` on ``elem_id`` (with ``event_data``, what the
        page's script sends, e.g. the index of a clicked result); PageError with the message
        shown on the page when the handler failed."""
        target = [self.ids[elem_id], trigger]
        dep = next(d for d in self.config["dependencies"] if target in d["targets"])
        data = list(data) + [None] * (len(dep["inputs"]) - len(data))  # inputs not given: empty states
        prefix = self.url + self.config.get("api_prefix", "/gradio_api").lstrip("/")
        joined = self.http.post(prefix + "/queue/join", json={
            "data": data, "fn_index": dep["id"], "session_hash": self.session_hash,
            "trigger_id": target[0], "event_data": event_data})
        if joined.status_code != 200:
            raise PageError(f"{elem_id} {trigger}: queue/join {joined.status_code} {joined.text}")
        event_id = joined.json()["event_id"]
        with self.http.stream("GET", prefix + "/queue/data", params={"session_hash": self.session_hash}) as r:
            for line in r.iter_lines():
                if not line.startswith("data:"):
                    continue
                msg = json.loads(line[5:])
                if msg.get("event_id") == event_id and msg.get("msg") == "process_completed":
                    output = msg.get("output") or {}
                    if not msg.get("success"):
                        raise PageError(f"{elem_id} {trigger}: {output.get('error') or output}")
                    return output["data"]
        raise PageError(f"{elem_id} {trigger}: the stream ended without a result")

    def close(self) -> None:
        self.http.close()


def check(ok: bool, message: str) -> None:
    if not ok:
        raise PageError(message)


def no_error_text(what: str, value: Any) -> None:
    text = json.dumps(value, ensure_ascii=False)
    check(ERROR_TEXT not in text, f"{what}: {text[:300]}")


# ---------------------------------------------------------------------------- what the clients do


def api_ask(client, page: PageSession, doc_ids: list[str]) -> None:
    a = client.predict("学前三年毛入园率的目标是多少？", api_name="/ask")
    no_error_text("/ask", a)
    check(bool(a["citations"]), f"/ask gave no citation: {a}")


def api_search(client, page: PageSession, doc_ids: list[str]) -> None:
    s = client.predict("教师培训经费", 5, "", "", "", "", api_name="/search")
    no_error_text("/search", s)
    check(bool(s["results"]), f"/search found nothing: {s}")


def ask_and_open_citation(client, page: PageSession, doc_ids: list[str]) -> None:
    out = page.event("ask-btn", "click", ["学前三年毛入园率的目标是多少？", None])
    no_error_text("提问", out)
    body = page.event("cite-1", "click", [None])
    no_error_text("引用", body)
    check("pqa-hit" in json.dumps(body), f"the cited passage is not shown: {str(body)[:300]}")


def view_document(client, page: PageSession, doc_ids: list[str]) -> None:
    for doc_id in doc_ids:
        outline, body = page.event("doc-select", "input", [doc_id])[:2]  # (+ what the view shows)
        no_error_text("文档", body)
        check("pqa-doc" in body, f"document {doc_id} not shown: {body[:300]}")


def search_and_open(client, page: PageSession, doc_ids: list[str]) -> None:
    out = page.event("search-btn", "click", ["控辍保学", "", "", "", "", 5])
    no_error_text("检索", out)
    body = page.event("search-results", "click", [None], {"index": 0})
    no_error_text("打开检索结果", body)


def compare_and_open(client, page: PageSession, doc_ids: list[str]) -> None:
    out = page.event("compare-btn", "click", ["学前三年毛入园率"])
    no_error_text("对比", out)
    body = page.event("compare-table", "click", [None], {"index": 0})
    no_error_text("对比打开", body)


OPERATIONS = (api_ask, api_search, ask_and_open_citation, view_document, search_and_open, compare_and_open)


@dataclass
class Load:
    """Client threads cycling through every operation until stopped; failures are kept."""

    url: str
    config: dict
    doc_ids: list[str]
    threads: int = 4
    done: int = 0
    failures: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def worker(self, first: int) -> None:
        client = gradio_client.Client(self.url, verbose=False, analytics_enabled=False, download_files=False)
        page = PageSession(self.url, self.config)
        try:
            for op in itertools.islice(itertools.cycle(OPERATIONS), first, None):
                if self.stop.is_set():
                    return
                try:
                    op(client, page, self.doc_ids)
                    error = None
                except Exception as e:  # noqa: BLE001 - every failure is collected
                    error = f"{op.__name__}: {type(e).__name__}: {str(e)[:300]}"
                with self.lock:
                    self.done += 1
                    if error:
                        self.failures.append(error)
        finally:
            page.close()
            client.close()

    @contextmanager
    def running(self) -> Iterator["Load"]:
        workers = [threading.Thread(target=self.worker, args=(i,), daemon=True) for i in range(self.threads)]
        for w in workers:
            w.start()
        try:
            yield self
        finally:
            self.stop.set()
            for w in workers:
                w.join(timeout=90)


# ---------------------------------------------------------------------------- the test


def new_generation_answers(url: str, timeout: float) -> float | None:
    """Seconds until ``/search`` finds the added file (None when it never does in ``timeout``)."""
    client = gradio_client.Client(url, verbose=False, analytics_enabled=False, download_files=False)
    t0 = time.monotonic()
    try:
        while time.monotonic() - t0 < timeout:
            s = client.predict(NEW_QUERY, 5, "", "", "", "", api_name="/search")
            if NEW_SOURCE in [r["source"] for r in s["results"]]:
                return time.monotonic() - t0
            time.sleep(0.1)
        return None
    finally:
        client.close()


def document_ids(url: str) -> list[str]:
    client = gradio_client.Client(url, verbose=False, analytics_enabled=False, download_files=False)
    try:
        return sorted({r["doc_id"] for r in client.predict("教育", 10, "", "", "", "", api_name="/search")["results"]})
    finally:
        client.close()


def open_first_hit(url: str, config: dict, query: str) -> str:
    """The 文档 view of the first 检索 result for ``query`` (or the error the page showed)."""
    page = PageSession(url, config)
    try:
        page.event("search-btn", "click", [query, "", "", "", "", 5])
        return json.dumps(page.event("search-results", "click", [None], {"index": 0}), ensure_ascii=False)
    except PageError as e:
        return f"error: {e}"
    finally:
        page.close()


@pytest.fixture
def site(tmp_path: Path) -> Path:
    write(tmp_path / "corpus" / "plan_a.txt", PLAN_A)
    write(tmp_path / "corpus" / "sub" / "plan_b_gbk.txt", PLAN_B, encoding="gbk")
    built = subprocess.run(policyqa(tmp_path, "index"), env=child_env(), cwd=tmp_path,
                           capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-2000:]
    return tmp_path


@pytest.mark.parametrize("reindex", [("index",), ("index", "--rebuild")], ids=["index", "rebuild"])
def test_serve_keeps_answering_through_a_reindex_by_another_process(site: Path, reindex: tuple[str, ...]):
    with serving(site) as url:
        config = httpx.get(url + "config", timeout=10).json()
        generation_before = httpx.get(url + "readyz", timeout=10).json()["generation"]
        load = Load(url, config, document_ids(url))
        with load.running():
            time.sleep(1.5)
            before = load.done
            write(site / "corpus" / NEW_SOURCE, NEW_TEXT)
            rebuilt = subprocess.run(policyqa(site, *reindex), env=child_env(), cwd=site,
                                     capture_output=True, text=True, timeout=300)
            assert rebuilt.returncode == 0, rebuilt.stderr[-2000:]
            switched_after = new_generation_answers(url, timeout=SWITCH_WITHIN_S)
            time.sleep(2.5)  # keep the load on the new generation for a while
            around = load.done - before
        opened = open_first_hit(url, config, NEW_QUERY)
        generation_after = httpx.get(url + "readyz", timeout=10).json()["generation"]
        rest = httpx.post(url + "api/v1/search", json={"query": NEW_QUERY, "k": 3}, timeout=30).json()

    problems = []  # every check is reported, not just the first that fails
    if around < 4:
        problems.append(f"the clients made only {around} requests around the reindex")
    if load.failures:
        problems.append(f"{len(load.failures)} of {load.done} requests failed; first ones:\n  "
                        + "\n  ".join(load.failures[:5]))
    if switched_after is None:
        problems.append(f"/search did not find {NEW_SOURCE} within {SWITCH_WITHIN_S} s of the reindex")
    if not generation_before or generation_after == generation_before:
        problems.append(f"/readyz still names generation {generation_before} after the reindex")
    if NEW_SOURCE not in [r["source"] for r in rest.get("results", [])]:
        problems.append(f"the REST search does not find {NEW_SOURCE}: {str(rest)[:300]}")
    if "冰雪运动" not in opened:
        problems.append(f"the new document cannot be opened: {opened[:300]}")
    assert not problems, "\n".join(problems)
