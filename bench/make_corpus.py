#!/usr/bin/env python3
"""Generate a large, real-looking corpus from the sample documents, for benchmarks.

    python bench/make_corpus.py --docs 2000 --out bench/out/corpus_2k [--seed 0]

Each generated document is a plan/summary of a made-up county or district for a year
(2014-2025): a title, numbered sections (一、 / （一）) whose headings come from the samples,
and paragraphs recombined from sample sentences (sentences of one sample paragraph kept
together with a probability, others drawn from anywhere), with years and region names
substituted. One document per file, in sub-folders of 1,000 files. The output goes under
bench/out/ (git-ignored): never commit generated corpora.

``ChunkTextGenerator`` gives chunk-sized texts (≈ the pipeline's 300-character chunks)
directly, as lists of sentence ids, for the lexical scale benchmark.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np

_SENT_END = re.compile(r"(?<=[。！？；!?;])")
_HEADING = re.compile(r"^\s*(?:[一二三四五六七八九十]+、|（[一二三四五六七八九十]+）|\([一二三四五六七八九十]+\)|第[一二三四五六七八九十]+[条章节])")
_CJK = re.compile(r"[\u4e00-\u9fff]")
_YEAR = re.compile(r"(?:19|20)\d\d年|xxxx年|XXXX年|20xx年")
_PLACE = re.compile(r"(?:我|本|全)(?:县|区|市)|xx(?:县|区|市)")

_SYL = list("东西南北中安平清河山阳宁丰永兴华新泰和福长德江海云龙昌明武文康庆宜远宝")
_SUFFIX = ["县", "区", "市", "旗"]
_PROVINCES = ["河北省", "山西省", "江苏省", "浙江省", "安徽省", "福建省", "江西省", "山东省", "河南省", "湖北省",
              "湖南省", "广东省", "四川省", "贵州省", "云南省", "陕西省", "甘肃省"]
_TYPES = ["教育工作计划", "教育工作总结", "教育工作思路", "教育督导工作计划", "教育事业发展实施方案", "教育局工作要点"]


def load_pool(corpus: Path) -> tuple[list[list[str]], list[str]]:
    """Paragraphs (as sentence lists) and section headings of the sample corpus."""
    paragraphs: list[list[str]] = []
    headings: list[str] = []
    for path in sorted(corpus.glob("*")):
        if not path.is_file():
            continue
        for line in path.read_text(encoding="utf-8", errors="ignore").splitlines():
            line = line.strip().strip("•").strip()
            n_cjk = len(_CJK.findall(line))
            if _HEADING.match(line) and len(line) <= 40:
                headings.append(_HEADING.sub("", line).strip("：: 。") or line)
            elif n_cjk >= 20:
                sents = [s.strip() for s in _SENT_END.split(line) if len(s.strip()) >= 4]
                if sents:
                    paragraphs.append(sents)
    if not paragraphs:
        raise SystemExit(f"no usable paragraphs in {corpus}")
    return paragraphs, headings or ["主要任务"]


def region_names(n: int, rng: np.random.Generator) -> list[str]:
    names = {"".join(rng.choice(_SYL, 2)) + str(rng.choice(_SUFFIX)) for _ in range(n * 2)}
    return sorted(names)[:n]


class Generator:
    def __init__(self, corpus: Path, seed: int = 0, regions: int = 400):
        self.rng = np.random.default_rng(seed)
        self.paragraphs, self.headings = load_pool(corpus)
        self.sentences = [s for p in self.paragraphs for s in p]
        self.regions = region_names(regions, self.rng)

    def _subst(self, text: str, region: str, year: int) -> str:
        text = _YEAR.sub(lambda m: f"{year + int(self.rng.integers(-1, 2))}年", text)
        return _PLACE.sub(region, text)

    def paragraph(self, region: str, year: int) -> str:
        rng = self.rng
        if rng.random() < 0.5:  # a sample paragraph, lightly reordered/trimmed
            sents = list(self.paragraphs[rng.integers(len(self.paragraphs))])
            if len(sents) > 3:
                a = int(rng.integers(0, len(sents) - 2))
                sents = sents[a : a + int(rng.integers(2, 7))]
        else:  # recombined from anywhere
            sents = [self.sentences[i] for i in rng.integers(0, len(self.sentences), int(rng.integers(2, 6)))]
        return self._subst("".join(sents), region, year)

    def document(self, i: int) -> str:
        rng = self.rng
        region = self.regions[i % len(self.regions)]
        province = _PROVINCES[hash(region) % len(_PROVINCES)]
        year = int(rng.integers(2014, 2026))
        title = f"{province}{region}{year}年{_TYPES[int(rng.integers(len(_TYPES)))]}"
        lines = [title, ""]
        nums = "一二三四五六七八九十"
        for s in range(int(rng.integers(2, 6))):
            lines.append(f"{nums[s]}、{self.headings[int(rng.integers(len(self.headings)))]}")
            for sub in range(int(rng.integers(1, 4))):
                lines.append(f"（{nums[sub]}）{self.headings[int(rng.integers(len(self.headings)))]}")
                for _ in range(int(rng.integers(1, 3))):
                    lines.append("    " + self.paragraph(region, year))
        lines.append(f"{region}教育局")
        lines.append(f"{year}年{int(rng.integers(1, 13))}月{int(rng.integers(1, 29))}日")
        return "\n".join(lines) + "\n"


class ChunkTextGenerator:
    """Chunk-sized texts as sequences of sample-sentence ids (≈ ``target`` characters each),
    recombined like ``Generator.paragraph``; ``text(ids)`` joins them."""

    def __init__(self, corpus: Path, seed: int = 0, target: int = 220):
        g = Generator(corpus, seed)
        self.sentences = g.sentences
        self.rng = np.random.default_rng(seed + 1)
        self.lengths = np.array([len(s) for s in self.sentences])
        self.target = target
        starts = np.cumsum([0] + [len(p) for p in g.paragraphs])
        self.para_start, self.para_len = starts[:-1], np.diff(starts)

    def chunk(self) -> list[int]:
        rng, ids, size = self.rng, [], 0
        if rng.random() < 0.5:
            p = int(rng.integers(len(self.para_start)))
            i = int(self.para_start[p] + rng.integers(self.para_len[p]))
            while size < self.target and i < len(self.sentences):
                ids.append(i); size += int(self.lengths[i]); i += 1
        while size < self.target * 0.8:
            i = int(rng.integers(len(self.sentences)))
            ids.append(i); size += int(self.lengths[i])
        return ids

    def text(self, ids: list[int]) -> str:
        return "".join(self.sentences[i] for i in ids)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=Path("corpus"), help="sample documents")
    ap.add_argument("--docs", type=int, default=2000)
    ap.add_argument("--out", type=Path, default=Path("bench/out/corpus"))
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    gen = Generator(args.corpus, args.seed)
    chars = 0
    for i in range(args.docs):
        folder = args.out / f"{i // 1000:04d}"
        folder.mkdir(parents=True, exist_ok=True)
        text = gen.document(i)
        chars += len(text)
        (folder / f"doc_{i:07d}.txt").write_text(text, encoding="utf-8")
    print(f"wrote {args.docs} documents, {chars:,} characters, to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
