"""Who is asking: ``CallerEngine``, the ``EngineLike`` the page and the REST API are built on
when the server holds several libraries (``--libraries``).

Every call resolves the caller's ``LibraryView`` first, so the tabs' handlers, the Gradio
API functions and the REST routes stay as they are for one library:

* REST requests: ``rest.RestApi.guard`` checks the HTTP Basic login or bearer token and sets
  ``CALLER`` (a context variable; FastAPI runs the route in a copy of the guard's context);
* page events and Gradio API calls (``gradio_client`` logs in the same way): Gradio sets its
  own request context (``gradio.context.LocalContext.request``) around every handler call,
  generator steps included; its ``username`` is the login the page's ``auth`` accepted.

Without either (no login at all) the view is empty: nothing is readable.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from typing import Iterator, Sequence

import gradio  # (gradio.context: the request of the event being handled)

from ..build import BuildSummary, Progress
from ..compare import CompareTable
from ..config import Settings
from ..generate import StreamEvent
from ..libraries import NO_ACCESS, Grant
from ..page_view import PageRegion
from ..precedents import PrecedentResults
from ..types import Answer, Document, Filters, SearchResult
from .libraries import Libraries, LibraryView

CALLER: ContextVar[Grant | None] = ContextVar("policyqa_caller", default=None)


def page_user() -> str | None:
    """The logged-in user of the Gradio event being handled (None outside one)."""
    request = gradio.context.LocalContext.request.get(None)
    return getattr(request, "username", None) if request is not None else None


@dataclass
class CallerEngine:
    """``EngineLike`` answering with the current caller's view of ``libraries``."""

    libraries: Libraries

    @property
    def settings(self) -> Settings:
        return self.libraries.settings

    def view(self) -> LibraryView:
        grant = CALLER.get()
        if grant is None:
            user = page_user()
            grant = self.libraries.access.user_grant(user) if user else NO_ACCESS
        return self.libraries.view(grant)

    def only(self, names: Sequence[str] | None) -> LibraryView:
        return self.view().only(names)

    def names(self) -> list[dict]:
        return self.view().names()

    def ask(self, question: str, filters: Filters | None = None, history: Sequence[str] = ()) -> Answer:
        return self.view().ask(question, filters, history)

    def ask_stream(self, question: str, filters: Filters | None = None,
                   history: Sequence[str] = ()) -> Iterator[StreamEvent]:
        return self.view().ask_stream(question, filters, history)

    def search(self, query: str, k: int | None = None, filters: Filters | None = None) -> SearchResult:
        return self.view().search(query, k, filters)

    def compare(self, topic: str, max_rows: int | None = None) -> CompareTable:
        return self.view().compare(topic, max_rows)

    def precedents(self, text: str, k: int = 10, exclude_self: bool = True) -> PrecedentResults:
        return self.view().precedents(text, k, exclude_self)

    def documents(self) -> list[Document]:
        return self.view().documents()

    def source_text(self, source: str) -> str:
        return self.view().source_text(source)

    def page_region(self, source: str, start: int, end: int) -> PageRegion | None:
        return self.view().page_region(source, start, end)

    def facets(self) -> dict[str, list]:
        return self.view().facets()

    def generation(self) -> str | None:
        return self.view().generation()

    def library(self) -> list[dict]:
        return self.view().library()

    def add_file(self, filename: str, data: bytes) -> str:
        return self.view().add_file(filename, data)

    def remove_source(self, source: str) -> None:
        self.view().remove_source(source)

    def reindex(self, progress: Progress | None = None) -> BuildSummary:
        return self.view().reindex(progress)
