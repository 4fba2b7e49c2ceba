"""Document metadata: regions from the official gazetteer, years of compilation pieces.

The texts are made up in the style of the documents (county plans, 督导 reports,
compilations of 篇 pieces); the place names are real divisions."""

from __future__ import annotations

import hashlib

import pytest

from policyqa.clean import find_noise
from policyqa.gazetteer import load_gazetteer
from policyqa.structure import parse_documents
from policyqa.types import DocMeta, Document, SourceFile


def _docs(text: str) -> list[Document]:
    sf = SourceFile(
        source="made/up.txt", text=text, encoding="utf-8", fmt="txt",
        sha256=hashlib.sha256(text.encode()).hexdigest(), size=len(text.encode()),
    )
    return parse_documents(sf, find_noise(text))


def _meta(text: str) -> DocMeta:
    (doc,) = _docs(text)
    return doc.metadata


def _codes(name: str) -> set[str]:
    return {d.code for d in load_gazetteer().by_key[name]}


def _plan(body: str, title: str = "教育局工作计划") -> str:
    return f"{title}\n\n一、工作目标\n\n{body}\n"


# ---------------------------------------------------------------- the gazetteer


def test_gazetteer_holds_current_divisions_of_every_level_with_codes() -> None:
    g = load_gazetteer()
    current = [d for d in g.by_code.values() if d.current]
    levels = {level: sum(d.level == level for d in current) for level in ("province", "city", "county")}
    assert levels["province"] == 34 and levels["city"] > 300 and levels["county"] > 2800
    assert all(len(d.code) == 6 and d.code.isdigit() for d in g.by_code.values())


def test_former_divisions_are_known_and_flagged() -> None:
    (mention,) = load_gazetteer().find("认真落实藁城市委的部署")  # a county-level city until 2014
    assert mention.name == "藁城市"
    assert mention.divisions and not any(d.current for d in mention.divisions)


# ---------------------------------------------------------------- regions


def test_county_in_the_title_with_level_and_code() -> None:
    meta = _meta(_plan("全县学前三年毛入园率达到90%以上,学习宜昌市的经验。", title="临泉县教育局2022年工作要点"))
    assert meta.region == "临泉县"
    assert meta.region_level == "county"
    assert meta.region_code in _codes("临泉县")


def test_most_frequent_city_in_the_body() -> None:
    body = "宁晋县教育局牵头,宁晋县各学校落实。全县教师参加河北省培训。宁晋县财政保障经费。"
    meta = _meta(_plan(body))
    assert (meta.region, meta.region_level) == ("宁晋县", "county")
    assert meta.region_code[:2] == next(iter(_codes("河北省")))[:2]


@pytest.mark.parametrize(
    "body",
    [
        "加快寄宿制普通高中和市盲校建设,提高特殊教育水平。",
        "推进大中城市和县市区义务教育优质均衡发展,全市城市学校与乡镇学校结对帮扶。",
        "全县城区学校和农村学校统一标准,省、市和县三级教研网络基本建成。",
        "学习上海城市教育的经验,推进新城区学校建设,示范县区率先达标。",
    ],
)
def test_ordinary_words_are_no_regions(body: str) -> None:
    meta = _meta(_plan(body))
    assert meta.region is None and meta.region_code is None and meta.region_level is None


def test_counties_of_one_city_in_a_supervision_report_give_the_city() -> None:
    body = ("督促指导夷陵区、西陵区、宜都市完成义务教育均衡发展评估,指导当阳市、远安县做好迎检准备,"
            "各地要在规定时间内上报自评报告。")
    meta = _meta(_plan(body, title="教育督导工作报告"))
    assert (meta.region, meta.region_level) == ("宜昌市", "city")
    assert meta.region_code in _codes("宜昌市")


def test_a_province_and_its_city_give_the_city() -> None:
    meta = _meta(_plan("在河北省石家庄市召开全市教育工作会议。"))
    assert (meta.region, meta.region_level) == ("石家庄市", "city")


def test_unrelated_places_mentioned_equally_give_no_region() -> None:
    assert _meta(_plan("学习青岛市、淮安市办学的先进经验。")).region is None


def test_short_form_of_an_autonomous_prefecture() -> None:
    meta = _meta(_plan("恩施州教育局部署全州学前教育工作。"))
    assert (meta.region, meta.region_level) == ("恩施土家族苗族自治州", "city")


def test_two_character_names_only_after_their_parent() -> None:
    meta = _meta(_plan("石家庄市赵县教育局召开会议,部署全县工作。"))
    assert (meta.region, meta.region_level) == ("赵县", "county")
    assert _meta(_plan("赵县城区学校扩容。")).region is None


def test_a_name_of_several_provinces_needs_a_place_that_resolves_it() -> None:
    meta = _meta(_plan("呼和浩特市新城区推进学前教育普及。"))
    assert (meta.region, meta.region_level) == ("新城区", "county")
    assert meta.region_code[:4] == next(iter(_codes("呼和浩特市")))[:4]


def test_a_title_name_of_several_provinces_is_resolved_by_the_text() -> None:
    meta = _meta(_plan("长春市教育局部署全区工作。", title="朝阳区教育局工作计划"))
    assert meta.region == "朝阳区"
    assert meta.region_code[:4] == next(iter(_codes("长春市")))[:4]


def test_traditional_text_is_folded() -> None:
    meta = _meta(_plan("宜昌市夷陵區教育局負責督導,夷陵區各校落實。", title="教育督導工作計劃"))
    assert meta.region == "夷陵区"


# ---------------------------------------------------------------- years of compilation pieces

COMPILATION = """2023年教育局人才工作计划(精选3篇)

时间:2023-05-06

2023年教育局人才工作计划(精选3篇)篇一

到2016年,全县中小学教师学历达标率达到100%。宁晋县教育局负责实施。

2023年教育局人才工作计划(精选3篇)篇二

加强教师队伍建设,提高教师专业素质。

2023年教育局人才工作计划(精选3篇)篇三

2019年是全面推进素质教育的关键一年。
"""


def test_a_piece_takes_the_year_its_own_text_states_or_none() -> None:
    docs = _docs(COMPILATION)
    assert [d.title for d in docs] == [f"2023年教育局人才工作计划 篇{n}" for n in "一二三"]
    assert [d.metadata.year for d in docs] == [2016, None, 2019]
    assert all(d.metadata.date == "2023-05-06" and d.metadata.doc_type == "计划" for d in docs)


def test_a_piece_takes_the_region_its_own_text_names() -> None:
    text = COMPILATION.replace("2023年教育局人才工作计划(精选3篇)", "2023年宜昌市教育局人才工作计划(精选3篇)")
    docs = _docs(text)
    assert [d.metadata.region for d in docs] == ["宁晋县", None, None]


def test_a_piece_with_its_own_title_takes_that_title_s_year() -> None:
    text = ("教育局工作计划汇编\n\n篇一:《2018年学校安全工作方案》\n\n加强校园安全管理。\n\n"
            "篇二:《教师培训计划》\n\n组织教师参加培训。\n")
    docs = _docs(text)
    assert [d.metadata.year for d in docs] == [2018, None]
    assert [d.metadata.doc_type for d in docs] == ["方案", "计划"]


def test_a_single_document_still_falls_back_to_its_date_line() -> None:
    meta = _meta("时间:2021-03-04\n\n教育局工作计划\n\n一、工作目标\n\n全面提高教育质量。\n")
    assert meta.year == 2021

