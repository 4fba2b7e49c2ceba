"""Target extraction (pure, synthetic sentences), the compare table over a small fake index,
the CLI, and (marked integration) compare over the real sample index."""

from __future__ import annotations

import csv
import io
import json

import pytest

from policyqa.targets import (
    COMPARATORS,
    CSV_COLUMNS,
    Target,
    extract_all,
    extract_targets,
    targets_from_json,
    targets_in_sentence,
    targets_to_json,
)
from policyqa.types import Block, DocMeta, Document


def pairs(sentence: str) -> list[tuple]:
    return [(t["value"], t["unit"]) for t in targets_in_sentence(sentence)]


def one(sentence: str) -> dict:
    found = targets_in_sentence(sentence)
    assert len(found) == 1, found
    return found[0]


# ---------------------------------------------------------------- what is a target


def test_rate_with_bound():
    t = one("全县学前三年毛入园率达到92%以上。")
    assert (t["value"], t["unit"], t["comparator"]) == (92.0, "%", "不低于")
    assert t["indicator"] == "学前三年毛入园率"
    assert t["value_text"] == "92%"


def test_limit_and_decimal():
    t = one("深入开展控辍保学工作，辍学率控制在0.5%以内。")
    assert (t["value"], t["comparator"], t["indicator"]) == (0.5, "控制在", "辍学率")


def test_counts_money_hours_and_ratio():
    found = targets_in_sentence("组织500名教师参加72学时的全员培训，教师培训经费不低于公用经费的5%。")
    got = {(f["value"], f["unit"]) for f in found}
    assert got == {(500.0, "名"), (72.0, "学时"), (5.0, "%")}
    fee = next(f for f in found if f["unit"] == "%")
    assert fee["comparator"] == "不低于" and fee["indicator"] == "教师培训经费"


def test_task_verbs_and_suffix_indicator():
    found = targets_in_sentence("完成44所标准化学校建设，新建公办幼儿园3所，改扩建5所，总投资6700万元。")
    assert [(f["value"], f["unit"], f["comparator"]) for f in found] == [
        (44.0, "所", "完成"), (3.0, "所", "新建"), (5.0, "所", "新建"), (6700.0, "万元", "投入")]
    assert found[0]["indicator"] == "标准化学校"
    assert found[1]["indicator"] == "公办幼儿园"
    assert found[2]["indicator"] == "公办幼儿园"  # inherited from the previous target


def test_placeholders_are_not_numbers():
    found = targets_in_sentence("全市学前教育毛入园率达xx%以上，年内新建公办幼儿园x所、中小学校XXX所，引进x-x所高等院校。")
    assert [f["placeholder"] for f in found] == [True] * 4
    assert all(f["value"] is None for f in found)
    assert [f["value_text"] for f in found] == ["xx%", "x所", "XXX所", "x-x所"]
    assert found[0]["indicator"] == "学前教育毛入园率"


def test_chinese_numerals():
    assert pairs("对新入职教师开展为期不少于一百二十学时的集中培训。") == [(120.0, "学时")]
    assert pairs("力争年内引进两所民办高中。") == [(2.0, "所")]
    assert pairs("保证学生每天校内体育活动不少于一小时。") == [(1.0, "小时")]
    assert pairs("学生遵守行为规范合格率达到百分之九十九。") == [(99.0, "%")]
    assert pairs("学生体质健康合格率达到百分之九十五点五。") == [(95.5, "%")]
    assert pairs("新建校舍一点五万平方米。") == pairs("新建校舍15000平方米。") == [(15000.0, "平方米")]


def test_full_width_digits_and_percent_keep_original_text():
    t = one("学前三年毛入园率达到９０％以上。")
    assert t["value"] == 90.0 and t["unit"] == "%"
    assert t["value_text"] == "９０％"


def test_traditional_text():
    found = targets_in_sentence("2013年投入資金2780萬元,新建公辦幼兒園5所,改擴建公辦幼兒園50所。")
    assert [(f["value"], f["unit"]) for f in found] == [(2780.0, "万元"), (5.0, "所"), (50.0, "所")]
    assert found[0]["value_text"] == "2780萬元"
    assert found[1]["indicator"] == "公辦幼兒園"  # original characters
    assert found[0]["deadline"] == "2013年"


def test_ranges_and_approximate():
    t = one("力争每个乡镇建设1-2所标准化学区中心小学。")
    assert (t["value"], t["value_max"], t["unit"]) == (1.0, 2.0, "所")
    t = one("选送骨干教师参加专业技能提高培训，送培500人左右。")
    assert t["value"] == 500.0


@pytest.mark.parametrize("sentence", [
    "2023年教育局人才工作计划",
    "确保9月1日正式启动校园矛盾纠纷调处机制。",
    "按照《关于加强编制管理的通知》(黔府办发〔2015〕79号)文件重新测算中小学编制。",
    "第三，加强党风廉政建设。",
    "3.推进教育强镇工程。",
    "以“三个代表”重要思想为指导，做到“四个服从”，深入实施“2031”工程。",
    "坚持每月召开一次安全工作例会，每学期检查1至2次。",
    "召开了3次会议，155人参训，我市获10个特等奖。",
    "目前，我县中小学教职工共空编1500余个。",
    "3-5周岁幼儿要接受学前教育。",
    "实现群众办事“最多跑一次”，师生“一人一号”登录。",
    "两所高中积极创造条件。",
])
def test_not_targets(sentence):
    assert targets_in_sentence(sentence) == []


def test_summary_figure_vs_plan_in_same_file():
    assert targets_in_sentence("上半年共接待来访群众100余人次。") == []
    assert pairs("全年计划创建合格学校27所，已经全面启动建设。") == [(27.0, "所")]


def test_deadlines():
    assert one("到2025年，全县义务教育标准化学校比例达到95%。")["deadline"] == "到2025年"
    assert one("年底前完成20所学校改造任务。")["deadline"] == "年底前"
    assert one("9月底前完成3所幼儿园建设。")["deadline"] == "9月底前"


def test_comparators_in_vocabulary():
    for s in ["毛入园率达到90%", "辍学率控制在1%以内", "巩固率保持在98%", "新建幼儿园3所", "培训教师500名",
              "招聘教师100名", "投入资金200万元", "创建示范校5所", "建成标准化学校10所", "普通高中招生3000人"]:
        for t in targets_in_sentence(s + "。"):
            assert t["comparator"] in COMPARATORS


# ---------------------------------------------------------------- documents

def _doc(text: str) -> Document:
    blocks = []
    pos = 0
    for line in text.split("\n"):
        if line.strip():
            kind = "heading" if len(line) < 12 and not line.endswith("。") else "text"
            blocks.append(Block(pos, pos + len(line), kind, ()))
        pos += len(line) + 1
    return Document("d#1", "d.txt", "某县计划", 0, len(text), DocMeta(year=2023, region="某县"), tuple(blocks))


def test_extract_targets_offsets_are_exact():
    text = "某县教育局2023年工作计划\n一、学前教育\n全县学前三年毛入园率达到９０％以上。新建公办幼兒園3所。\n"
    doc = _doc(text)
    ts = extract_targets(text, doc)
    assert [t.value for t in ts] == [90.0, 3.0]
    for t in ts:
        assert text[t.value_start : t.value_end] == t.value_text
        assert t.sentence_start <= t.value_start < t.value_end <= t.sentence_end
        assert (t.doc_id, t.region, t.year, t.title) == ("d#1", "某县", 2023, "某县计划")
    assert text[ts[0].sentence_start : ts[0].sentence_end] == "全县学前三年毛入园率达到９０％以上。"


def test_list_items_carry_their_comparator():
    text = "继续实施初中工程，全年实施初中工程13个，新建校舍13800平方米；\n食堂工程108个，建筑面积35090平方米；\n"
    ts = extract_targets(text, _doc(text))
    assert [t.value for t in ts] == [13.0, 13800.0, 108.0, 35090.0]


def test_targets_json_round_trip():
    text = "全县学前三年毛入园率达到90%以上，新建幼儿园x所。"
    ts = extract_all([_doc(text)], {"d.txt": text})
    back = targets_from_json(json.loads(json.dumps(targets_to_json(ts), ensure_ascii=False)))
    assert back == ts and all(isinstance(t, Target) for t in back)


def test_labelled_sample_scores():
    """The hand-labelled sample of the corpus (eval/targets_labelled.jsonl) meets the bar."""
    import importlib.util
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("score_targets", root / "eval" / "score_targets.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    report = mod.score(root / "eval" / "targets_labelled.jsonl", root / "corpus")
    assert report["sentence_level"]["precision"] >= 0.95
    assert report["sentence_level"]["recall"] >= 0.9
    assert report["pairs"]["precision"] >= 0.95


# ---------------------------------------------------------------- compare (fake index)


@pytest.fixture
def fake_engine(fake_settings, fake_embedder):
    from policyqa.api import Engine, build_index

    build_index(fake_settings, fake_embedder)
    return Engine.open(fake_settings, embedder=fake_embedder)


def test_compare_rows_contain_their_values(fake_engine):
    index = fake_engine.target_index()
    assert any(t.unit == "所" and t.value == 44 for t in index.targets)
    table = fake_engine.compare("学前三年毛入园率")
    assert table.rows, table
    top = table.rows[0]
    assert top.value == 92.0 and top.unit == "%" and top.comparator == "不低于"
    text = fake_engine.source_text(top.source)
    for r in table.rows:
        assert text if r.source == top.source else True
        src = fake_engine.source_text(r.source)
        assert src[r.start : r.end] == r.phrasing
        if r.value_text is not None:
            assert r.value_text in r.phrasing
    # one document's rows are consecutive: its best value, then other values of that sentence
    docs = [r.doc_id for r in table.rows]
    assert all(docs.index(d) == i or docs[i - 1] == d for i, d in enumerate(docs))
    js = table.to_json()
    assert js["topic"] == "学前三年毛入园率"
    assert set(js["rows"][0]) >= {"doc_id", "title", "source", "region", "year", "phrasing", "indicator",
                                  "comparator", "value", "unit", "deadline", "start", "end"}


def test_compare_off_topic_is_empty_or_unrelated(fake_engine):
    table = fake_engine.compare("校园足球")
    assert all("毛入园率" not in (r.indicator or "") for r in table.rows)


def test_compare_empty_topic(fake_engine):
    from policyqa.errors import PolicyQAError

    with pytest.raises(PolicyQAError):
        fake_engine.compare("  ")


def test_compare_csv_has_header(fake_engine):
    table = fake_engine.compare("学前三年毛入园率")
    rows = list(csv.reader(io.StringIO(table.to_csv())))
    assert rows[0][:5] == ["文档", "地区", "年份", "表述", "指标"]
    assert len(rows) == len(table.rows) + 1


def test_cli_compare_json_and_csv(fake_settings, fake_embedder, tmp_path, capsys, monkeypatch):
    from policyqa import cli
    from policyqa.api import Engine, build_index

    build_index(fake_settings, fake_embedder)
    monkeypatch.setattr(cli, "open_engine", lambda s: Engine.open(fake_settings, embedder=fake_embedder))
    out = tmp_path / "t.csv"
    assert cli.main(["compare", "学前三年毛入园率", "--json", "--csv", str(out)]) == 0
    js = json.loads(capsys.readouterr().out)
    assert js["topic"] == "学前三年毛入园率" and js["rows"]
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM: Excel reads the Chinese correctly
    header, *rows = csv.reader(io.StringIO(raw.decode("utf-8-sig")))
    assert tuple(header) == CSV_COLUMNS and len(rows) == len(js["rows"])
    for row, expected in zip(rows, js["rows"]):
        cells = dict(zip(header, row))
        assert (cells["文档"], cells["表述"], cells["来源文件"]) == \
            (expected["title"], expected["phrasing"], expected["source"])
        assert (int(cells["起"]), int(cells["止"])) == (expected["start"], expected["end"])


# ---------------------------------------------------------------- compare (real model)


@pytest.mark.integration
def test_integration_targets_compare_preschool(real_engine):
    index = real_engine.target_index()
    table = real_engine.compare("学前教育毛入园率")
    docs_with_rate = {t.doc_id for t in index.targets if "入园率" in t.indicator}
    assert len(docs_with_rate) >= 3
    got = {r.doc_id for r in table.rows}
    assert len(docs_with_rate & got) / len(docs_with_rate) >= 0.9
    for r in table.rows:
        src = real_engine.source_text(r.source)
        assert src[r.start : r.end] == r.phrasing
        if r.value_text is not None:
            assert r.value_text in src[r.start : r.end]
        assert "入园" in r.phrasing or "入園" in r.phrasing or "学前" in r.phrasing or "學前" in r.phrasing


@pytest.mark.integration
def test_integration_targets_compare_english_topic(real_engine):
    table = real_engine.compare("preschool enrollment target")
    rates = [r for r in table.rows if r.indicator and "入园率" in r.indicator]
    assert len(rates) >= 2
    assert all(r.value_text is None or "园" in r.phrasing or "園" in r.phrasing for r in table.rows)


@pytest.mark.integration
def test_integration_targets_teacher_training_funds(real_engine):
    table = real_engine.compare("教师培训经费")
    assert {r.value for r in table.rows if r.value is not None} >= {1.5, 10.0}


def test_each_qualified_value_takes_the_head_and_its_qualifier():
    got = [(t["indicator"], t["value"]) for t in targets_in_sentence("学前教育:学前三年幼儿入园率城区达90%以上,农村达65%。")]
    assert got == [("学前三年幼儿入园率（城区）", 90.0), ("学前三年幼儿入园率（农村）", 65.0)]
    got = [(t["indicator"], t["value"]) for t in targets_in_sentence("毛入园率城区达到95%、农村达到85%，县城达到90%。")]
    assert got == [("毛入园率（城区）", 95.0), ("毛入园率（农村）", 85.0), ("毛入园率（县城）", 90.0)]
    # a head without a qualifier of its own stays whole
    got = [(t["indicator"], t["value"]) for t in targets_in_sentence("义务教育巩固率达到95%，农村达90%。")]
    assert got == [("义务教育巩固率", 95.0), ("义务教育巩固率（农村）", 90.0)]


def test_compare_gives_every_value_of_a_sentence_its_own_row(fake_settings, fake_embedder):
    from policyqa.api import Engine, build_index

    (fake_settings.corpus / "plan_q.txt").write_text(
        "某市教育局2024年工作计划\n\n一、学前教育\n学前三年幼儿入园率城区达95%以上,农村达85%,一年入园率达到100%。\n",
        encoding="utf-8")
    build_index(fake_settings, fake_embedder)
    with Engine.open(fake_settings, embedder=fake_embedder) as engine:
        rows = [r for r in engine.compare("学前三年幼儿入园率").rows if r.source == "plan_q.txt"]
    assert [(r.indicator, r.value) for r in rows] == [("学前三年幼儿入园率（城区）", 95.0), ("学前三年幼儿入园率（农村）", 85.0)]
    assert rows[0].phrasing == rows[1].phrasing and rows[0].year == rows[1].year == 2024


def test_a_topic_asked_across_documents_finds_the_rows_of_the_bare_topic(fake_engine):
    bare = fake_engine.compare("学前三年毛入园率")
    asked = fake_engine.compare("各地计划中学前三年毛入园率的提法有何变化？")
    assert asked.topic == "各地计划中学前三年毛入园率的提法有何变化？"
    assert [(r.doc_id, r.value) for r in asked.rows] == [(r.doc_id, r.value) for r in bare.rows]
