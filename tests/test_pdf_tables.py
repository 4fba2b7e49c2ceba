"""Tables in text-layer PDFs: found by the alignment of pdfium's text runs and rendered with the
header repeated in every row, as .docx tables and spreadsheets are."""

from __future__ import annotations

import json
from pathlib import Path

from policyqa.loaders import PAGE_SEPARATOR, load_file, page_of
from policyqa.pdf_tables import Run, find_tables, page_text_with_tables, text_lines
from tests.test_formats import make_pdf

ROWS = [["县区", "普惠率", "目标"], ["颍州区", "85%", "90%以上"], ["颍东区", "", "88%"], ["太和县 城关", "76.5%", "85%"]]


def placed_table(rows: list[list[str]], x0: float = 72, y0: float = 670, dx: float = 150, dy: float = 20) -> list:
    return [(x0 + dx * c, y0 - dy * r, text) for r, row in enumerate(rows) for c, text in enumerate(row) if text]


def test_a_table_in_a_text_pdf_repeats_its_header_in_every_row(tmp_path: Path) -> None:
    page = [(72, 700, "一、普惠发展目标如下表所示："), *placed_table(ROWS), (72, 560, "各县区要按期完成。")]
    (tmp_path / "plan.pdf").write_bytes(make_pdf([["第一页正文，没有表格。"], page]))
    sf = load_file(tmp_path / "plan.pdf", tmp_path, 10**6)
    first, second = sf.text.split(PAGE_SEPARATOR)
    assert first == "第一页正文，没有表格。"  # a page without a table: its text layer as extracted
    assert second.split("\n") == [
        "一、普惠发展目标如下表所示：",
        "县区 | 普惠率 | 目标",
        "县区：颍州区 | 普惠率：85% | 目标：90%以上",
        "县区：颍东区 | 目标：88%",  # an empty cell names nothing
        "县区：太和县 城关 | 普惠率：76.5% | 目标：85%",
        "各县区要按期完成。",
    ]
    assert page_of(sf, sf.text.index("颍东区")) == 2 and json.loads(sf.meta["pages"])[1] == len(first) + 2


def run(text: str, left: float, top: float, size: float = 10.0, char: float = 10.0) -> Run:
    return Run(text, left, top - size, left + char * len(text), top)


def test_two_aligned_lines_are_not_a_table() -> None:
    runs = [run("县教发〔2023〕12号", 72, 700), run("签发人：张三", 400, 700),
            run("抄送：各乡镇", 72, 680), run("2023年5月1日", 400, 680)]
    assert page_text_with_tables(runs) is None


def test_two_columns_of_running_text_are_not_a_table() -> None:
    left = ["全县学前三年毛入园率达到九成以上，", "普惠性幼儿园覆盖率稳步提高，", "保教质量评估全面开展并持续改进。"]
    right = ["义务教育优质均衡发展持续推进，", "薄弱学校改造工程如期完成建设，", "控辍保学工作机制进一步健全完善。"]
    runs = [r for i, (a, b) in enumerate(zip(left, right)) for r in (run(a, 72, 700 - 14 * i), run(b, 320, 700 - 14 * i))]
    assert find_tables(text_lines(runs)) == []


def test_a_row_that_does_not_fit_the_columns_ends_the_table() -> None:
    runs = [run(t, x, 700 - 14 * r) for r, row in enumerate([["序号", "任务"], ["1", "扩容"], ["2", "提质"]])
            for t, x in zip(row, (72, 200))]
    runs += [run("注：本表由县教育局负责解释", 150, 700 - 14 * 3), run("附件", 400, 700 - 14 * 3)]  # straddles
    tables = find_tables(text_lines(runs))
    assert [(t.first, t.last, t.rows) for t in tables] == [(0, 2, [["序号", "任务"], ["1", "扩容"], ["2", "提质"]])]


def test_runs_close_together_form_one_cell() -> None:
    runs = [run("普惠", 72, 700), run("率", 93, 700), run("目标", 200, 700),
            run("85", 72, 686), run("%", 93, 686), run("90%", 200, 686),
            run("80", 72, 672), run("%", 93, 672), run("88%", 200, 672), run("in", 233, 672)]
    assert find_tables(text_lines(runs))[0].rows == [["普惠率", "目标"], ["85%", "90%"], ["80%", "88% in"]]
