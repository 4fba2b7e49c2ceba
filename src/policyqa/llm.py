"""A chat model behind an OpenAI-compatible HTTP API (vLLM, Ollama, Xinference, llama.cpp's
server, …): ``POST <url>/v1/chat/completions``, streamed (server-sent events) or not.

Every failure becomes one ``LLMError`` that says what to check: the server unreachable, an
HTTP error, a body that is not the API's JSON, a reply past the timeout. Connection failures
and 5xx/429 answers are retried with exponential backoff; a hang costs at most ``timeout_s``
per attempt (the timeout covers connecting and every wait for the next bytes).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Callable, Iterator

import httpx

from .errors import PolicyQAError


class LLMError(PolicyQAError):
    """The model server could not give an answer; the message says why."""


@dataclass(frozen=True)
class ChatMessage:
    role: str  # "system", "user", "assistant"
    content: str


@dataclass(frozen=True)
class ChatBackend:
    """One chat model on one server. ``url`` is the server's base (``http://host:8000`` or
    ``…/v1``); ``model`` the name it serves the model under."""

    url: str
    model: str
    api_key: str | None = None
    timeout_s: float = 30.0
    retries: int = 2
    backoff_s: float = 0.5
    sleep: Callable[[float], None] = time.sleep

    @property
    def endpoint(self) -> str:
        base = self.url.rstrip("/")
        return (base if base.endswith("/v1") else base + "/v1") + "/chat/completions"

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def _body(self, messages: list[ChatMessage], stream: bool) -> dict:
        return {"model": self.model, "messages": [{"role": m.role, "content": m.content} for m in messages],
                "temperature": 0, "stream": stream}

    def stream(self, messages: list[ChatMessage]) -> Iterator[str]:
        """The reply's text pieces as they arrive. Retries happen only before the first
        piece: once text has been passed on, a failure is raised."""
        for attempt in range(self.retries + 1):
            try:
                yield from self._stream_once(messages)
                return
            except _Retryable as e:
                if e.started or attempt == self.retries:
                    raise LLMError(str(e)) from None
                self.sleep(self.backoff_s * 2 ** attempt)

    def complete(self, messages: list[ChatMessage]) -> str:
        return "".join(self.stream(messages))

    def _stream_once(self, messages: list[ChatMessage]) -> Iterator[str]:
        started = False
        timeout = httpx.Timeout(self.timeout_s)
        try:
            with httpx.stream("POST", self.endpoint, json=self._body(messages, True), headers=self._headers(),
                              timeout=timeout) as response:
                _check_status(response)
                for line in response.iter_lines():
                    piece = _sse_piece(line, self.endpoint)
                    if piece is _DONE:
                        return
                    if piece:
                        started = True
                        yield piece
        except httpx.TimeoutException:
            raise _Retryable(f"the model server at {self.url} did not answer within {self.timeout_s:g} s "
                             "(setting llm_timeout_s)", started) from None
        except httpx.TransportError as e:
            raise _Retryable(f"the model server at {self.url} cannot be reached ({type(e).__name__}): "
                             "check llm_url / POLICYQA_LLM_URL and that the server runs", started) from None
        except _ServerBusy as e:
            raise _Retryable(str(e), started) from None


class _Retryable(Exception):
    def __init__(self, message: str, started: bool) -> None:
        super().__init__(message)
        self.started = started


class _ServerBusy(Exception):
    pass


_DONE = object()


def _check_status(response: httpx.Response) -> None:
    if response.status_code == 200:
        return
    response.read()
    detail = response.text[:200].strip()
    message = f"the model server answered HTTP {response.status_code} at {response.url}: {detail}"
    if response.status_code >= 500 or response.status_code == 429:
        raise _ServerBusy(message)
    if response.status_code in (401, 403):
        message += " (check llm_api_key / POLICYQA_LLM_API_KEY)"
    elif response.status_code == 404:
        message += " (check llm_url and llm_model / POLICYQA_LLM_MODEL)"
    raise LLMError(message)


def _sse_piece(line: str, endpoint: str) -> str | object | None:
    """The text of one ``data: {…}`` line of a streamed reply (``_DONE`` at its end)."""
    line = line.strip()
    if not line or line.startswith(":") or not line.startswith("data:"):
        return None
    data = line[5:].strip()
    if data == "[DONE]":
        return _DONE
    try:
        choice = json.loads(data)["choices"][0]
    except (ValueError, KeyError, IndexError, TypeError):
        raise LLMError(f"the model server at {endpoint} sent a reply that is not the chat API's JSON: "
                       f"{data[:120]!r}") from None
    delta = choice.get("delta") or choice.get("message") or {}
    content = delta.get("content") if isinstance(delta, dict) else None
    if content is not None and not isinstance(content, str):
        raise LLMError(f"the model server at {endpoint} sent non-text content: {str(content)[:120]!r}")
    return content or None


def chat_backend(settings) -> ChatBackend | None:
    """The chat model the settings name (``llm_url``, ``llm_model``), or None without one."""
    if not settings.llm_url:
        return None
    if not settings.llm_model:
        raise PolicyQAError("llm_url is set but llm_model is not: set POLICYQA_LLM_MODEL (or llm_model) "
                            "to the name the server serves the model under")
    return ChatBackend(settings.llm_url, settings.llm_model, settings.llm_api_key,
                       settings.llm_timeout_s, max(settings.llm_retries, 0))
