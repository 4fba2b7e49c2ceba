#!/usr/bin/env python3
"""Load test: N concurrent clients against a running ``policyqa serve`` on loopback, with an
optional reindex by a second process in the middle.

    python bench/load_test.py --start-server --clients 20 --duration 45 [--reindex-at 10] [--json]
    python bench/load_test.py --url http://127.0.0.1:7860/ --clients 50 --endpoint search
    python bench/load_test.py --start-server --clients 50 --via rest   # the REST API, not Gradio's queue

Each client is a ``gradio_client.Client`` calling the ``/ask`` and ``/search`` API endpoints
in a loop. Questions are a mix: a fixed pool asked again and again (``eval/dev.jsonl``, served
from the query-vector cache after the first time) and questions never asked before, made by
combining phrases of the corpus (``--new-fraction``).

``--start-server`` serves a temporary copy of the corpus (and of ``--index-dir`` when it holds
an index, so a prebuilt index is reused; otherwise ``serve`` builds one), so the run never
changes the user's files. ``--reindex-at S`` runs ``policyqa index --rebuild`` (same settings)
S seconds in; with the bench's own copy it first adds a small file with a unique sentence, and
a probe then measures how long after the reindex finished the server first answers from the new
generation (the probe's search finds that file). Against an external server (``--url``) the
file is added only with ``--probe-file``, since it goes into that server's corpus. The run
lasts ``--duration`` seconds (or ``--requests-per-client``), extended until the reindex and
the probe are over.

Settings (corpus, index folder, model, login) come from the project's configuration like the
CLI's: ``--config``, ``POLICYQA_*`` variables, then the flags here. Not a test: the figures
depend on the machine and on what else runs on it; the report records cores and load average.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

import httpx
from gradio_client import Client

from policyqa.config import Settings, load_settings

ROOT = Path(__file__).resolve().parents[1]
ERROR_TEXT = "处理请求时出错"  # what the app's guard shows for an unexpected exception
TEMPLATES = ("{a}和{b}有什么要求？", "{a}方面{b}的目标是多少？", "如何推进{a}与{b}？", "{a}中{b}怎么落实？")
PROBE_FILE = "zz_load_probe.txt"
NO_GRADIO_ANALYTICS = {"GRADIO_ANALYTICS_ENABLED": "False"}


# ---------------------------------------------------------------------------- data


@dataclass
class Sample:
    """One request as a client saw it (times in seconds since the start of the run)."""

    endpoint: str
    kind: str  # "repeat" (from the fixed pool) or "new" (never asked before)
    start: float
    latency: float
    error: str | None = None


@dataclass
class Reindex:
    """The second process's reindex and, when measured, the switch to its generation."""

    command: list[str]
    at: float
    started: float | None = None
    finished: float | None = None
    returncode: int | None = None
    output_tail: str = ""
    probe_file: str | None = None
    # From the reindex finishing to the first answer from the new generation; that request was
    # sent ``new_generation_sent_s`` after (its own queueing and work lie between the two).
    new_generation_after_s: float | None = None
    new_generation_sent_s: float | None = None
    probe_note: str = ""


@dataclass
class Run:
    url: str
    clients: int
    endpoint: str
    via: str = "gradio"
    samples: list[Sample] = field(default_factory=list)
    elapsed: float = 0.0
    reindex: Reindex | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, sample: Sample) -> None:
        with self.lock:
            self.samples.append(sample)


# ---------------------------------------------------------------------------- questions


def repeat_pool(path: Path) -> list[str]:
    """The fixed questions (asked many times: the second time on is served from cache)."""
    pool = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            pool.append(json.loads(line)["query"])
    return pool


def corpus_phrases(corpus: Path, limit: int = 4000) -> list[str]:
    """Runs of 4–10 Chinese characters between punctuation, from the corpus's text files."""
    phrases: set[str] = set()
    for path in sorted(corpus.rglob("*.txt")):
        text = path.read_text(encoding="utf-8", errors="ignore")
        phrases.update(re.findall(r"[\u4e00-\u9fff]{4,10}", text))
        if len(phrases) >= limit:
            break
    return sorted(phrases)[:limit]


@dataclass
class QuestionSource:
    """Hands out questions: a fixed pool, and never-seen ones combining corpus phrases."""

    pool: list[str]
    phrases: list[str]
    new_fraction: float
    seed: int
    _seen: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def next(self) -> tuple[str, str]:
        with self._lock:
            if not self.phrases or self._rng.random() >= self.new_fraction:
                return "repeat", self._rng.choice(self.pool)
            while True:
                a, b = self._rng.sample(self.phrases, 2)
                q = self._rng.choice(TEMPLATES).format(a=a, b=b)
                if q not in self._seen and q not in self.pool:
                    self._seen.add(q)
                    return "new", q


# ---------------------------------------------------------------------------- requests


class RestClient:
    """The REST API (``/api/v1``) over one keep-alive HTTP connection: what a program calls,
    without Gradio's queue (its join, event stream and per-event JSON)."""

    def __init__(self, url: str, auth: tuple[str, str] | None) -> None:
        self.http = httpx.Client(base_url=url.rstrip("/") + "/api/v1", auth=auth, timeout=120)

    def call(self, endpoint: str, question: str) -> dict:
        body = {"question": question} if endpoint == "ask" else {"query": question, "k": 10}
        r = self.http.post(f"/{endpoint}", json=body)
        if r.status_code >= 400:
            raise RuntimeError(f"HTTP {r.status_code}: {r.text[:200]}")
        return r.json()

    def close(self) -> None:
        self.http.close()


def client_for(url: str, auth: tuple[str, str] | None, via: str = "gradio") -> Client | RestClient:
    if via == "rest":
        return RestClient(url, auth)
    return Client(url, auth=auth, verbose=False, analytics_enabled=False, download_files=False)


def call(client: Client | RestClient, endpoint: str, question: str) -> dict:
    if isinstance(client, RestClient):
        return client.call(endpoint, question)
    if endpoint == "ask":
        return client.predict(question, api_name="/ask")
    return client.predict(question, 10, "", "", "", "", api_name="/search")


def failure(result: Any) -> str | None:
    """An error message hidden in a response that came back (None when it is a real answer)."""
    if not isinstance(result, dict):
        return f"unexpected response type {type(result).__name__}"
    text = json.dumps(result, ensure_ascii=False)
    return f"error text in the response: {text[:200]}" if ERROR_TEXT in text else None


def timed(client: Client, endpoint: str, question: str) -> tuple[float, Any, str | None]:
    t0 = time.perf_counter()
    try:
        result = call(client, endpoint, question)
        error = failure(result)
    except Exception as e:  # noqa: BLE001 - every failure is counted and reported
        result, error = None, f"{type(e).__name__}: {str(e)[:300]}"
    return time.perf_counter() - t0, result, error


def client_loop(run: Run, client: Client, questions: QuestionSource, t0: float, stop: threading.Event,
                max_requests: int | None, rng: random.Random) -> None:
    done = 0
    while not stop.is_set() and (max_requests is None or done < max_requests):
        kind, question = questions.next()
        endpoint = run.endpoint if run.endpoint != "mixed" else rng.choice(("ask", "search"))
        start = time.perf_counter() - t0
        latency, _, error = timed(client, endpoint, question)
        run.add(Sample(endpoint, kind, round(start, 4), round(latency, 4), error))
        done += 1


# ---------------------------------------------------------------------------- reindex and probe


def policyqa_command(args: argparse.Namespace, settings: Settings, *words: str) -> list[str]:
    """``python -m policyqa.cli WORDS …`` with the same corpus, index, model and config."""
    cmd = [sys.executable, "-m", "policyqa.cli", *words, "--corpus", str(settings.corpus.resolve()),
           "--index-dir", str(settings.index_dir.resolve()), "--model", settings.model]
    if args.config:
        cmd += ["--config", str(args.config.resolve())]
    return cmd


def child_env(settings: Settings) -> dict[str, str]:
    """This interpreter's environment, with the source tree importable, no analytics calls and
    the login passed by variable (not on a command line other users can read)."""
    env = {**os.environ, **NO_GRADIO_ANALYTICS}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT / "src"), env.get("PYTHONPATH", "")) if p)
    if settings.auth:
        env["POLICYQA_AUTH"] = settings.auth
    return env


def write_probe_file(corpus: Path) -> tuple[str, str]:
    """A new corpus file with a sentence found nowhere else: (file name, the sentence)."""
    token = uuid.uuid4().hex[:10]
    sentence = f"负载测试探针{token}：新建冰雪运动特色学校{int(token[:4], 16) % 90 + 10}所。"
    (corpus / PROBE_FILE).write_text(f"负载测试探针文件\n\n一、探针\n{sentence}\n", encoding="utf-8")
    return PROBE_FILE, sentence


def run_reindex(reindex: Reindex, t0: float, env: dict[str, str]) -> None:
    reindex.started = time.perf_counter() - t0
    proc = subprocess.run(reindex.command, env=env, cwd=ROOT, capture_output=True, text=True)
    reindex.finished = time.perf_counter() - t0
    reindex.returncode = proc.returncode
    reindex.output_tail = (proc.stdout + proc.stderr)[-1500:]


def probe_new_generation(reindex: Reindex, client: Client, sentence: str, t0: float,
                         timeout: float) -> None:
    """Search for the probe sentence until the probe file is among the hits."""
    assert reindex.finished is not None
    while time.perf_counter() - t0 - reindex.finished < timeout:
        sent = time.perf_counter() - t0 - reindex.finished
        _, result, _ = timed(client, "search", sentence)
        sources = [r.get("source") for r in (result or {}).get("results", [])]
        if reindex.probe_file in sources:
            reindex.new_generation_after_s = round(time.perf_counter() - t0 - reindex.finished, 3)
            reindex.new_generation_sent_s = round(max(sent, 0.0), 3)
            return
        time.sleep(0.1)
    reindex.probe_note = f"the server did not answer from the new generation within {timeout:g} s"


def reindex_thread(reindex: Reindex, env: dict[str, str], probe: tuple[Client, str] | None, t0: float,
                   stop: threading.Event, timeout: float) -> None:
    if stop.wait(reindex.at):
        return
    run_reindex(reindex, t0, env)
    if reindex.returncode != 0:
        reindex.probe_note = "the reindex failed"
    elif probe is not None:
        probe_new_generation(reindex, probe[0], probe[1], t0, timeout)
    else:
        reindex.probe_note = "not measured: no probe file (an unchanged corpus gives the same answers)"


# ---------------------------------------------------------------------------- the server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url: str, proc: subprocess.Popen | None, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"the server exited with code {proc.returncode} before answering")
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"the server at {url} did not answer within {timeout:g} s")


def copy_data(settings: Settings, work: Path) -> tuple[Path, Path]:
    """Copies of the corpus and (when there is one) the index, for the bench to change."""
    corpus, index = work / "corpus", work / "index"
    shutil.copytree(settings.corpus, corpus, symlinks=True)
    if settings.index_dir.is_dir():
        shutil.copytree(settings.index_dir, index, symlinks=True)
    return corpus, index


@contextmanager
def started_server(args: argparse.Namespace, settings: Settings, work: Path, n: int = 0) -> Iterator[str]:
    """``policyqa serve`` in a subprocess on a free loopback port; its log is in ``work``.
    Server ``n`` > 0 is one more replica over the same index folder."""
    port = (args.port + n if args.port else free_port())
    cmd = policyqa_command(args, settings, "serve") + ["--host", "127.0.0.1", "--port", str(port)]
    log_path = work / f"serve-{n}.log"
    log = open(log_path, "w", encoding="utf-8")
    env = child_env(settings)
    # every client comes from 127.0.0.1: the REST API's per-address limit would throttle them all
    env["POLICYQA_API_RATE_PER_MINUTE"] = str(args.api_rate)
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_until_up(url, proc, args.startup_timeout)
        yield url
    except BaseException:
        log.flush()
        print("server log (last lines):\n" + log_path.read_text(encoding="utf-8", errors="replace")[-3000:],
              file=sys.stderr)
        raise
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


# ---------------------------------------------------------------------------- report


def percentile(xs: list[float], p: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(p / 100 * (len(xs) - 1))))]


def summary(samples: list[Sample], elapsed: float) -> dict[str, Any]:
    lat = [s.latency for s in samples]
    errors = [s.error for s in samples if s.error]
    return {
        "requests": len(samples), "errors": len(errors),
        "p50_s": round(percentile(lat, 50), 3), "p95_s": round(percentile(lat, 95), 3),
        "max_s": round(max(lat), 3) if lat else None,
        "mean_s": round(statistics.fmean(lat), 3) if lat else None,
        "rps": round(len(samples) / elapsed, 2) if elapsed else None,
    }


def report(run: Run) -> dict[str, Any]:
    by = {"all": run.samples}
    for name in ("ask", "search"):
        by[name] = [s for s in run.samples if s.endpoint == name]
    for kind in ("repeat", "new"):
        by[kind] = [s for s in run.samples if s.kind == kind]
    out: dict[str, Any] = {
        "url": run.url, "clients": run.clients, "endpoint": run.endpoint, "via": run.via, "elapsed_s": round(run.elapsed, 2),
        "machine": {"cpus": os.cpu_count(), "loadavg": [round(x, 2) for x in os.getloadavg()],
                    "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
                    "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY")},
        "summary": {k: summary(v, run.elapsed) for k, v in by.items() if v},
        "first_errors": list(dict.fromkeys(s.error for s in run.samples if s.error))[:5],
        # when failed requests were sent (seconds into the run): before, during or after a reindex
        "error_starts_s": [s.start for s in run.samples if s.error][:50],
    }
    if run.reindex is not None:
        r = run.reindex
        during = [s for s in run.samples if r.started is not None and r.finished is not None
                  and r.started <= s.start <= r.finished]
        out["reindex"] = {k: v for k, v in asdict(r).items() if k != "output_tail"}
        out["reindex"]["seconds"] = None if r.finished is None else round(r.finished - r.started, 2)
        out["reindex"]["during"] = summary(during, (r.finished or 0) - (r.started or 0)) if during else None
        if r.returncode:
            out["reindex"]["output_tail"] = r.output_tail
    return out


def one_line(rep: dict[str, Any]) -> str:
    s = rep["summary"]["all"]
    line = (f"clients={rep['clients']} endpoint={rep['endpoint']} via={rep.get('via', 'gradio')} {rep['elapsed_s']:.0f}s: "
            f"{s['requests']} requests, {s['errors']} errors, p50 {s['p50_s']:.2f}s p95 {s['p95_s']:.2f}s "
            f"max {s['max_s']:.2f}s, {s['rps']:.2f} req/s")
    r = rep.get("reindex")
    if r:
        took = f"{r['seconds']:.0f}s" if r["seconds"] is not None else "did not run"
        swap = (f"new generation answered {r['new_generation_after_s']:.2f}s after it finished "
                f"(request sent at +{r['new_generation_sent_s']:.2f}s)"
                if r["new_generation_after_s"] is not None else r["probe_note"])
        line += f"; reindex at {r['at']:g}s took {took} (rc {r['returncode']}), {swap}"
    return line


def print_report(rep: dict[str, Any]) -> None:
    print(one_line(rep))
    print(f"  machine: {rep['machine']['cpus']} cpus, load average {rep['machine']['loadavg']}")
    for name, s in rep["summary"].items():
        print(f"  {name:7s} n={s['requests']:5d} errors={s['errors']:4d} p50={s['p50_s']:.3f}s "
              f"p95={s['p95_s']:.3f}s max={s['max_s']:.3f}s {s['rps']:.2f} req/s")
    r = rep.get("reindex")
    if r and r.get("during"):
        d = r["during"]
        print(f"  during the reindex: n={d['requests']} errors={d['errors']} p50={d['p50_s']:.3f}s "
              f"p95={d['p95_s']:.3f}s max={d['max_s']:.3f}s")
    if r and r.get("output_tail"):
        print("  reindex output:\n" + r["output_tail"])
    for e in rep["first_errors"]:
        print(f"  error: {e}")


# ---------------------------------------------------------------------------- the run


def connect(urls: list[str], auth: tuple[str, str] | None, n: int, via: str = "gradio") -> list[Client]:
    """``n`` clients, connected in parallel before the clock starts, spread over ``urls``
    (one server, or replicas) in turn."""
    clients: list[Client | None] = [None] * n

    def make(i: int) -> None:
        clients[i] = client_for(urls[i % len(urls)], auth, via)

    threads = [threading.Thread(target=make, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    missing = [i for i, c in enumerate(clients) if c is None]
    if missing:
        raise SystemExit(f"{len(missing)} of {n} clients could not connect to {', '.join(urls)}")
    return clients  # type: ignore[return-value]


def drive(run: Run, clients: list[Client], questions: QuestionSource, args: argparse.Namespace,
          env: dict[str, str], probe: tuple[Client, str] | None) -> None:
    stop = threading.Event()
    t0 = time.perf_counter()
    workers = [threading.Thread(target=client_loop, daemon=True,
                                args=(run, c, questions, t0, stop, args.requests_per_client,
                                      random.Random(args.seed * 1000 + i)))
               for i, c in enumerate(clients)]
    side = None
    if run.reindex is not None:
        side = threading.Thread(target=reindex_thread, daemon=True,
                                args=(run.reindex, env, probe, t0, stop, args.probe_timeout))
        side.start()
    for w in workers:
        w.start()
    deadline = None if args.requests_per_client else t0 + args.duration
    while any(w.is_alive() for w in workers) and (deadline is None or time.perf_counter() < deadline):
        time.sleep(0.1)
    if side is not None:
        side.join()  # the run lasts until the reindex and the probe are over
    stop.set()
    for w in workers:
        w.join()
    run.elapsed = time.perf_counter() - t0


def execute(args: argparse.Namespace, settings: Settings, urls: list[str], auth: tuple[str, str] | None) -> Run:
    questions = QuestionSource(repeat_pool(args.questions), corpus_phrases(settings.corpus),
                               args.new_fraction, args.seed)
    url = urls[0]
    run = Run(url=" ".join(urls), clients=args.clients, endpoint=args.endpoint, via=args.via)
    clients = connect(urls, auth, args.clients, args.via)
    reindex, probe = None, None
    if args.reindex_at is not None:
        words = ("index", "--rebuild") if args.reindex_kind == "rebuild" else ("index",)
        reindex = Reindex(command=policyqa_command(args, settings, *words), at=args.reindex_at)
        if args.probe_file:
            reindex.probe_file, sentence = write_probe_file(settings.corpus)
            probe = (client_for(url, auth, args.via), sentence)
    run.reindex = reindex
    try:
        drive(run, clients, questions, args, child_env(settings), probe)
    finally:
        for c in clients + ([probe[0]] if probe else []):
            c.close()
    return run


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", help="a running server (default: http://<host>:<port>/ from the settings)")
    ap.add_argument("--start-server", action="store_true", help="serve a temporary copy of the corpus/index")
    ap.add_argument("--port", type=int, help="port for --start-server (default: a free one)")
    ap.add_argument("--servers", type=int, default=1,
                    help="with --start-server: this many server processes over one index folder, clients spread over them")
    ap.add_argument("--config", type=Path, help="TOML settings file (as for policyqa)")
    ap.add_argument("--corpus", type=Path)
    ap.add_argument("--index-dir", type=Path)
    ap.add_argument("--model")
    ap.add_argument("--auth", help="user:password (default: the auth setting / POLICYQA_AUTH)")
    ap.add_argument("--api-rate", type=int, default=10**7,
                    help="REST requests per minute per address for --start-server's server (default: no limit)")
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--duration", type=float, default=60.0, help="seconds of load (default 60)")
    ap.add_argument("--requests-per-client", type=int, help="stop after this many requests per client")
    ap.add_argument("--endpoint", choices=("ask", "search", "mixed"), default="mixed")
    ap.add_argument("--via", choices=("gradio", "rest"), default="gradio",
                    help="the page's Gradio API (gradio_client, default) or the REST API (/api/v1, httpx)")
    ap.add_argument("--new-fraction", type=float, default=0.3, help="share of never-asked questions (0.3)")
    ap.add_argument("--questions", type=Path, default=ROOT / "eval" / "dev.jsonl",
                    help="JSONL with a 'query' per line: the repeated questions")
    ap.add_argument("--reindex-at", type=float, metavar="SECONDS", help="run policyqa index in a second process")
    ap.add_argument("--reindex-kind", choices=("rebuild", "update"), default="rebuild",
                    help="index --rebuild (default) or a plain incremental index")
    ap.add_argument("--probe-file", action=argparse.BooleanOptionalAction, default=None,
                    help="add a file before the reindex to time the switch (default: with --start-server)")
    ap.add_argument("--probe-timeout", type=float, default=60.0)
    ap.add_argument("--startup-timeout", type=float, default=900.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true", help="print the report as JSON")
    args = ap.parse_args(argv)
    if args.url and args.start_server:
        ap.error("give --url or --start-server, not both")
    if args.probe_file is None:
        args.probe_file = args.start_server
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = load_settings(args.config, corpus=args.corpus, index_dir=args.index_dir, model=args.model,
                             auth=args.auth)
    auth = tuple(settings.auth.split(":", 1)) if settings.auth else None
    with ExitStack() as stack:
        if args.start_server:
            work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pqa-load-")))
            corpus, index = copy_data(settings, work)
            settings = load_settings(args.config, corpus=corpus, index_dir=index, model=settings.model,
                                     auth=settings.auth)
            urls = [stack.enter_context(started_server(args, settings, work, n)) for n in range(max(args.servers, 1))]
        else:
            urls = [args.url or f"http://{settings.host}:{settings.port}/"]
            wait_until_up(urls[0], None, 10)
        run = execute(args, settings, urls, auth)  # type: ignore[arg-type]
    rep = report(run)
    if args.json:
        print(json.dumps(rep, ensure_ascii=False))
    else:
        print_report(rep)
    return 0


if __name__ == "__main__":
    sys.exit(main())
