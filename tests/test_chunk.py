from policyqa.chunk import ChunkSettings, chunk_document, split_long
from policyqa.types import Block, DocMeta, Document


def _doc(text: str, blocks: list[Block]) -> Document:
    return Document("f.txt#1", "f.txt", "标题", 0, len(text), DocMeta(), tuple(blocks))


def _line_blocks(text: str, headings: dict[str, tuple[str, ...]]) -> list[Block]:
    """One block per non-empty line; lines listed in ``headings`` are headings with that path."""
    blocks, pos, path = [], 0, ()
    for line in text.split("\n"):
        if line.strip():
            if line in headings:
                path = headings[line]
                blocks.append(Block(pos, pos + len(line), "heading", path))
            else:
                blocks.append(Block(pos, pos + len(line), "text", path))
        pos += len(line) + 1
    return blocks


def test_split_long_respects_clause_punctuation_and_offsets():
    text = "前言" + "，".join(["甲乙丙丁戊己庚辛"] * 30) + "。"
    spans = split_long(text, 2, len(text), 60)
    assert all(b - a <= 60 for a, b in spans)
    assert "".join(text[a:b] for a, b in spans) == text[2:]
    assert all(text[b - 1] in "，。" for a, b in spans)


def test_chunks_never_cut_sentences_and_keep_headings_with_body():
    body1 = "".join(f"第{i}项工作要抓紧落实到位。" for i in range(1, 30))
    text = f"一、总体要求\n{body1}\n二、主要任务\n（一）学前教育\n学前三年毛入园率达到90%以上。\n"
    blocks = _line_blocks(text, {"一、总体要求": ("一、总体要求",), "二、主要任务": ("二、主要任务",),
                                 "（一）学前教育": ("二、主要任务", "（一）学前教育")})
    cfg = ChunkSettings(size=120, max=200, min=20)
    chunks = chunk_document(text, _doc(text, blocks), cfg)
    for c in chunks:
        assert c.text == text[c.start:c.end]
        assert c.end - c.start <= cfg.max
        assert c.text[-1] in "。育求务"  # ends at a sentence end (or is a heading-only chunk)
    first = chunks[0]
    assert first.text.startswith("一、总体要求\n第1项")
    last = chunks[-1]
    assert last.text.startswith("二、主要任务\n（一）学前教育\n学前三年")
    assert last.heading_path == ("二、主要任务", "（一）学前教育")
    assert [c.chunk_id for c in chunks] == list(range(len(chunks)))


def test_chunks_do_not_span_boilerplate_gaps():
    text = "正文第一句。\n广告：点击下载\n正文第二句。"
    blocks = [Block(0, 6, "text", ()), Block(len(text) - 6, len(text), "text", ())]
    chunks = chunk_document(text, _doc(text, blocks), ChunkSettings(size=300, max=500, min=1))
    assert [c.text for c in chunks] == ["正文第一句。", "正文第二句。"]
