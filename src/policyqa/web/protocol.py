"""``EngineLike``: exactly what the web layer calls on an engine.

``policyqa.engine.Engine`` satisfies it, and so does the test stand-in
(``tests/fake_engine.FakeEngine``); ``tests/test_engine_contract.py`` runs one suite of
behaviour checks against both. The page, its handlers and the API functions are typed with
this protocol, so a method the web layer starts to use has to be added here first.
"""

from __future__ import annotations

from typing import Iterator, Protocol, Sequence

from ..build import BuildSummary, Progress
from ..config import Settings
from ..generate import StreamEvent
from ..page_view import PageRegion
from ..precedents import PrecedentResults
from ..targets import CompareTable
from ..types import Answer, Document, Filters, SearchResult


class EngineLike(Protocol):
    # read for the page's limits: k, max_query_chars, max_draft_chars, max_file_bytes
    settings: Settings

    # --- questions (an empty or over-long text raises PolicyQAError; so does k <= 0)
    def ask(self, question: str, filters: Filters | None = None, history: Sequence[str] = ()) -> Answer: ...

    def ask_stream(self, question: str, filters: Filters | None = None,
                   history: Sequence[str] = ()) -> Iterator[StreamEvent]: ...

    def search(self, query: str, k: int | None = None, filters: Filters | None = None) -> SearchResult: ...

    def compare(self, topic: str, max_rows: int | None = None) -> CompareTable: ...

    def precedents(self, text: str, k: int = 10, exclude_self: bool = True) -> PrecedentResults: ...

    # --- documents
    def documents(self) -> list[Document]: ...

    def source_text(self, source: str) -> str: ...

    # a passage of a scanned page boxed on the page image, or None (not OCR'd, file changed)
    def page_region(self, source: str, start: int, end: int) -> PageRegion | None: ...

    def facets(self) -> dict[str, list]: ...

    def generation(self) -> str | None: ...

    # --- the library (corpus folder and reindexing)
    def library(self) -> list[dict]: ...

    def add_file(self, filename: str, data: bytes) -> str: ...

    def remove_source(self, source: str) -> None: ...

    def reindex(self, progress: Progress | None = None) -> BuildSummary: ...
