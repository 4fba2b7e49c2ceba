"""structure: compilations → documents, heading paths, metadata."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from policyqa.clean import find_noise, matching_copy
from policyqa.gazetteer import load_gazetteer, resolve
from policyqa.loaders import iter_corpus_files, load_file
from policyqa.structure import DOC_TYPES, heading_rank, parse_documents
from policyqa.types import Document, SourceFile

CORPUS = Path(__file__).resolve().parent.parent / "corpus"


def _sf(text: str, source: str = "dir/sample.txt") -> SourceFile:
    return SourceFile(
        source=source, text=text, encoding="utf-8", fmt="txt",
        sha256=hashlib.sha256(text.encode()).hexdigest(), size=len(text.encode()),
    )


def _parse(text: str, source: str = "dir/sample.txt") -> list[Document]:
    sf = _sf(text, source)
    noise = find_noise(text)
    docs = parse_documents(sf, noise)
    _check_invariants(sf, noise, docs)
    return docs


def _check_invariants(sf: SourceFile, noise, docs: list[Document]) -> None:
    prev_end = -1
    for doc in docs:
        assert doc.start >= prev_end and doc.start < doc.end
        prev_end = doc.end
        last = doc.start
        for block in doc.blocks:
            assert doc.start <= block.start < block.end <= doc.end
            assert block.start >= last, "blocks sorted and non-overlapping"
            last = block.end
            piece = sf.text[block.start:block.end]
            assert piece == piece.strip() and "\n" not in piece
            assert block.kind in ("heading", "text")
            for a, b in noise:
                assert block.end <= a or block.start >= b, "block overlaps noise"


def _texts(sf_text: str, doc: Document, kind: str | None = None) -> list[str]:
    return [sf_text[b.start:b.end] for b in doc.blocks if kind is None or b.kind == kind]


def _path_of(text: str, doc: Document, needle: str) -> tuple[str, ...]:
    return next(b.heading_path for b in doc.blocks if text[b.start:b.end].startswith(needle))


COMPILATION_TAIL = """2021年某县教育局工作计划(精选3篇)

时间:2021-02-03 作者:某人

工作计划很重要。小编为大家整理了三篇,供大家参考。

2021年某县教育局工作计划(精选3篇)篇一

一、指导思想

坚持立德树人。

2021年某县教育局工作计划(精选3篇)篇二

全面推进素质教育。

2021年某县教育局工作计划(精选3篇)篇三

（一）加强队伍建设

相关推荐
学校工作总结(精选10篇)
"""


def test_compilation_with_trailing_markers() -> None:
    docs = _parse(COMPILATION_TAIL)
    assert [d.doc_id for d in docs] == [f"dir/sample.txt#{n}" for n in (1, 2, 3)]
    assert [d.title for d in docs] == [f"2021年某县教育局工作计划 篇{n}" for n in "一二三"]
    first = docs[0]
    assert COMPILATION_TAIL[first.start:first.end].startswith("2021年某县教育局工作计划(精选3篇)篇一")
    assert COMPILATION_TAIL[first.start:first.end].endswith("坚持立德树人。")
    assert first.blocks[0].kind == "heading" and first.blocks[0].heading_path == ("篇一",)
    assert _path_of(COMPILATION_TAIL, first, "坚持") == ("篇一", "一、指导思想")
    assert COMPILATION_TAIL[docs[2].start:docs[2].end].endswith("（一）加强队伍建设")
    meta = first.metadata
    assert meta.doc_type == "计划" and meta.date == "2021-02-03"
    # 2021 is the compilation's title, repeated on each marker line; the piece states no year
    assert meta.year is None


COMPILATION_HEAD = """教育局工作计划

篇一:《教育局工作计划》

一、工作目标

（一）总体目标:提高质量。

篇二：《学校安全工作方案》

第一章 总则

一、目的

篇四:《不是第三篇,被忽略》
"""


def test_compilation_with_leading_markers_and_sequence_check() -> None:
    docs = _parse(COMPILATION_HEAD)
    assert [d.title for d in docs] == ["教育局工作计划 篇一", "学校安全工作方案 篇二"]
    assert docs[1].metadata.doc_type == "方案"
    # "篇四" does not continue 1, 2 → it is body text of document 2
    assert "篇四" in COMPILATION_HEAD[docs[1].start:docs[1].end]
    assert _path_of(COMPILATION_HEAD, docs[1], "一、目的") == ("篇二", "第一章 总则", "一、目的")


TRADITIONAL = """教育督導工作計劃(共2篇)

時間:2022-03-07 08:07:31

第一篇

一、全力推進潁州區義務教育均衡發展

潁州區、潁泉區要在2014年完成評估。潁州區教育局負責督導。

第二篇

1.深入學習。
"""


def test_traditional_nth_markers_and_metadata() -> None:
    docs = _parse(TRADITIONAL)
    assert [d.title for d in docs] == ["教育督導工作計劃 第一篇", "教育督導工作計劃 第二篇"]
    assert docs[0].blocks[0].heading_path == ("第一篇",)
    first = docs[0].metadata
    assert first.doc_type == "督导"
    assert first.region == "颍州区"  # folded to simplified
    assert first.year == 2014  # from the text: the title has none
    assert first.date == "2022-03-07"
    assert docs[1].metadata.year is None  # the page's date line is the compilation's
    assert _path_of(TRADITIONAL, docs[1], "1.深入") == ("第二篇", "1.深入學習")


HEADINGS = """某县2023年教育工作要点

一、总体要求

（一）指导思想

1. 学习贯彻会议精神

(1)组织专题学习。

（2）开展培训。

2、推进改革

二、主要任务

(二)加强师德建设,在全区营造尊师重教的良好氛围,让每一位教师都感受到职业的荣誉和社会的尊重。

各校要制定方案。

１．完善制度

第三条 学校应当建立安全制度。
"""


def test_heading_levels_full_and_half_width() -> None:
    docs = _parse(HEADINGS)
    assert len(docs) == 1
    doc = docs[0]
    assert doc.doc_id == "dir/sample.txt#1"
    assert doc.title == "某县2023年教育工作要点"
    assert doc.blocks[0].kind == "heading" and doc.blocks[0].heading_path == (doc.title,)
    p = lambda s: _path_of(HEADINGS, doc, s)  # noqa: E731
    assert p("(1)组织") == ("一、总体要求", "（一）指导思想", "1. 学习贯彻会议精神", "(1)组织专题学习")
    assert p("（2）") == ("一、总体要求", "（一）指导思想", "1. 学习贯彻会议精神", "（2）开展培训")
    assert p("2、推进") == ("一、总体要求", "（一）指导思想", "2、推进改革")
    assert p("二、") == ("二、主要任务",)  # a new level-1 heading closes everything below
    long_para = p("(二)加强")
    assert long_para == ("二、主要任务", "(二)加强师德建设")
    assert p("各校") == long_para
    assert p("１．完善") == ("二、主要任务", "(二)加强师德建设", "１．完善制度")
    def kind(start: str) -> str:
        return next(b.kind for b in doc.blocks if HEADINGS[b.start:b.end].startswith(start))

    assert kind("一、总体要求") == "heading"
    assert kind("(二)加强师德") == "text"  # a long numbered paragraph
    assert kind("各校要制定") == "text"
    assert doc.metadata.year == 2023 and doc.metadata.doc_type == "要点"


@pytest.mark.parametrize(
    "line, rank",
    [
        ("第一章 总则", 1), ("第二部分:目标", 1), ("第三节 管理", 2), ("第十条 学校", 3),
        ("一、指导思想", 3), ("(一)目标", 4), ("〔二〕措施", 4), ("1.学前教育", 5),
        ("12、加强管理", 5), ("(3)开展活动", 6), ("(3.)提供平台", 6), ("①落实", 7),
        ("1.5亿元投入", None), ("2020年工作", None), ("一是加强", None), ("3-5周岁", None),
    ],
)
def test_heading_rank(line: str, rank: int | None) -> None:
    assert heading_rank(line) == rank


def test_page_split_numbers_do_not_open_headings() -> None:
    text = (
        "某市教育局工作总结.docx\n"
        "1、上半年全市教育工作稳步推进,在全省基础教育会议上作了典型发言,得到了各级领导的肯定和好评,"
        "教育局长在全市工作会议上作了经验介绍,发\n"
        "2、言材料在简报上全文刊发,向全省推介。\n"
    )
    doc = _parse(text)[0]
    assert doc.title == "某市教育局工作总结"
    assert _path_of(text, doc, "2、言材料") == ("1、上半年全市教育工作稳步推进",)
    assert all(b.kind == "text" for b in doc.blocks[1:])


def test_single_document_title_and_site() -> None:
    text = (
        "  • 当前位置:某范文网 > 计划 > 教育局工作思路\n"
        "  • 来源:某范文网\n"
        "    教育局工作思路\n"
        "    一、工作重点\n"
        "    全市学前教育毛入园率达到90%以上。\n"
        "    链接地址:http://www.example-site.com/a/1.html\n"
    )
    doc = _parse(text, "plans/idea.txt")[0]
    assert doc.doc_id == "plans/idea.txt#1"
    assert doc.title == "教育局工作思路"
    assert doc.metadata.site == "www.example-site.com"
    assert doc.metadata.doc_type == "思路"
    assert doc.metadata.region is None  # 全市 is not a place name
    assert doc.metadata.year is None


def test_site_from_source_line_and_placeholder_years() -> None:
    text = "来源:某某范文网\n20xx年工作计划\n xxxx年是关键一年,要完成任务。\n"
    doc = _parse(text)[0]
    assert doc.metadata.site == "某某范文网"
    assert doc.metadata.year is None


def test_file_without_title_uses_stem() -> None:
    text = "坚持立德树人,全面提高教育质量,办好人民满意的教育,推动全县教育事业高质量发展。\n"
    assert _parse(text, "a/b/plan_2020.txt")[0].title == "plan_2020"


def test_empty_after_cleaning() -> None:
    assert _parse("相关推荐\n发表回复\n") == []


def test_doc_types_vocabulary() -> None:
    assert DOC_TYPES[0] == "督导" and "计划" in DOC_TYPES and "总结" in DOC_TYPES


# ---------------------------------------------------------------- the sample corpus

EXPECTED_DOCS = {
    "000_f6cba63e34b70575.txt": 13,
    "001_f04b9f986299fbce.txt": 1,
    "002_f3dbf59e84a53d6a.txt": 1,
    "003_c5cb94ea05cb7042.txt": 5,
    "004_4a79f1c835e673f9.txt": 6,
}


@pytest.fixture(scope="module")
def corpus_docs():
    out = {}
    for path in iter_corpus_files(CORPUS):
        sf = load_file(path, CORPUS, 10**8)
        noise = find_noise(sf.text)
        docs = parse_documents(sf, noise)
        _check_invariants(sf, noise, docs)
        out[sf.source] = (sf, docs)
    return out


def test_corpus_document_counts(corpus_docs) -> None:
    counts = {source: len(docs) for source, (_, docs) in corpus_docs.items()}
    for source, n in EXPECTED_DOCS.items():
        assert counts[source] == n, source


def test_corpus_titles_and_markers(corpus_docs) -> None:
    sf, docs = corpus_docs["000_f6cba63e34b70575.txt"]
    assert docs[1].title == "2023年教育局人才工作计划 篇二"
    assert docs[12].blocks[0].heading_path == ("篇十三",)
    assert all(d.metadata.doc_type == "计划" for d in docs)
    for doc in docs:  # each piece's year is the first its own text (below the marker) states
        own = sf.text[doc.blocks[1].start:doc.end]
        stated = re.search(r"(?<![\dxX])((?:19|20)\d{2})\s*年", own)
        assert doc.metadata.year == (int(stated.group(1)) if stated else None), doc.doc_id
    assert len({d.metadata.year for d in docs}) > 1
    assert docs[5].metadata.region == "金沙县"
    assert docs[1].blocks[3].heading_path[0] == "篇二"
    sf3, docs3 = corpus_docs["003_c5cb94ea05cb7042.txt"]
    assert [d.title for d in docs3][:2] == ["教育局工作计划 篇一", "教育局工作计划 篇二"]
    sf4, docs4 = corpus_docs["004_4a79f1c835e673f9.txt"]
    assert docs4[1].title == "教育督導工作計劃 第二篇"
    assert all(d.metadata.doc_type == "督导" for d in docs4)
    # the first piece names several counties of one city once each: the region is the city
    first4 = docs4[0].metadata
    assert first4.region_level == "city"
    mentions = load_gazetteer().find(matching_copy(sf4.text[docs4[0].start:docs4[0].end]))
    counties = [d for d in resolve(mentions).values() if d.level == "county"]
    assert counties and all(d.code[:4] == first4.region_code[:4] for d in counties)
    _, (doc1,) = corpus_docs["001_f04b9f986299fbce.txt"]
    assert doc1.title == "教育局2021年度工作思路范文"
    assert doc1.metadata.site == "www.gjknj.com" and doc1.metadata.date == "2021-10-25"
    _, (doc2,) = corpus_docs["002_f3dbf59e84a53d6a.txt"]
    assert doc2.title == "教育局工作总结及下半年工作思路"
    assert doc2.metadata.doc_type == "总结" and doc2.metadata.site == "www.taowenge.com"


def test_corpus_heading_path_example(corpus_docs) -> None:
    sf, docs = corpus_docs["000_f6cba63e34b70575.txt"]
    second = docs[1]
    block = next(b for b in second.blocks if sf.text[b.start:b.end].startswith("二、进一步推进干部"))
    assert block.heading_path == ("篇二", "二、进一步推进干部和师资队伍建设")
    sf3, docs3 = corpus_docs["003_c5cb94ea05cb7042.txt"]
    block = next(b for b in docs3[0].blocks if sf3.text[b.start:b.end].startswith("1.学前教育"))
    assert block.heading_path == ("篇一", "二、工作目标", "(二)具体目标", "1.学前教育")
