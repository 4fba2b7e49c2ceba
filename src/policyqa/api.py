"""The public Python API shared by the CLI and the web app (a stable import path; the code
lives in ``engine``, ``build`` and ``answer_index``).

    from policyqa.config import load_settings
    from policyqa.api import Engine
    with Engine.open(load_settings(), build_if_needed=True) as engine:
        engine.search("学前教育毛入园率").hits[0].chunk.text
"""

from .answer_index import IndexedScorer, IndexedTermWeights
from .build import (BuildSummary, EmbedStream, Progress, build_index, chunk_sentences, chunk_settings,
                    embedded_texts, index_is_current)
from .engine import Engine, search_params
from .types import ProgressEvent

__all__ = [
    "BuildSummary", "EmbedStream", "Engine", "IndexedScorer", "IndexedTermWeights", "Progress", "ProgressEvent",
    "build_index", "chunk_sentences", "chunk_settings", "embedded_texts", "index_is_current", "search_params",
]
