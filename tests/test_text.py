"""The shared text analysis: folding, CJK tests, bigrams, sentence spans, question words and
Chinese numerals (pure functions, no index, no model)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from policyqa.lexical import tokenize
from policyqa.text import (
    QUESTION_WORDS,
    bigrams,
    cn_number,
    compact,
    fold,
    has_cjk,
    is_cjk,
    is_cjk_query,
    matching_copy,
    normalise,
    number_mentions,
    parse_number,
    sentence_spans,
    strip_question_words,
)

# ---------------------------------------------------------------- folding


def test_fold_and_matching_copy() -> None:
    assert fold("教育督導工作計劃") == "教育督导工作计划"
    assert fold("") == ""
    original = "時間：２０２２（一）　導語"
    copy = matching_copy(original)
    assert len(copy) == len(original)
    assert copy == "时间:2022(一) 导语"


def test_normalise_and_compact_fold_script_width_and_case() -> None:
    assert normalise("ＡＢＣ教師") == "abc教师"
    assert compact("教師 交流，輪崗（ＡＢ）") == "教师交流轮岗ab"


def test_importing_the_module_builds_no_converter() -> None:
    code = "import sys, policyqa.text; print('opencc' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ---------------------------------------------------------------- CJK


def test_cjk_tests() -> None:
    assert has_cjk("abc教育") and not has_cjk("abc 123")
    assert is_cjk("阜阳市") and not is_cjk("阜阳市A") and not is_cjk("")
    assert is_cjk_query("学前教育毛入园率") and is_cjk_query("STEM教育课程")
    assert not is_cjk_query("preschool enrollment 率")
    assert not is_cjk_query("")


# ---------------------------------------------------------------- bigrams


def test_bigrams_fold_and_span_spaces() -> None:
    assert bigrams("教師 交流，\n輪崗") == ["教师", "师交", "交流", "流,", ",轮", "轮岗"]
    assert bigrams(compact("教師 交流，輪崗")) == ["教师", "师交", "交流", "流轮", "轮岗"]
    assert bigrams("A1 b") == ["a1", "1b"]
    assert bigrams("学") == [] and bigrams("") == []


def test_bigrams_keep_repeats_in_order() -> None:
    assert bigrams("学校学校") == ["学校", "校学", "学校"]


def test_cjk_bigrams_stay_inside_runs() -> None:
    assert bigrams("学前教育a毛入园率，達到", cjk_only=True) == ["学前", "前教", "教育", "毛入", "入园", "园率", "达到"]
    assert bigrams("teacher training", cjk_only=True) == []


def test_traditional_and_simplified_give_the_same_bigrams() -> None:
    assert bigrams("學前教育毛入園率") == bigrams("学前教育毛入园率")
    assert bigrams("學前教育毛入園率", cjk_only=True) == bigrams("学前教育毛入园率", cjk_only=True)


# ---------------------------------------------------------------- sentences


def test_sentence_spans_keep_offsets_and_quotes() -> None:
    text = "  第一句。第二句！“第三句？”尾巴"
    spans = sentence_spans(text)
    assert [text[a:b] for a, b in spans] == ["第一句。", "第二句！", "“第三句？”", "尾巴"]


def test_sentence_spans_split_at_ellipses_and_with_lines_at_line_breaks() -> None:
    text = "一、总体目标\n\n学前三年毛入园率达到90%以上。完成44所标准化学校建设……今后三年\n"
    pieces = [text[a:b] for a, b in sentence_spans(text)]
    assert pieces == ["一、总体目标\n\n学前三年毛入园率达到90%以上。", "完成44所标准化学校建设……", "今后三年"]
    lines = [text[a:b] for a, b in sentence_spans(text, lines=True)]
    assert lines == ["一、总体目标", "学前三年毛入园率达到90%以上。", "完成44所标准化学校建设……", "今后三年"]


def test_sentence_spans_of_a_range_index_the_whole_text() -> None:
    text = "前文。甲乙丙。丁戊；己庚！后文。"
    start, end = text.index("甲"), text.index("后")
    spans = sentence_spans(text, start, end)
    assert [text[a:b] for a, b in spans] == ["甲乙丙。", "丁戊；", "己庚！"]
    assert spans[0][0] == start and spans[-1][1] == end


@pytest.mark.parametrize("lines", [False, True])
def test_sentence_spans_cover_every_visible_character_once(lines) -> None:
    text = " 第一条 总则\n（一）提高质量。推进“双减”！ 落实；\n\n结尾?  \n"
    spans = sentence_spans(text, lines=lines)
    assert all(a < b <= c for (a, b), (c, _) in zip(spans, spans[1:]))
    covered = "".join(text[a:b] for a, b in spans)
    assert "".join(covered.split()) == "".join(text.split())
    assert all(text[a:b] == text[a:b].strip() for a, b in spans)
    assert any("\n" in text[a:b] for a, b in spans) == (not lines)


def test_line_spans_refine_sentence_spans() -> None:
    text = "一、总体目标\n学前三年毛入园率达到90%以上。\n（一）学前教育\n新建幼儿园3所，\n改扩建5所。"
    sentences = sentence_spans(text)
    for a, b in sentence_spans(text, lines=True):
        assert sum(s <= a and b <= e for s, e in sentences) == 1


# ---------------------------------------------------------------- question words


def test_words_that_frame_the_question_are_stripped() -> None:
    assert strip_question_words("高中阶段入学率要达到多少?").split() == ["高中阶段入学率"]
    assert strip_question_words("学校章程建设有什么要求?").split() == ["学校章程建设"]
    assert strip_question_words("各计划怎么写").split() == ["各计划"]
    # a frame word stays when it is not next to a question word: it is the topic then
    assert "要求" in strip_question_words("落实减负要求的情况")
    assert "达到" in strip_question_words("达到省级标准的学校有哪些").replace(" ", "")


@pytest.mark.parametrize("word", QUESTION_WORDS)
def test_every_question_word_is_stripped_and_no_index_word(word) -> None:
    question = f"校车{word}配备照管员"
    stripped = strip_question_words(question)
    assert word not in stripped.replace(" ", "") and "校车" in stripped and "照管员" in stripped
    assert "w:" + word not in tokenize(question)


# ---------------------------------------------------------------- Chinese numerals


@pytest.mark.parametrize("text,value", [
    ("一百二十", 120), ("两", 2), ("十", 10), ("十五", 15), ("二十", 20), ("三千五百", 3500), ("一万", 10000),
    ("三万五千", 35000), ("一百零五", 105), ("一千〇八", 1008), ("零", 0), ("两千", 2000),
    ("三万五", 35000), ("一百五", 150), ("两千五", 2500), ("十万", 100000),
    ("一亿", 100_000_000), ("一亿两千万", 120_000_000), ("两万亿", 2_000_000_000_000),
    ("九十五点五", 95.5), ("零点五", 0.5), ("三点一四", 3.14), ("一点五万", 15000),
])
def test_cn_number(text, value) -> None:
    assert cn_number(text) == value


@pytest.mark.parametrize("text", ["", "一二", "学", "点五", "五点", "九十五点五五点", "二〇二三", "五点两"])
def test_cn_number_rejects_non_numbers(text) -> None:
    assert cn_number(text) is None


def test_parse_number_reads_both_scripts() -> None:
    assert parse_number(" 95.5 ") == 95.5
    assert parse_number("九十五点五") == 95.5
    assert parse_number("9x") is None


@pytest.mark.parametrize("text, mentions", [
    ("68%、35%和10%", [(68, "%"), (35, "%"), (10, "%")]),
    ("百分之六十八点五", [(68.5, "%")]),
    ("百分之五", [(5, "%")]),
    ("一九八〇年和二0一一年", [(1980, "年"), (2011, "年")]),
    ("深化三项改革，实行四个强化", [(3, "项"), (4, "个")]),
    ("計劃實施項目60個，投資5.8億元", [(60, "个"), (5.8, "亿")]),
    ("进一步提高，三统一，十分重要，一个根本任务", []),
    ("约三万干着各种职业", [(30000, "")]),
])
def test_number_mentions(text, mentions) -> None:
    assert sorted((m.value, m.unit) for m in number_mentions(text)) == sorted((float(v), u) for v, u in mentions)


def test_compare_topic_drops_the_words_that_ask_to_compare():
    from policyqa.text import compare_topic

    assert compare_topic("各地计划中学前三年毛入园率目标的提法比较") == "学前三年毛入园率目标"
    assert compare_topic("历次工作报告中教师培训经费是怎么提的？") == "教师培训经费"
    assert compare_topic("校车安全管理在不同年份计划中的表述有何变化") == "校车安全管理"
    assert compare_topic("辍学率控制（跨届比较）") == "辍学率控制"
    assert compare_topic("校园足球") == "校园足球"  # nothing to drop
    assert compare_topic("各地对比") == "各地对比"  # nothing would be left: the topic as given
