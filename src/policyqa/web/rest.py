"""The REST API beside the page, in the same process: ``/api/v1/…`` (OpenAPI description at
``/api/v1/openapi.json``, browsable at ``/api/v1/docs``) and ``/healthz``, ``/readyz``.

It answers with the same engine and the same JSON as the CLI's ``--json`` output. Errors are
JSON too: ``{"error": "<the CLI's message>"}`` with 400 (bad input), 401 (no or wrong
credentials), 403 (library changes without a configured login), 413 (body too large), 429
(rate limit, with ``Retry-After``) or 500.

Credentials: the page's login (``auth``, sent as HTTP Basic) or one of ``api_tokens`` (sent as
``Authorization: Bearer <token>``), for programs. With neither configured the read routes are
open, as the page is, and library changes are refused: they delete and add corpus files.

With several libraries (``--libraries``: ``access``) every route needs a user of that file
(HTTP Basic) or one of its tokens; the caller's grant is set for the request
(``access.CALLER``) and the engine answers from the libraries it may read; a document or
library it may not read is a 404 like a missing one, a change it may not make a 403.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

from fastapi import Depends, FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, Field
from starlette.routing import Route

from ..config import Settings
from ..errors import AccessDenied, NotFound, PolicyQAError
from ..generate import StreamEvent
from ..libraries import Access, Grant
from ..types import Filters
from .access import CALLER
from .common import make_filters, query_input, required, within
from .protocol import EngineLike

log = logging.getLogger(__name__)

PREFIX = "/api/v1"


class ApiError(Exception):
    """An error the API answers with ``status`` and ``{"error": message}``."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers or {}


# ---------------------------------------------------------------------------- credentials


@dataclass(frozen=True)
class Credentials:
    """Who may call the API: the page's ``user:password`` and the programs' tokens."""

    login: tuple[str, str] | None = None
    tokens: tuple[str, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings, login: tuple[str, str] | None) -> "Credentials":
        tokens = tuple(t.strip() for t in (settings.api_tokens or "").split(",") if t.strip())
        return cls(login, tokens)

    @property
    def configured(self) -> bool:
        return self.login is not None or bool(self.tokens)

    def accepts(self, authorization: str) -> bool:
        scheme, _, value = authorization.partition(" ")
        value = value.strip()
        if scheme.lower() == "bearer":
            return any(hmac.compare_digest(value.encode(), t.encode()) for t in self.tokens)
        if scheme.lower() == "basic" and self.login is not None:
            try:
                user, _, password = base64.b64decode(value, validate=True).decode("utf-8").partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return False
            return hmac.compare_digest(f"{user}:{password}".encode(), ":".join(self.login).encode())
        return False


def caller_grant(access: Access, authorization: str) -> Grant | None:
    """The grant of a bearer token or an HTTP Basic login of the libraries file (None: neither)."""
    scheme, _, value = authorization.partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        return access.token_grant(value)
    if scheme.lower() == "basic":
        try:
            user, _, password = base64.b64decode(value, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return access.user_grant(user) if access.check_password(user, password) else None
    return None


# ---------------------------------------------------------------------------- rate limit


@dataclass
class RateLimit:
    """At most ``per_minute`` requests per client in any 60 s (0: no limit); thread-safe."""

    per_minute: int
    clock: Callable[[], float] = time.monotonic
    _times: dict[str, deque[float]] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def check(self, client: str) -> None:
        if self.per_minute <= 0:
            return
        now = self.clock()
        with self._lock:
            if len(self._times) > 10_000:  # many addresses, one request each: forget the idle
                self._times = {c: t for c, t in self._times.items() if t and t[-1] > now - 60}
            times = self._times.setdefault(client, deque())
            while times and times[0] <= now - 60:
                times.popleft()
            if len(times) >= self.per_minute:
                wait = math.ceil(times[0] + 60 - now)
                raise ApiError(429, f"请求过于频繁：每分钟最多 {self.per_minute} 次，请 {wait} 秒后再试。",
                               {"Retry-After": str(wait)})
            times.append(now)


# ---------------------------------------------------------------------------- request bodies


class Scoped(BaseModel):
    libraries: list[str] = Field(default_factory=list,
                                 description="only these of the caller's libraries (default: all it may read)")


class Filtered(Scoped):
    """The filters search and ask share."""

    doc_type: str = ""
    year: int | None = None
    region: str = ""
    doc_id: str = ""

    def filters(self) -> Filters | None:
        return make_filters(self.doc_type, self.year, self.region, self.doc_id)


class SearchRequest(Filtered):
    query: str
    k: int | None = Field(None, description="results (default: the k setting)")


class AskRequest(Filtered):
    question: str
    history: list[str] = Field(default_factory=list, description="the conversation's earlier questions, oldest first")


class CompareRequest(Scoped):
    topic: str
    max_rows: int | None = Field(None, description="at most this many rows (default: all)")


class PrecedentsRequest(Scoped):
    text: str = Field(..., description="a draft paragraph")
    k: int = 10


# ---------------------------------------------------------------------------- the app


@dataclass
class RestApi:
    """The API's routes over one engine; ``app()`` builds the FastAPI sub-application."""

    engine: EngineLike
    credentials: Credentials
    limit: RateLimit
    max_body_bytes: int
    access: Access | None = None  # several libraries: who may see which
    ready_engine: EngineLike | None = None  # /readyz over every library (default: engine)

    # --- guards, run before every route
    async def guard(self, request: Request) -> None:
        client = request.client.host if request.client else "?"
        self.limit.check(client)
        size = request.headers.get("content-length")
        if size is not None and size.isdigit() and int(size) > self.max_body_bytes:
            raise ApiError(413, f"请求体 {int(size):,} 字节，超过上限 {self.max_body_bytes:,} 字节（api_max_body_bytes）。")
        if self.access is not None:
            grant = caller_grant(self.access, request.headers.get("authorization", ""))
            if grant is None:
                raise ApiError(401, "需要登录：HTTP Basic（文库文件中的用户名和密码）或 Authorization: Bearer <token>。",
                               {"WWW-Authenticate": 'Basic realm="policyqa"'})
            CALLER.set(grant)
        elif self.credentials.configured and not self.credentials.accepts(request.headers.get("authorization", "")):
            raise ApiError(401, "需要登录：HTTP Basic（页面的用户名和密码）或 Authorization: Bearer <token>。",
                           {"WWW-Authenticate": 'Basic realm="policyqa"'})

    def manage(self) -> None:
        if self.access is None and not self.credentials.configured:
            raise ApiError(403, "文库修改需要登录：用 --auth 或 api_tokens 设置凭据后再试。")

    def scoped(self, names: list[str]) -> EngineLike:
        """The engine narrowed to the libraries a request names (intersected with the caller's)."""
        only = getattr(self.engine, "only", None)
        return only(names) if names and only is not None else self.engine

    # --- the routes
    def search(self, body: SearchRequest) -> dict:
        query = query_input(self.engine, body.query, "请输入检索内容（query）。", "检索内容")
        return self.scoped(body.libraries).search(query, k=body.k, filters=body.filters()).to_json()

    def _asked(self, body: AskRequest) -> tuple[str, Filters | None, list[str]]:
        """The question, its filters and its last 10 earlier questions, checked (before a
        stream starts, so a bad request is a 400, not a broken stream)."""
        question = query_input(self.engine, body.question, "请输入问题（question）。", "问题")
        history = [within(h, self.engine.settings.max_query_chars, "历史问题") for h in body.history[-10:]]
        return question, body.filters(), history

    def ask(self, body: AskRequest) -> dict:
        return self.scoped(body.libraries).ask(*self._asked(body)).to_json()

    def ask_stream(self, body: AskRequest) -> StreamingResponse:
        """Server-sent events: ``token`` (the model's text as written), ``sentence`` (a finished
        sentence: ``{"text", "verified", "reason"}``; only verified ones are facts), then one
        ``answer`` (the ``/ask`` object). Without a chat model, just the ``answer``."""
        events = self.scoped(body.libraries).ask_stream(*self._asked(body))
        return StreamingResponse((_sse(e) for e in events), media_type="text/event-stream")

    def compare(self, body: CompareRequest) -> dict:
        topic = query_input(self.engine, body.topic, "请输入对比的主题（topic）。", "主题")
        return self.scoped(body.libraries).compare(topic, max_rows=body.max_rows).to_json()

    def precedents(self, body: PrecedentsRequest) -> dict:
        text = within(required(body.text, "请粘贴一段草稿（text）。"), self.engine.settings.max_draft_chars, "草稿")
        return self.scoped(body.libraries).precedents(text, k=body.k).to_json()

    def documents(self) -> dict:
        return {"documents": self.engine.library()}

    def document(self, doc_id: str) -> dict:
        for row in self.engine.library():
            if row["doc_id"] == doc_id:
                return row
        raise ApiError(404, f"没有编号为 {doc_id} 的文档：GET {PREFIX}/documents 列出全部。")

    def document_text(self, doc_id: str) -> dict:
        row = self.document(doc_id)
        doc = next(d for d in self.engine.documents() if d.doc_id == doc_id)
        text = self.engine.source_text(doc.source)
        return {**row, "start": doc.start, "end": doc.end, "text": text[doc.start:doc.end]}

    def page_image(self, doc_id: str, start: int, end: int) -> Response:
        """``[start, end)`` of a document OCR read, boxed on its page (JPEG); 404 otherwise."""
        self.document(doc_id)
        doc = next(d for d in self.engine.documents() if d.doc_id == doc_id)
        region = self.engine.page_region(doc.source, start, end) if start < end else None
        if region is None:
            raise ApiError(404, "这段文字不是从扫描页识别的（或文件在索引后已更改），没有原件页面图像。")
        return Response(region.image, media_type="image/jpeg", headers={"X-Page": str(region.page)})

    def libraries(self) -> dict:
        """The libraries the caller may read, and whether it may manage each ([] for one library)."""
        names = getattr(self.engine, "names", None)
        return {"libraries": names() if names is not None else []}

    async def upload(self, file: UploadFile = File(...),  # noqa: B008 - FastAPI's form markers
                     library: str = Form("", description="the library to add it to (several libraries)")) -> dict:
        self.manage()
        data = await file.read(self.engine.settings.max_file_bytes + 1)
        name = file.filename or ""
        return {"saved": self.engine.add_file(f"{library}/{name}" if library and self.access else name, data)}

    def remove(self, source: str) -> dict:
        self.manage()
        self.engine.remove_source(source)
        return {"removed": source}

    def reindex(self, library: str = "") -> dict:
        self.manage()
        return self.scoped([library] if library else []).reindex().to_json()

    def ready(self) -> dict:
        engine = self.ready_engine or self.engine
        return {"ready": True, "generation": engine.generation(), "documents": len(engine.documents())}

    def app(self) -> FastAPI:
        api = FastAPI(title="policyqa", version="1", dependencies=[Depends(self.guard)],
                      description="Search, cited answers, compare tables and precedents over the indexed documents.")
        api.add_exception_handler(ApiError, _api_error)
        api.add_exception_handler(NotFound, _not_found)
        api.add_exception_handler(AccessDenied, _denied)
        api.add_exception_handler(PolicyQAError, _policyqa_error)
        api.add_exception_handler(RequestValidationError, _validation_error)
        api.add_exception_handler(Exception, _unexpected)
        api.post("/search", summary="passages for a query")(self.search)
        api.post("/ask", summary="an extractive answer, every sentence cited")(self.ask)
        api.post("/ask/stream", summary="the answer as it is written (server-sent events)",
                 response_class=StreamingResponse)(self.ask_stream)
        api.post("/compare", summary="one row per document stating a target on a topic")(self.compare)
        api.post("/precedents", summary="passages of other plans like a draft")(self.precedents)
        api.get("/libraries", summary="the libraries the caller may read")(self.libraries)
        api.get("/documents", summary="every indexed document")(self.documents)
        api.get("/documents/{doc_id}", summary="one document's metadata")(self.document)
        api.get("/documents/{doc_id}/text", summary="one document's text")(self.document_text)
        api.get("/documents/{doc_id}/page-image", summary="a scanned passage boxed on its page (JPEG)",
                response_class=Response)(self.page_image)
        api.post("/library/files", summary="add a file to the corpus (then reindex)")(self.upload)
        api.delete("/library/files/{source:path}", summary="remove a corpus file (then reindex)")(self.remove)
        api.post("/library/reindex", summary="update the index from the corpus")(self.reindex)
        api.get("/healthz", summary="the process answers")(_healthz)
        api.get("/readyz", summary="the index is loaded; its generation")(self.ready)
        return api


def _sse(event: StreamEvent) -> str:
    if event.kind == "sentence" and event.verdict is not None:
        data: Any = {"text": event.text, "verified": event.verdict.ok, "reason": event.verdict.reason}
    elif event.kind == "answer" and event.answer is not None:
        data = event.answer.to_json()
    else:
        data = {"text": event.text}
    return f"event: {event.kind}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def _healthz() -> dict:
    return {"ok": True}


def _json_error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


async def _api_error(_request: Request, e: Exception) -> JSONResponse:
    assert isinstance(e, ApiError)
    return _json_error(e.status, str(e), e.headers)


async def _not_found(_request: Request, e: Exception) -> JSONResponse:
    return _json_error(404, str(e))


async def _denied(_request: Request, e: Exception) -> JSONResponse:
    return _json_error(403, str(e))


async def _policyqa_error(_request: Request, e: Exception) -> JSONResponse:
    return _json_error(400, str(e))


async def _validation_error(_request: Request, e: Exception) -> JSONResponse:
    assert isinstance(e, RequestValidationError)
    parts = ["{}: {}".format(".".join(str(x) for x in err.get("loc", ())[1:]) or "body", err.get("msg", ""))
             for err in e.errors()]
    return _json_error(400, "请求格式有误：" + "；".join(parts))


async def _unexpected(_request: Request, e: Exception) -> JSONResponse:
    log.exception("REST request failed")
    return _json_error(500, f"处理请求时出错（{type(e).__name__}），详情见服务器日志。")


def rest_api(engine: EngineLike, settings: Settings, login: tuple[str, str] | None,
             access: Access | None = None, ready_engine: EngineLike | None = None) -> RestApi:
    credentials = Credentials.from_settings(settings, login)
    return RestApi(engine, credentials, RateLimit(settings.api_rate_per_minute), settings.api_max_body_bytes,
                   access, ready_engine)


def mount_rest_api(server_app: Any, api: RestApi) -> None:
    """Mount the API at ``PREFIX`` on the page's running FastAPI app, with ``/healthz`` and
    ``/readyz`` at the top for load balancers (no login: they show no document text), ahead of
    the page's own routes (routes are matched in order)."""
    server_app.mount(PREFIX, api.app())
    mount = server_app.router.routes.pop()
    health = [Route("/healthz", lambda _r: JSONResponse(_healthz())),
              Route("/readyz", lambda _r: JSONResponse(api.ready()))]
    server_app.router.routes[:0] = [mount, *health]
