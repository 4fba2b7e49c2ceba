"""Extractive cited answers on synthetic passages (no index, no model)."""

from __future__ import annotations

import dataclasses
import re

from policyqa.answer import NOT_FOUND, PLACEHOLDER_NOTE, build_answer, short_title
from policyqa.answer_check import check_citations
from policyqa.answer_select import AnswerParams
from policyqa.answer_terms import EmbeddingScorer, KeyTerms
from policyqa.embed import HashEmbedder
from policyqa.types import Answer, Chunk, DocMeta, Hit

TEXTS = {
    "a.txt": (
        "某区教育局2023年工作计划\n"
        "一、总体目标\n"
        "学前三年毛入园率达到90%以上。完成44所标准化学校建设。\n"
        "二、教师交流\n"
        "全面推进教师交流轮岗。每年交流轮岗教师比例不低于10%。\n"
        "骨干教师交流人数不低于交流总数的20%。\n"
        "三、其他\n"
        "做好食堂管理工作，保障师生饮食安全。\n"
    ),
    "b.txt": (
        "某縣教育局2024年工作總結\n"
        "一、教師隊伍\n"
        "推進教師交流輪崗，全年交流教師120名。\n"
    ),
    "c.txt": (
        "某市督导室2022年工作思路\n"
        "教师交流轮岗纳入督导评估，督导覆盖率达到100%。\n"
    ),
}


def source_text(source: str) -> str:
    return TEXTS[source]


def make_hit(source: str, needle: str, score: float, title: str | None = None, doc_id: str | None = None,
             path: tuple[str, ...] = ("一、",), dense: float | None = None) -> Hit:
    text = TEXTS[source]
    start = text.index(needle)
    end = start + len(needle)
    title = title or text.split("\n", 1)[0]
    chunk = Chunk(0, doc_id or source, source, start, end, text[start:end], title, path, DocMeta())
    return Hit(chunk, score, dense_score=dense)


EMB = HashEmbedder(256)
SCORER = EmbeddingScorer(EMB.embed_queries, EMB.embed_passages)


class KeywordScorer:
    """High similarity for sentences containing any of the given words."""

    def __init__(self, *words: str):
        self.words = words

    def score(self, question, sentences):
        return [1.0 if any(w in s for w in self.words) else 0.0 for s in sentences]


NUMBERS = re.compile(r"\d+(?:\.\d+)?")


def segments(answer: Answer) -> dict[int, str]:
    out, pos = {}, 0
    for m in re.finditer(r"\[(\d+)\]", answer.answer):
        out[int(m.group(1))] = answer.answer[pos : m.start()]
        pos = m.end()
    return out


def test_citations_match_source_spans_exactly():
    hits = [
        make_hit("a.txt", "学前三年毛入园率达到90%以上。完成44所标准化学校建设。", 0.9),
        make_hit("a.txt", "全面推进教师交流轮岗。每年交流轮岗教师比例不低于10%。", 0.5),
    ]
    ans = build_answer("学前三年毛入园率目标是多少？", hits, source_text, SCORER, abstained=False)
    assert not ans.abstained and ans.citations
    for c in ans.citations:
        assert c.text == TEXTS[c.source][c.start : c.end]
    assert check_citations(ans, source_text) == []
    assert "90%" in ans.answer
    assert ans.citations[0].text.startswith("学前三年毛入园率达到90%以上")
    assert ans.answer.count("[1]") == 1


def test_every_number_in_answer_is_in_its_cited_sentence():
    hits = [
        make_hit("a.txt", "全面推进教师交流轮岗。每年交流轮岗教师比例不低于10%。\n骨干教师交流人数不低于交流总数的20%。", 0.9),
        make_hit("c.txt", "教师交流轮岗纳入督导评估，督导覆盖率达到100%。", 0.6, doc_id="c"),
        make_hit("a.txt", "学前三年毛入园率达到90%以上。完成44所标准化学校建设。", 0.4),
    ]
    ans = build_answer("教师交流轮岗的比例是多少", hits, source_text, SCORER, abstained=False)
    by_n = {c.n: c for c in ans.citations}
    segs = segments(ans)
    assert set(segs) == set(by_n)
    for n, seg in segs.items():
        for num in NUMBERS.findall(seg):
            assert num in by_n[n].text, (num, by_n[n].text)
    assert check_citations(ans, source_text) == []


def test_adjacent_sentences_merge_into_one_citation():
    passage = "全面推进教师交流轮岗。每年交流轮岗教师比例不低于10%。\n骨干教师交流人数不低于交流总数的20%。"
    hits = [make_hit("a.txt", passage, 0.9)]
    scorer = KeywordScorer("交流")
    ans = build_answer("教师交流轮岗有什么要求", hits, source_text, scorer, abstained=False)
    assert len(ans.citations) == 1
    c = ans.citations[0]
    assert c.text == passage  # three neighbouring sentences, one span
    assert ans.answer.endswith("[1]")
    assert "\n" not in ans.answer
    assert check_citations(ans, source_text) == []


def test_non_adjacent_sentences_stay_separate_and_ordered_by_score():
    hits = [
        make_hit("a.txt", "学前三年毛入园率达到90%以上。完成44所标准化学校建设。", 0.9),
        make_hit("a.txt", "骨干教师交流人数不低于交流总数的20%。", 0.8),
    ]
    scorer = KeywordScorer("入园率", "骨干")
    ans = build_answer("入园率与骨干", hits, source_text, scorer, abstained=False)
    assert [c.n for c in ans.citations] == [1, 2]
    assert ans.citations[0].start < ans.citations[1].start  # higher-ranked hit first
    assert ans.answer.index("[1]") < ans.answer.index("[2]")


def test_abstain_says_so_and_cites_nothing():
    hits = [make_hit("a.txt", "学前三年毛入园率达到90%以上。", 0.2)]
    ans = build_answer("火星探测", hits, source_text, SCORER, abstained=True)
    assert ans.abstained and ans.citations == () and ans.answer == NOT_FOUND
    ans = build_answer("火星探测", [], source_text, SCORER, abstained=False)
    assert ans.abstained and ans.citations == () and ans.answer == NOT_FOUND
    assert check_citations(ans, source_text) == []


def test_several_documents_are_attributed():
    hits = [
        make_hit("a.txt", "全面推进教师交流轮岗。每年交流轮岗教师比例不低于10%。", 0.9),
        make_hit("b.txt", "推進教師交流輪崗，全年交流教師120名。", 0.8),
    ]
    scorer = KeywordScorer("交流", "交流")
    ans = build_answer("教师交流轮岗", hits, source_text, scorer, abstained=False)
    sources = {c.source for c in ans.citations}
    assert sources == {"a.txt", "b.txt"}
    assert "《某区教育局工作计划》：" in ans.answer
    assert "《某縣教育局工作總結》：" in ans.answer
    # the prefix adds no number that is not in the cited sentence
    assert check_citations(ans, source_text) == []
    for line in ans.answer.split("\n"):
        assert line.startswith("《")


def test_traditional_text_is_quoted_verbatim():
    hits = [make_hit("b.txt", "推進教師交流輪崗，全年交流教師120名。", 0.9)]
    ans = build_answer("教师交流轮岗人数", hits, source_text, SCORER, abstained=False)
    assert ans.citations[0].text == "推進教師交流輪崗，全年交流教師120名。"
    assert "推進教師交流輪崗" in ans.answer and "推进" not in ans.answer
    assert check_citations(ans, source_text) == []


def test_long_sentence_cut_at_clause_keeps_offsets():
    long = "，".join(f"第{i}项工作要认真落实到位" for i in range(1, 20)) + "，教师培训经费不低于公用经费的5%。"
    TEXTS["long.txt"] = "长文档\n" + long + "\n"
    try:
        hits = [make_hit("long.txt", long, 0.9)]
        ans = build_answer("教师培训经费比例", hits, source_text, SCORER, abstained=False)
        c = ans.citations[0]
        assert c.text == TEXTS["long.txt"][c.start : c.end]
        assert len(c.text) <= 150
        assert "教师培训经费" in c.text
        assert check_citations(ans, source_text) == []
    finally:
        del TEXTS["long.txt"]


def test_answer_is_short():
    text = "".join(f"教师交流轮岗第{i}条要求必须落实并且要长期坚持下去不能放松。" for i in range(1, 30))
    TEXTS["many.txt"] = "标题\n" + text + "\n"
    try:
        hits = [make_hit("many.txt", text, 0.9)]
        ans = build_answer("教师交流轮岗要求", hits, source_text, SCORER, abstained=False, params=AnswerParams(max_sentences=10))
        assert len(re.sub(r"\[\d+\]", "", ans.answer)) <= 320
    finally:
        del TEXTS["many.txt"]


def test_check_citations_finds_problems():
    hits = [make_hit("a.txt", "学前三年毛入园率达到90%以上。", 0.9)]
    ans = build_answer("入园率目标", hits, source_text, SCORER, abstained=False)
    bad_text = dataclasses.replace(ans, citations=(dataclasses.replace(ans.citations[0], text="学前三年毛入园率达到95%以上。"),))
    assert any("differs" in p for p in check_citations(bad_text, source_text))
    bad_number = dataclasses.replace(ans, answer=ans.answer.replace("90", "95"))
    assert any("95" in p for p in check_citations(bad_number, source_text))
    no_marker = dataclasses.replace(ans, answer="学前三年毛入园率达到90%以上。")
    assert check_citations(no_marker, source_text)


def test_short_title_has_no_digits():
    assert short_title("2023年教育局人才工作计划(精选13篇)篇二", ("篇二",)) == "《教育局人才工作计划》篇二"
    assert not re.search(r"\d", short_title("2021-2022学年第一学期教研室工作计划"))


def test_list_numbers_and_bare_headings_are_not_quoted_as_answers():
    TEXTS["num.txt"] = "标题\n（一）党建质量提升年。\n（3）举办全县中小学校级干部培训，对200余名干部进行为期一周的集中培训。\n"
    try:
        text = TEXTS["num.txt"]
        hits = [make_hit("num.txt", text[3:].strip(), 0.9)]
        ans = build_answer("校级干部培训多少人", hits, source_text, SCORER, abstained=False)
        first = ans.citations[0]
        assert first.text.startswith("举办全县中小学校级干部培训")  # "（3）" left out, offsets exact
        assert first.text == text[first.start : first.end]
        assert "党建质量提升年" not in ans.answer
    finally:
        del TEXTS["num.txt"]


class FlatScorer:
    """The same similarity for every sentence: only the other signals decide."""

    def score(self, question, sentences):
        return [0.9] * len(sentences)


class FixedTerms:
    """Key-term weights given by the test (as the engine's IDF weights would be)."""

    def __init__(self, weights: dict[str, float]):
        self._weights = weights

    def weights(self, question):
        return dict(self._weights)


def test_sentence_with_the_rare_key_term_comes_first():
    TEXTS["plan.txt"] = "标题\n全年计划创建合格学校27所。创建10所以上社区学校。\n"
    try:
        hits = [make_hit("plan.txt", "全年计划创建合格学校27所。创建10所以上社区学校。", 0.9)]
        question = "计划创建多少所社区学校?"
        idf = FixedTerms({"计划": 1.5, "创建": 2.3, "社区": 3.6, "学校": 0.5})
        ans = build_answer(question, hits, source_text, FlatScorer(), abstained=False, params=AnswerParams(max_sentences=1),
                           term_weights=idf)
        assert ans.citations[0].text == "创建10所以上社区学校。"
        assert check_citations(ans, source_text) == []
        # all terms equal (no corpus statistics): the two sentences tie and the earlier one wins
        flat = FixedTerms({"计划": 1.0, "创建": 1.0, "社区": 1.0, "学校": 1.0})
        ans = build_answer(question, hits, source_text, FlatScorer(), abstained=False, params=AnswerParams(max_sentences=1),
                           term_weights=flat)
        assert ans.citations[0].text == "全年计划创建合格学校27所。"
    finally:
        del TEXTS["plan.txt"]


def test_key_terms_count_a_segmented_word_once_and_match_folded_text():
    terms = KeyTerms.from_weights({"中小学校": 3.2, "中小学": 1.4, "学校": 0.5, "党建": 3.7, "没有": 0.0})
    assert abs(terms.total - 6.9) < 1e-9  # 中小学校 (its heaviest piece) + 党建
    assert abs(terms.coverage("学校党建工作") - (0.5 + 3.7) / 6.9) < 1e-9
    assert abs(terms.coverage("全市中小学") - 1.4 / 6.9) < 1e-9
    assert terms.coverage("中小學校黨建") == 1.0  # traditional text, simplified terms
    assert terms.coverage("中小 学校，党 建") == terms.coverage("中小学校党建")  # spaces and punctuation
    assert KeyTerms.from_weights({}).coverage("任何文字") == 0.0


def test_passage_similarity_decides_between_equal_sentences():
    hits = [
        make_hit("a.txt", "做好食堂管理工作，保障师生饮食安全。", 0.9, dense=0.80),
        make_hit("b.txt", "推進教師交流輪崗，全年交流教師120名。", 0.8, dense=0.90),
    ]
    ans = build_answer("问题", hits, source_text, FlatScorer(), abstained=False)
    assert ans.citations[0].source == "b.txt"  # the closer passage, though ranked second
    # without passage similarities the rank of the hit decides
    plain = [dataclasses.replace(h, dense_score=None) for h in hits]
    ans = build_answer("问题", plain, source_text, FlatScorer(), abstained=False)
    assert ans.citations[0].source == "a.txt"


def test_indexed_term_weights_prefer_rare_words_and_drop_question_words():
    from policyqa.api import IndexedTermWeights
    from policyqa.lexical import LexicalIndex

    lexical = LexicalIndex.build(["计划创建合格学校27所。", "创建社区学校。", "学校工作计划。", "学校安全工作。"])
    weights = IndexedTermWeights(lexical).weights("计划创建多少所社区学校?")
    assert set(weights) == {"计划", "创建", "社区", "学校"}  # 多少 is a question word
    assert weights["社区"] > weights["创建"] > weights["学校"]
    assert "火星" not in IndexedTermWeights(lexical).weights("火星上的学校")  # in no passage


def test_sentences_after_the_first_must_share_its_key_terms():
    TEXTS["close.txt"] = "标题\n校车每年检查一次。学校开展读书活动。校车配备照管员。\n"
    try:
        hits = [make_hit("close.txt", "校车每年检查一次。学校开展读书活动。校车配备照管员。", 0.9)]
        terms = FixedTerms({"校车": 3.0})
        ans = build_answer("校车怎么管理?", hits, source_text, FlatScorer(), abstained=False, term_weights=terms)
        cited = [c.text for c in ans.citations]
        # all three score alike; the one without 校车 is left out, the two others are kept
        assert "学校开展读书活动。" not in "".join(cited)
        assert "校车每年检查一次。" in "".join(cited) and "校车配备照管员。" in "".join(cited)
        # when no sentence holds a key term (a paraphrase), the best one stands alone:
        # nothing sharing no key term with the question is appended to it
        none = build_answer("怎么管理?", hits, source_text, FlatScorer(), abstained=False,
                            term_weights=FixedTerms({"火星": 3.0}))
        assert len(none.citations) == 1 and none.citations[0].text.count("。") == 1
    finally:
        del TEXTS["close.txt"]


def test_a_title_or_heading_line_is_never_an_answer_sentence():
    body = "二、学前教育\n（一）学前三年毛入园率\n学前三年毛入园率达到90%以上。\n"
    TEXTS["head.txt"] = body
    try:
        hits = [make_hit("head.txt", body, 0.9, title="某县教育计划", path=("二、学前教育", "（一）学前三年毛入园率"))]
        ans = build_answer("学前三年毛入园率", hits, source_text, FlatScorer(), abstained=False,
                           term_weights=FixedTerms({"毛入园率": 3.0}))
        assert [c.text for c in ans.citations] == ["学前三年毛入园率达到90%以上。"]
    finally:
        del TEXTS["head.txt"]


def test_placeholders_are_flagged_not_passed_off_as_values():
    body = "某县计划\n到2025年，学前三年毛入园率达到xx%，新建×××幼儿园。\n普通高中毛入学率达到95%。\n"
    TEXTS["ph.txt"] = body
    try:
        hits = [make_hit("ph.txt", "到2025年，学前三年毛入园率达到xx%，新建×××幼儿园。", 0.9),
                make_hit("ph.txt", "普通高中毛入学率达到95%。", 0.8)]
        ans = build_answer("毛入园率目标是多少", hits, source_text, FlatScorer(), abstained=False,
                           term_weights=FixedTerms({"毛入园率": 3.0}))
        assert ans.citations[0].placeholder and PLACEHOLDER_NOTE in ans.answer
        assert ans.citations[0].to_json()["placeholder"] is True
        assert check_citations(ans, source_text) == []  # the note is not read as quoted text
        plain = build_answer("普通高中毛入学率", hits[1:], source_text, FlatScorer(), abstained=False,
                             term_weights=FixedTerms({"毛入学率": 3.0}))
        assert not plain.citations[0].placeholder and PLACEHOLDER_NOTE not in plain.answer
    finally:
        del TEXTS["ph.txt"]


def test_citations_carry_their_documents_year_and_region():
    TEXTS["meta.txt"] = "某县计划\n学前三年毛入园率达到90%以上。\n"
    try:
        hit = make_hit("meta.txt", "学前三年毛入园率达到90%以上。", 0.9)
        chunk = dataclasses.replace(hit.chunk, metadata=DocMeta(year=2023, region="颍州区"))
        ans = build_answer("毛入园率", [dataclasses.replace(hit, chunk=chunk)], source_text, FlatScorer(), abstained=False,
                           term_weights=FixedTerms({"毛入园率": 3.0}))
        c = ans.citations[0]
        assert (c.year, c.region, c.where()) == (2023, "颍州区", "颍州区 · 2023")
        assert c.to_json()["year"] == 2023 and c.to_json()["region"] == "颍州区"
    finally:
        del TEXTS["meta.txt"]
