"""English query → Chinese words (glossary.py) and its use on the lexical side of search."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from policyqa.glossary import Glossary, default_cedict_path, normalise_gloss, parse_cedict, singular
from policyqa.lexical import LexicalIndex
from policyqa.search import lexical_side

CEDICT_SAMPLE = """\
# CC-CEDICT sample
審計 审计 [shen3 ji4] /to audit/to examine finances/
食堂 食堂 [shi2 tang2] /dining hall/canteen/CL:個|个[ge4]/
食品 食品 [shi2 pin3] /foodstuff/food/provisions/
安全 安全 [an1 quan2] /safe/secure/safety/security/
食品安全 食品安全 [shi2 pin3 an1 quan2] /food safety/
學校 学校 [xue2 xiao4] /school/CL:所[suo3]/
雙語 双语 [shuang1 yu3] /bilingual/
教師 教师 [jiao4 shi1] /teacher/CL:個|个[ge4]/
老師 老师 [lao3 shi1] /teacher/
字典 字典 [zi4 dian3] /dictionary/character dictionary/
義務教育 义务教育 [yi4 wu4 jiao4 yu4] /compulsory education/
張 张 [zhang1] /surname Zhang/to open up/
"""


def glossary() -> Glossary:
    return Glossary(parse_cedict(CEDICT_SAMPLE.splitlines()))


def test_cedict_is_inverted_into_english_keys():
    g = glossary()
    assert g.entries["audit"] == ("审计",)  # "to audit" → "audit"
    assert g.entries["food safety"] == ("食品安全",)
    assert set(g.entries["teacher"]) == {"教师", "老师"}
    assert "cl:个|个[ge4]" not in g.entries and "surname zhang" not in g.entries
    assert normalise_gloss("bilingual (teacher)") == "bilingual"
    assert [singular(w) for w in ["dictionaries", "classes", "teachers", "campus", "analysis"]] == [
        "dictionary", "class", "teacher", "campus", "analysis"]


def test_translate_takes_longest_phrases_known_words_and_counts_the_share():
    g = glossary()
    df = {"食品安全": 3, "食品": 9, "安全": 40, "学校": 50, "审计": 2, "教师": 30, "老师": 5}
    tr = g.translate("School canteen food safety", lambda w: df.get(w, 0))
    # "food safety" is one phrase; 食堂 is not in the index, so "canteen" is not matched
    assert tr.phrases == (("school", ("学校",)), ("food safety", ("食品安全",)))
    assert tr.share == pytest.approx(3 / 4)
    tr = g.translate("the audit of teachers", lambda w: df.get(w, 0))
    assert tr.phrases == (("audit", ("审计",)), ("teachers", ("教师", "老师")))  # most frequent first
    assert tr.share == 1.0  # "the" and "of" are not content words
    assert g.translate("weather forecast", lambda w: df.get(w, 0)).phrases == ()


def test_english_query_is_scored_by_its_chinese_words():
    texts = ["为义务教育学生免费配发字典", "加强双语教师培养培训", "学校食堂食品安全检查"]
    data = SimpleNamespace(lexical=LexicalIndex.build(texts))
    side = lexical_side(data, "bilingual teachers", glossary())
    assert side.translated == ("双语", "教师") and side.coverage == 1.0
    assert int(side.scores.argmax()) == 1
    # without a glossary an English query sees nothing; a Chinese query is never translated
    assert lexical_side(data, "bilingual teachers").scores.max() == 0
    cjk = lexical_side(data, "双语教师", glossary())
    assert cjk.translated == () and int(cjk.scores.argmax()) == 1


def test_the_shipped_dictionary_loads():
    g = Glossary.load(default_cedict_path())
    assert len(g.entries) > 50_000
    assert "义务教育" in g.entries["compulsory education"]
    assert "审计" in g.lookup(["audit"])


def test_engine_translates_english_queries_unless_told_not_to(fake_settings):
    """With the fake embedder the dense ranking is arbitrary, so the lexical side decides:
    translated, it finds the canteen passage of the small corpus for an English query."""
    import dataclasses

    from policyqa.api import Engine

    engine = Engine.open(fake_settings, build_if_needed=True)
    hits = engine.search("food safety", k=3).hits
    assert hits[0].lexical_rank == 1 and "食品安全" in hits[0].chunk.text
    plain = Engine.open(dataclasses.replace(fake_settings, translate_queries=False))
    assert all(h.lexical_rank is None for h in plain.search("food safety", k=3).hits)
    assert plain.glossary() is None
    assert engine.glossary() is engine.glossary()  # read once
