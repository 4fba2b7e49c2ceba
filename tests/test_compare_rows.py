"""Compare tables are not capped: every document on the topic gets its row."""

from __future__ import annotations

from policyqa.api import Engine
from policyqa.config import load_settings


def test_compare_has_a_row_for_every_one_of_many_documents(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for n in range(27):  # more than any former fixed cap (20)
        (corpus / f"plan_{n:02d}.txt").write_text(
            f"第{n}县教育工作计划\n一、学前教育\n到2025年，学前三年毛入园率达到{60 + n}%以上。\n二、其他\n做好校园安全工作。\n",
            encoding="utf-8")
    settings = load_settings(env={}, corpus=corpus, index_dir=tmp_path / "index", model="hash:128")
    with Engine.open(settings, build_if_needed=True) as engine:
        table = engine.compare("学前三年毛入园率")
        assert len(table.rows) == 27 and {r.value for r in table.rows} == {60.0 + n for n in range(27)}
        assert len(engine.compare("学前三年毛入园率", max_rows=5).rows) == 5
