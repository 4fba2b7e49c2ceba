"""clean: boilerplate spans on synthetic scraped pages and on the sample corpus."""

from __future__ import annotations

from pathlib import Path

import pytest

from policyqa.clean import find_noise, kept_text
from policyqa.loaders import iter_corpus_files, load_file

CORPUS = Path(__file__).resolve().parent.parent / "corpus"

BODY = [
    "某县教育局2022年工作要点",
    "一、总体要求",
    "坚持立德树人，全面提高义务教育质量，学前三年毛入园率达到92%以上。",
    "（一）推进学校标准化建设",
    "1、完成15所农村学校改造，新增学位2400个。",
    "2、加强教师队伍建设，全年培训教师3000人次。",
]


def _check_spans(text: str, spans: list[tuple[int, int]]) -> None:
    assert spans == sorted(spans)
    for (_, b), (c, _) in zip(spans, spans[1:]):
        assert b < c and text[b:c].strip(), "spans must be merged across whitespace"
    assert all(0 <= a < b <= len(text) for a, b in spans)


def _kept(text: str) -> str:
    spans = find_noise(text)
    _check_spans(text, spans)
    return kept_text(text, spans)


def _page(*noise_lines: str, before: bool = True) -> str:
    parts = list(noise_lines) + BODY if before else BODY + list(noise_lines)
    return "\n".join(parts) + "\n"


def _assert_body_kept(kept: str) -> None:
    for line in BODY:
        assert line in kept


@pytest.mark.parametrize(
    "noise",
    [
        "当前位置：某某范文站 > 工作计划 > 教育局工作计划",
        "  • 您的位置: 首页 > 公文 > 计划",
        "首页 > 应用文 > 总结",
        "来源：某某文库",
        "作者：王五  编辑：李四",
        "时间：2021-05-06 10:11:12",
        "发布日期:2020年3月1日",
        "移动端：某县教育局工作计划",
        "上传人：ab****9 文档编号：1234567 上传时间：2021-01-02 格式：DOCX 页数：9",
        "点击查看更多>>",
        "资源描述：",
        "返回 下载 相关 举报",
        "展开阅读全文",
        "发表回复",
        "登录后才能评论",
        "上一篇：某乡镇工作总结",
        "下一篇 2024年1月1日",
        "第3页 / 共9页",
        "某县工作计划.docx_第2页",
        "- 4 -",
        "(0)",
        "3/14",
    ],
)
def test_noise_lines(noise: str) -> None:
    text = _page(noise)
    kept = _kept(text)
    _assert_body_kept(kept)
    assert noise.strip() not in kept


@pytest.mark.parametrize(
    "noise",
    [
        "Copyright © 2019-2024 example.com 版权所有",
        "京ICP备12345678号-1 京公网安备 11010502030000号",
        "客服QQ：12345678 微信：abc123 电话：010-12345678",
        "本站所有资源来自网友上传，如有侵犯您的权益，请通知我们，我们将及时删除。",
        "若内容侵犯了您的权利，请联系站长删除！",
        "转载请注明出处，谢谢合作！",
        "链接地址：https://www.example.com/a/123.html",
        "本文由某某整理发布，不代表本站观点。",
        "本内容由用户张三收集整理，如若转载，请注明出处",
        "《某县教育局工作计划》由：某某范文网整理",
        "《某某计划.doc》由会员分享，可在线阅读，更多相关《某某计划.doc》请在example.com上搜索。",
    ],
)
def test_copyright_and_contact_lines(noise: str) -> None:
    kept = _kept(_page(noise, before=False))
    _assert_body_kept(kept)
    assert noise not in kept
    for marker in ("ICP备", "©", "客服QQ", "转载请", "链接地址", "删除"):
        assert marker not in kept


def test_copyright_clause_after_content_keeps_the_content() -> None:
    line = "全年完成校舍改造面积一万平方米，确保学生安全。版权所有 © 某某网 2020"
    kept = _kept(line + "\n")
    assert "全年完成校舍改造面积一万平方米，确保学生安全。" in kept
    assert "版权所有" not in kept


def test_page_markers_inside_a_line() -> None:
    text = "加强学校安全管理，落实责任。第 7 页 共 9 页\n继续推进改革。共9页第8页完善制度。\n"
    kept = _kept(text)
    assert "第 7 页" not in kept and "共9页第8页" not in kept
    assert "加强学校安全管理，落实责任。" in kept
    assert "继续推进改革。" in kept and "完善制度。" in kept


def test_word_banner_and_page_split_number() -> None:
    text = "1、文本为Word版本，下载可任意编辑某县工作总结上半年，全县教育工作稳步推进。\n"
    kept = _kept(text)
    assert "Word" not in kept and "下载" not in kept
    assert "某县工作总结上半年，全县教育工作稳步推进。" in kept
    assert not kept.startswith("1、")


def test_intro_blurbs() -> None:
    blurbs = [
        "写好计划能让工作更有条理。小编为大家收集了几篇范文，供大家参考借鉴。",
        "本文将从多个角度，呈现三篇工作计划范文，以资借鉴。",
        "下面是一篇学校德育工作计划范文，欢迎阅读！",
        "以下是我们精心整理的教育局工作计划，仅供参考，希望能够帮助到大家。",
        "导语：某某工作计划（共3篇）一文来源于网友上传，不代表本站观点，欢迎参考。",
        "写得很好，对我很有帮助。",
    ]
    for blurb in blurbs:
        kept = _kept(_page(blurb))
        _assert_body_kept(kept)
        assert blurb not in kept


def test_related_list_after_marker_runs_to_end() -> None:
    tail = [
        "猜你喜欢",
        "  学校安全工作总结（精选15篇）",
        "  安全工作是学校工作的重中之重，下面是一些总结范文，仅作参考。",
        "  2024年班主任工作计划（通用12篇）",
        "  班主任工作计划怎么写？这里有很多例子。",
        "  家长会发言稿（实用9篇）",
    ]
    kept = _kept(_page(*tail, before=False))
    _assert_body_kept(kept)
    assert "猜你喜欢" not in kept and "篇）" not in kept and "班主任" not in kept


def test_tail_list_without_marker() -> None:
    tail = [
        "读书心得体会（精选10篇）",
        "读书能让人开阔视野，以下是一些心得。",
        "教师述职报告（模板21篇）",
        "述职报告是对一段时间工作的总结。",
        "开学典礼讲话稿（优秀16篇）",
        "讲话稿要写得简洁有力。",
        "安全教育主题班会（实用8篇）",
    ]
    kept = _kept(_page(*tail, before=False))
    _assert_body_kept(kept)
    assert "（精选10篇）" not in kept and "讲话稿" not in kept


def test_marker_followed_by_empty_widgets() -> None:
    tail = ["相关推荐", "", "发表回复", "", "登录后才能评论"]
    kept = _kept(_page(*tail, before=False))
    _assert_body_kept(kept)
    assert "相关推荐" not in kept and "评论" not in kept


def test_section_appended_after_the_related_list_keeps_its_heading() -> None:
    # A file edited after scraping: a new section follows the site's footer list.
    section = [
        "七、组织实施",
        "（一）加强统筹协调。各县区要建立工作专班，每季度召开一次推进会，研究解决经费保障问题。",
    ]
    tail = ["相关推荐", "", "教师述职报告", "发表回复", "登录后才能评论", *section]
    kept = _kept(_page(*tail, before=False))
    _assert_body_kept(kept)
    for line in section:
        assert line in kept
    assert "相关推荐" not in kept and "述职报告" not in kept and "评论" not in kept


def test_bullet_widget_and_sandwiched_uploader() -> None:
    head = ["  • 当前位置:某站 > 范文 > 计划", "  • 某县教育局2022年工作要点", "  • 来源:某站"]
    tail = ["本内容由zhangsan收集整理，不代表本站观点", "(0)", "zhangsan", "上一篇 2024年1月1日"]
    text = "\n".join(head + BODY[1:] + tail) + "\n"
    kept = _kept(text)
    for line in BODY[1:]:
        assert line in kept
    assert "•" not in kept and "zhangsan" not in kept


def test_traditional_noise_is_recognised() -> None:
    noise = ["時間：2022-03-07 08:07:31", "導語：教育工作計劃（共3篇）一文來源於網友上傳，不代表本站觀點。"]
    body = "一、全力推進義務教育均衡發展督導評估工作\n認真落實全省教育督導工作會議精神。\n"
    text = "\n".join(noise) + "\n" + body
    kept = _kept(text)
    assert kept.strip() == body.strip()


def test_numbered_content_is_kept() -> None:
    text = "\n".join(["1、认真学习贯彻有关规定。", "2、言材料增投入，强队伍", "(1)", "12、"]) + "\n"
    kept = _kept(text)
    for part in ("1、认真学习贯彻有关规定。", "2、言材料增投入，强队伍", "(1)", "12、"):
        assert part in kept


# ---------------------------------------------------------------- the sample corpus

KNOWN_CONTENT = {
    "000_f6cba63e34b70575.txt": [
        "2023年教育局人才工作计划(精选13篇)篇一",
        "(一)建设一支善于学习,具有创新精神和管理能力的德育工作队伍。",
        "2020年是建设教育强市、教育名市的第二年",
        "(4)争强进位,力争科室年终评比名列前茅",
        "20xx年,德育工作以党的十八大和十八届三、四中全会精神为指导",
    ],
    "001_f04b9f986299fbce.txt": [
        "教育局2021年度工作思路范文",
        "xxxx年是贯彻党的十九大精神的开局之年",
        "(三)强化学校管理。全面推进依法治教",
        "(五)各项工作统筹推进,年度工作任务圆满完成。",
    ],
    "002_f3dbf59e84a53d6a.txt": [
        "教育局工作总结及下半年工作思路.docx",
        "教育局工作总结及下半年工作思路教育局工作总结及下半年工作思路上半年",
        "2、言材料增投入、强队伍、活体制、提质量",
        "8、结合我市全省文明城市和全国卫生城市创建工作,多种形式加强学生德育工作和养成教育,提高学生综合素质。",
    ],
    "003_c5cb94ea05cb7042.txt": [
        "篇一:《教育局工作计划》",
        "为全面贯彻党的教育方针,落实立德树人根本任务",
        "第一章 总则:新时代的教育使命与改革愿景",
        "(四)完善条件保障。加大对体育、美育、劳动教育等薄弱环节的投入",
    ],
    "004_4a79f1c835e673f9.txt": [
        "第一篇",
        "一、全力推進義務教育均衡發展督導評估工作",
        "10-12份:",
        "(十二)勤政廉政建設工程。以深化全縣教育系統干部作風建設為抓手",
    ],
}
FORBIDDEN = [
    "ICP备", "第1页", "第2页", "共14页", "上一篇", "下一篇", "客服QQ", "当前位置", "转载请", "链接地址",
    "本站", "展开阅读全文", "相关推荐", "相关范文推荐", "推荐专题", "小编", "以资借鉴", "一文來源",
    "登录后才能评论", "上传人", "时间:", "時間:", "文本为Word版本", "(精选21篇)", "由会员分享", "©",
    "免责声明", "对我很有帮助",
]


@pytest.fixture(scope="module")
def corpus_files():
    files = [load_file(p, CORPUS, 10**8) for p in iter_corpus_files(CORPUS)]
    return {sf.source: (sf, find_noise(sf.text)) for sf in files}


def test_corpus_offsets_valid(corpus_files) -> None:
    assert set(KNOWN_CONTENT) <= set(corpus_files)
    for sf, spans in corpus_files.values():
        _check_spans(sf.text, spans)


@pytest.mark.parametrize("source", sorted(KNOWN_CONTENT))
def test_corpus_plan_text_kept_and_noise_dropped(corpus_files, source: str) -> None:
    sf, spans = corpus_files[source]
    kept = kept_text(sf.text, spans)
    for sentence in KNOWN_CONTENT[source]:
        assert sentence in kept, sentence
    for marker in FORBIDDEN:
        assert marker not in kept, marker
    assert len(kept) > 0.8 * len(sf.text)  # the pages are mostly plan text
