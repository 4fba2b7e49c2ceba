"""Several libraries on one server (``--libraries``, see ``policyqa.libraries``): one engine
per library, and ``LibraryView``, an ``EngineLike`` over the libraries one caller may read.

A view names what it returns after its library: sources ``<library>/<source>``, document ids
``<library>:<doc_id>``, and every hit, citation, compare row and precedent carries
``library``. A name it is given back (a document, a source, a filter) is looked up only among
its own libraries; any other is "not found", whether or not it exists (``NotFound``), so a
caller learns nothing of a library it may not read. Changing a library needs ``manage``
(``AccessDenied`` otherwise).

Several libraries answer together: search, compare and precedents run on each and merge —
hits by their fused score (RRF ranks, one scale for every library), a library whose search
abstained after those that did not, so abstaining is decided on the merged list (it abstains
when every library does); compare rows and precedent groups by their score. An answer quotes
one library: the one whose passages match the question best (the highest ``top_score`` of a
library that does not abstain), because an answer's sentences are scored within one index.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterator, Sequence

from ..build import BuildSummary, Progress
from ..compare import CompareTable
from ..config import Settings
from ..errors import AccessDenied, NotFound, PolicyQAError
from ..followup import standalone
from ..generate import StreamEvent
from ..libraries import NO_ACCESS, Access, Grant
from ..page_view import PageRegion
from ..precedents import PrecedentGroup, PrecedentResults
from ..types import Answer, Citation, Document, Filters, Hit, SearchResult
from .protocol import EngineLike

NOT_FOUND = "没有找到该文档或文库：GET /api/v1/documents 列出可查看的全部文档。"


def source_name(library: str, source: str) -> str:
    return f"{library}/{source}"


def doc_name(library: str, doc_id: str) -> str:
    return f"{library}:{doc_id}"


def _hit(library: str, h: Hit) -> Hit:
    c = h.chunk
    return replace(h, chunk=replace(c, doc_id=doc_name(library, c.doc_id), source=source_name(library, c.source)),
                   library=library)


def _citation(library: str, c: Citation) -> Citation:
    return replace(c, doc_id=doc_name(library, c.doc_id), source=source_name(library, c.source), library=library)


def _answer(library: str, a: Answer) -> Answer:
    return replace(a, citations=tuple(_citation(library, c) for c in a.citations))


def _group(library: str, g: PrecedentGroup) -> PrecedentGroup:
    hits = tuple(replace(h, chunk=replace(h.chunk, doc_id=doc_name(library, h.chunk.doc_id),
                                          source=source_name(library, h.chunk.source)), library=library)
                 for h in g.hits)
    return replace(g, doc_id=doc_name(library, g.doc_id), source=source_name(library, g.source), hits=hits,
                   library=library)


@dataclass
class LibraryView:
    """``EngineLike`` over the libraries of ``grant`` (see the module docstring)."""

    settings: Settings
    engines: dict[str, EngineLike]  # only the libraries the caller may read
    manage: frozenset[str] = frozenset()

    # --- names
    def _split(self, name: str, sep: str) -> tuple[str, EngineLike, str]:
        library, found, rest = (name or "").partition(sep)
        engine = self.engines.get(library) if found else None
        if engine is None:
            raise NotFound(NOT_FOUND)
        return library, engine, rest

    def _managed(self, library: str) -> EngineLike:
        if library not in self.manage:
            raise AccessDenied(f"没有管理文库「{library}」的权限（只读）。")
        return self.engines[library]

    def _routes(self, filters: Filters | None) -> list[tuple[str, EngineLike, Filters | None]]:
        """(library, engine, its filters): a document or source filter names one library (none
        of this view's: nothing is searched); other filters apply to every library."""
        if filters is None or not (filters.doc_id or filters.source):
            return [(name, engine, filters) for name, engine in self.engines.items()]
        try:
            if filters.doc_id:
                library, engine, doc_id = self._split(filters.doc_id, ":")
                filters = replace(filters, doc_id=doc_id)
            if filters.source:
                library, engine, source = self._split(filters.source, "/")
                filters = replace(filters, source=source)
        except NotFound:
            return []
        return [(library, engine, filters)]

    def only(self, names: Sequence[str] | None) -> "LibraryView":
        """This view narrowed to ``names`` (a client's choice; never widened by it)."""
        if not names:
            return self
        wanted = set(names)
        return LibraryView(self.settings, {n: e for n, e in self.engines.items() if n in wanted},
                           self.manage & wanted)

    def names(self) -> list[dict]:
        return [{"name": n, "manage": n in self.manage} for n in self.engines]

    # --- questions
    def search(self, query: str, k: int | None = None, filters: Filters | None = None) -> SearchResult:
        routes = self._routes(filters)
        if not routes:
            return SearchResult(query=(query or "").strip(), abstained=True, top_score=0.0, hits=())
        results = [(name, engine.search(query, k=k, filters=f)) for name, engine, f in routes]
        return merge_results(results, k or self.settings.k)

    def _best(self, question: str, filters: Filters | None, history: Sequence[str]) -> tuple[str, EngineLike, Filters | None]:
        routes = self._routes(filters)
        if not routes:
            raise NotFound(NOT_FOUND)
        if len(routes) == 1:
            return routes[0]
        asked = standalone(question, history)
        scored = [(not r.abstained, r.top_score, -i) for i, (_, engine, f) in enumerate(routes)
                  for r in [engine.search(asked, filters=f)]]  # (the verdict ask's own search gives)
        return routes[-max(scored)[2]]

    def ask_stream(self, question: str, filters: Filters | None = None,
                   history: Sequence[str] = ()) -> Iterator[StreamEvent]:
        """The library is chosen before the first event (a bad request fails here, not mid-stream)."""
        library, engine, f = self._best(question, filters, history)
        events = engine.ask_stream(question, f, history)
        return (replace(e, answer=_answer(library, e.answer)) if e.answer is not None else e for e in events)

    def ask(self, question: str, filters: Filters | None = None, history: Sequence[str] = ()) -> Answer:
        events = list(self.ask_stream(question, filters, history))
        return events[-1].answer

    def compare(self, topic: str, max_rows: int | None = None) -> CompareTable:
        tables = [(name, engine.compare(topic, max_rows=max_rows)) for name, engine in self.engines.items()]
        rows = sorted((replace(r, doc_id=doc_name(name, r.doc_id), source=source_name(name, r.source), library=name)
                       for name, t in tables for r in t.rows), key=lambda r: -r.score)
        topic = tables[0][1].topic if tables else (topic or "").strip()
        return CompareTable(topic, tuple(rows[:max_rows] if max_rows is not None else rows))

    def precedents(self, text: str, k: int = 10, exclude_self: bool = True) -> PrecedentResults:
        groups = [_group(name, g) for name, engine in self.engines.items()
                  for g in engine.precedents(text, k=k, exclude_self=exclude_self)]
        return PrecedentResults(sorted(groups, key=lambda g: -g.score)[:k])

    # --- documents
    def documents(self) -> list[Document]:
        return [replace(d, doc_id=doc_name(name, d.doc_id), source=source_name(name, d.source))
                for name, engine in self.engines.items() for d in engine.documents()]

    def source_text(self, source: str) -> str:
        _, engine, rest = self._split(source, "/")
        if not any(d.source == rest for d in engine.documents()):
            raise NotFound(NOT_FOUND)
        return engine.source_text(rest)

    def page_region(self, source: str, start: int, end: int) -> PageRegion | None:
        """None for a source not of this view, as for an unknown file."""
        try:
            _, engine, rest = self._split(source, "/")
        except NotFound:
            return None
        return engine.page_region(rest, start, end)

    def facets(self) -> dict[str, list]:
        out: dict[str, Any] = {"doc_type": set(), "year": set(), "region": set(), "doc": []}
        for name, engine in self.engines.items():
            f = engine.facets()
            for key in ("doc_type", "year", "region"):
                out[key].update(f[key])
            prefix = f"{name} · " if len(self.engines) > 1 else ""
            out["doc"] += [(prefix + title, doc_name(name, doc_id)) for title, doc_id in f["doc"]]
        return {key: sorted(v) if isinstance(v, set) else v for key, v in out.items()}

    def generation(self) -> str | None:
        gens = [f"{name}={engine.generation()}" for name, engine in self.engines.items()]
        return ", ".join(gens) or None

    # --- the libraries' files
    def library(self) -> list[dict]:
        return [{**row, "library": name, "doc_id": doc_name(name, row["doc_id"]),
                 "source": source_name(name, row["source"])}
                for name, engine in self.engines.items() for row in engine.library()]

    def add_file(self, filename: str, data: bytes) -> str:
        """Into the library ``filename`` starts with (``<library>/name.docx``: one not the
        caller's is not found), else the only library the caller manages. (A leading "", "."
        or ".." is no library's name: that name is the engine's to sanitise.)"""
        library, sep, name = (filename or "").partition("/")
        if sep and library not in self.engines and library not in ("", ".", ".."):
            raise NotFound(NOT_FOUND)
        if not sep or library not in self.engines:
            if len(self.manage) != 1:
                raise (AccessDenied("没有管理任何文库的权限（只读）。") if not self.manage else
                       PolicyQAError(f"请指明文库：{'、'.join(sorted(self.manage))}（文件名写作 文库/文件名）。"))
            library, name = next(iter(self.manage)), filename
        return source_name(library, self._managed(library).add_file(name, data))

    def remove_source(self, source: str) -> None:
        library, _, rest = self._split(source, "/")
        self._managed(library).remove_source(rest)

    def reindex(self, progress: Progress | None = None) -> BuildSummary:
        """Every library the caller manages, one after another; the summaries added up."""
        if not self.manage:
            raise AccessDenied("没有管理任何文库的权限（只读）。")
        summaries = [(name, self._managed(name).reindex(progress)) for name in sorted(self.manage)]
        return merge_summaries(summaries)


def merge_results(results: Sequence[tuple[str, SearchResult]], k: int) -> SearchResult:
    """One result from each library's (see the module docstring)."""
    hits = sorted(((not r.abstained, h.score, _hit(name, h)) for name, r in results for h in r.hits),
                  key=lambda x: (x[0], x[1]), reverse=True)
    first = results[0][1]
    return SearchResult(
        query=first.query, abstained=all(r.abstained for _, r in results),
        top_score=max(r.top_score for _, r in results), hits=tuple(h for _, _, h in hits[:k]),
        translated_terms=tuple(dict.fromkeys(t for _, r in results for t in r.translated_terms)),
        expanded_terms=tuple(dict.fromkeys(t for _, r in results for t in r.expanded_terms)),
        threshold=first.threshold)


def merge_summaries(summaries: Sequence[tuple[str, BuildSummary]]) -> BuildSummary:
    named = lambda name, items: [source_name(name, s) for s in items]  # noqa: E731
    total = lambda attr: sum(getattr(s, attr) for _, s in summaries)  # noqa: E731
    return BuildSummary(
        documents=total("documents"), chunks=total("chunks"), files=total("files"),
        skipped=[{**x, "source": source_name(n, x.get("source", ""))} for n, s in summaries for x in s.skipped],
        added=[x for n, s in summaries for x in named(n, s.added)],
        updated=[x for n, s in summaries for x in named(n, s.updated)],
        removed=[x for n, s in summaries for x in named(n, s.removed)],
        unchanged=total("unchanged"), embedded=total("embedded"), reused=total("reused"),
        seconds=total("seconds"), embed_seconds=total("embed_seconds"),
        index_dir=", ".join(s.index_dir for _, s in summaries),
        up_to_date=all(s.up_to_date for _, s in summaries))


@dataclass
class Libraries:
    """The server's libraries: one engine each, and who may see which (``access``)."""

    settings: Settings
    access: Access
    engines: dict[str, EngineLike]
    _views: dict[Grant, LibraryView] = field(default_factory=dict, repr=False)

    def view(self, grant: Grant) -> LibraryView:
        view = self._views.get(grant)
        if view is None:
            engines = {n: e for n, e in self.engines.items() if n in grant.read}
            view = LibraryView(self.settings, engines, grant.manage & set(engines))
            self._views[grant] = view
        return view

    def everything(self) -> LibraryView:
        """Every library (for ``/readyz``, which shows only generations and counts)."""
        return self.view(Grant.of(self.engines))

    def close(self) -> None:
        for engine in self.engines.values():
            close: Callable[[], None] | None = getattr(engine, "close", None)
            if close is not None:
                close()


def no_access(settings: Settings) -> LibraryView:
    return LibraryView(settings, {}, NO_ACCESS.manage)
