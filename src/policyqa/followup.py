"""Follow-up questions in a conversation ("那农村呢？", "具体有哪些措施？" after a question):
the question searched is a standalone one.

With a chat model (``llm.ChatBackend``) the model rewrites the last question into a
standalone one from the earlier questions. Without one, or when the model fails, the rule:

* a question is a follow-up when it leans on what came before (starts with 那/那么/还有/
  另外/此外/再/其中, ends with 呢, or refers back: 这/该/其/它/上述/具体/这些/哪些方面) or is
  short: at most ``MAX_FOLLOWUP_CHARS`` characters once question words are stripped, too
  short to name a topic of its own;
* a follow-up is searched as itself plus the topic of the question before it (that question
  made standalone the same way, with its question words stripped), so "那农村呢？" after
  "学前三年幼儿入园率的目标是多少？" searches "农村 学前三年幼儿入园率 目标".

A question that is not a follow-up is searched as asked, whatever came before.
"""

from __future__ import annotations

import re
from typing import Sequence

from .llm import ChatBackend, ChatMessage, LLMError
from .text import strip_question_words

MAX_FOLLOWUP_CHARS = 8
_LEANS_BACK = re.compile(r"^(?:那么?|还有|另外|此外|再|其中)|呢[？?。！!]*$|这|该|其|它|上述|具体|这些|哪些方面")

CONDENSE_PROMPT = (
    "把对话中的最后一个问题改写成一个不依赖上文、可以单独检索的完整问题。只输出改写后的问题，不要回答它。"
    "如果最后一个问题本身已经完整，原样输出。"
)


def _core(question: str) -> str:
    return " ".join(strip_question_words(question).split())


def is_followup(question: str) -> bool:
    core = _core(question).replace(" ", "")
    return len(core) <= MAX_FOLLOWUP_CHARS or bool(_LEANS_BACK.search(question.strip()))


def by_rule(question: str, history: Sequence[str]) -> str:
    """``question`` with the previous question's topic when it is a follow-up (module rule)."""
    if not history or not is_followup(question):
        return question
    previous = by_rule(history[-1], history[:-1])
    own = _LEANS_BACK.sub(" ", _core(question))
    return " ".join(f"{own} {_core(previous)}".split())


def standalone(question: str, history: Sequence[str], chat: ChatBackend | None = None) -> str:
    """The question to search and answer: ``question`` itself when there is no history, the
    chat model's rewrite when one is configured (the rule if it fails or answers nonsense)."""
    history = [h for h in history if h and h.strip()]
    if not history:
        return question
    if chat is not None:
        turns = "\n".join(f"问{i}：{h}" for i, h in enumerate([*history[-4:], question], start=1))
        try:
            rewrite = chat.complete([ChatMessage("system", CONDENSE_PROMPT), ChatMessage("user", turns)]).strip()
        except LLMError:
            rewrite = ""
        if 0 < len(rewrite) <= 4 * max(len(question), 30) and "\n" not in rewrite:
            return rewrite
    return by_rule(question, history)
