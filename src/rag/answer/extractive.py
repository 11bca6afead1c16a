"""The default answerer: no LLM, offline. It composes the answer from whole
sentences of the retrieved abstracts that best answer the question, each followed
by its [n] citation, so every claim is literally in the cited paper.

Relevance decides refusal: when even the best sentence is far from the question,
the answer is CANNOT_ANSWER followed by the closest papers, instead of a guess.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from ..glossary import Glossary
from ..types import Hit
from .citations import SentenceLookup
from .prompts import CANNOT_ANSWER

MAX_WORDS = 120  # the answer's length budget
# Refusal threshold on the best sentence's cosine similarity to the question,
# calibrated on eval/questions.jsonl with eval/calibrate.py (see README).
REFUSE_BELOW = 0.45
# Another paper is cited only when it is nearly as relevant as the best one:
# its retrieval score and its best sentence both within these shares of the top.
CITE_SCORE_SHARE = 0.92
CITE_SENTENCE_SHARE = 0.90
# List questions cite every paper within this share of the top retrieval score
# (the sources list keeps more: retrieval.LIST_RELATIVE_CUT). On eval/questions.jsonl,
# citation precision / keyword recall: 0.80: 0.87 / 0.73 (2.9 papers per multi-paper
# answer); 0.88: 0.89 / 0.73; 0.90: 0.90 / 0.73 (2.0 papers); 0.92: 0.91 / 0.71.
LIST_SCORE_SHARE = 0.90
TOP_PAPER_SENTENCES = 5  # sentences the best paper may contribute
SECOND_SENTENCE_SHARE = 0.5  # ... if they score within this share of its best
CLOSEST_SHOWN = 3
LISTED_WITH_SENTENCE = 12  # a listing quotes a sentence for this many papers, then titles
# The lead paper's choice: the weight of its retrieval score against its best
# sentence's similarity (lead_paper). On eval/questions.jsonl, by the sentence
# alone (0) citation precision 0.86 and keyword recall 0.66; 0.5: 0.89, 0.69;
# 0.7: 0.90, 0.71; retrieval alone (1): 0.90, 0.70.
LEAD_RETRIEVAL_WEIGHT = 0.7

# Specific names: acronyms (FID, QM9), inner capitals (TabPFN, LibriSpeech),
# capitalised letter+digit tokens (S4, T5). Plain capitalised words are not
# names here: they start questions and sentences.
_NAME = re.compile(
    r"^(?:[A-Za-z0-9]*[A-Z][A-Za-z0-9]*[A-Z][A-Za-z0-9]*"  # two capitals: FID, LLaVA
    r"|[a-z]+[A-Z][A-Za-z0-9]*"  # inner capital: wav2Vec, iPhone
    r"|[A-Z][a-z]*[0-9][A-Za-z0-9]*)$"  # capital and digit: S4, T5, Llama2
)
_QUANTITY = re.compile(
    r"\bhow\s+(?:many|much|large|fast|long)\b"
    r"|\bwhat\s+(?:\S+\s+){0,2}(?:accuracy|score|rate|error|speed-?up|percentage|number|fid|bleu|perplexity)\b",
    re.IGNORECASE,
)
_FIGURE = re.compile(r"(?<![A-Za-z\-])\d")  # a number, not part of a name like GPT-5
# Quantities whose answer has a recognisable form: a speed-up is a ratio (2.5x, 3 times,
# 40%), a model or data size is a count with a magnitude (7B, 1.4 trillion). Any other
# quantity question needs just some figure.
_FIGURE_KINDS = (
    (
        re.compile(r"\bspeed\s*-?\s*ups?\b|\bfaster\b", re.IGNORECASE),
        re.compile(r"\d(?:[.,]\d+)?\s*(?:x\b|×|times\b|-?fold\b|%)", re.IGNORECASE),
    ),
    (
        re.compile(r"\bhow\s+many\s+(?:parameters|tokens|weights|examples)\b", re.IGNORECASE),
        re.compile(
            r"\d(?:[.,]\d+)?\s*(?:[KMBT]\b|thousand|million|billion|trillion)"
            r"|\b\d{1,3}(?:,\d{3})+\b|\b\d{5,}\b",
            re.IGNORECASE,
        ),
    ),
)
_COUNTS = {"both": 2, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6}
_REQUESTED = re.compile(
    r"^\s*(?:which|what)\s+(both|two|three|four|five|six|[2-6])\b"
    r"|\b(both|two|three|four|five|six|[2-6])\s+(?:papers|works|studies|articles)\b",
    re.IGNORECASE,
)


def requested_count(question: str) -> int | None:
    """How many papers the question asks for, when it says so.

    >>> requested_count("What two defenses did she co-author?"), requested_count("Which papers?")
    (2, None)
    """
    match = _REQUESTED.search(question)
    if not match:
        return None
    word = (match.group(1) or match.group(2)).lower()
    return _COUNTS.get(word) or int(word)


def specific_names(question: str) -> list[str]:
    """Names in a question that a paper answering it must mention.

    A numbered version belongs to its name: GPT-5 is not GPT-2.

    >>> specific_names("What WER do LLMs reach on LibriSpeech with RL?")
    ['WER', 'LLM', 'LibriSpeech']
    >>> specific_names("How large is GPT-5 compared with CIFAR-10 models?")
    ['GPT-5', 'CIFAR-10']
    """
    names = []
    for token in re.findall(r"[A-Za-z0-9][A-Za-z0-9\-]*", question):
        versioned = re.fullmatch(r"([A-Za-z][A-Za-z0-9]*)-(\d+)", token)
        if versioned and _NAME.match(versioned.group(1)) and token not in names:
            names.append(token)
            continue
        for part in token.split("-"):
            if part.endswith("s") and _NAME.match(part[:-1] or "-"):
                part = part[:-1]  # "LLMs" is named as "LLM"
            # Two-letter acronyms (RL, ML, S4) are too generic or too often spelled out.
            if len(part) >= 3 and _NAME.match(part) and part not in names:
                names.append(part)
    return names


def mentions(text: str, name: str) -> bool:
    """True when text names `name`, as written or, for an acronym, spelled out.

    >>> mentions("we study large language models", "LLM"), mentions("a GAN", "LLM")
    (True, False)
    """
    lowered = text.lower()
    if name.lower() in lowered:
        return True
    if "-" in name:  # GPT-5 as GPT-5, GPT 5 or GPT5
        return _squashed(name) in _squashed(text)
    letters = name.lower()
    if not name.isupper() or not 2 <= len(letters) <= 6 or not letters.isalpha():
        return False
    words = re.findall(r"[a-z]+", lowered)
    return any(
        "".join(w[0] for w in words[i : i + len(letters)]) == letters
        for i in range(len(words) - len(letters) + 1)
    )


def _squashed(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def unanswerable_reason(
    question: str,
    hits: Sequence[Hit],
    sentences: Sequence[Sequence[str]],
    glossary: Glossary | None = None,
) -> str | None:
    """Why no extract can answer, from what the papers it would quote say; None if it can.

    `sentences` are the passages the answer would quote, per hit (in the hits' order;
    it may cover only the first few). A specific name (a dataset, a model) that
    none of those papers mentions means they are not about the question, however
    close the topic; and a question asking for a quantity needs a figure of the kind
    asked for, from a paper that names what the question names (not a neighbour's).
    A name the library abbreviates counts spelled out too: "reinforcement learning
    from human feedback" is held to the same test as "RLHF", as either form.
    """
    glossary = glossary or Glossary()
    names = specific_names(question)
    names += [n for n in glossary.spelled_out_in(question) if n not in names]
    texts = [h.paper.text for h in hits]

    def named(text: str, name: str) -> bool:
        return mentions(text, name) or glossary.spells(name, text)

    missing = [n for n in names if not named(" ".join(texts), n)]
    if missing:
        return f"no retrieved paper mentions {', '.join(missing)}"
    if _QUANTITY.search(question):
        figure = next((f for asked, f in _FIGURE_KINDS if asked.search(question)), _FIGURE)
        if not any(
            any(figure.search(s) for s in quoted) and all(named(text, n) for n in names)
            for text, quoted in zip(texts, sentences)
        ):
            return "the closest passages state no figure of the kind asked for"
    return None


# Abstracts follow a rhetorical order: background first, then the work and its
# findings. A question is about the findings, so a sentence that reports one is
# preferred, and the opening background sentence gives way, at near-equal
# similarity. On eval/questions.jsonl, 0.06-0.10 each raise answer keyword recall
# from 0.61 to 0.66 (citation precision 0.85 -> 0.86, refusals unchanged); 0.15
# starts to pick the wrong lead paper.
FINDING_BONUS = 0.08
BACKGROUND_PENALTY = 0.08
_FINDING = re.compile(
    r"\b(?:we|our (?:results|experiments|analysis))\s+(?:\w+\s+)?(?:show|find|found|demonstrate|"
    r"prove|observe|reveal|establish)|\b(?:results|experiments)\s+(?:show|suggest|indicate|"
    r"demonstrate)|\boutperform|\bachiev|\bimprov|\breduc",
    re.IGNORECASE,
)
_OWN_WORK = re.compile(r"\b(?:we|our|this (?:paper|work))\b", re.IGNORECASE)


def role_prior(s: Scored) -> float:
    """A small score adjustment from the sentence's rhetorical role in its abstract."""
    if _FINDING.search(s.sentence):
        return FINDING_BONUS
    if s.position == 1 and not _OWN_WORK.search(s.sentence):
        return -BACKGROUND_PENALTY
    return 0.0


@dataclass(frozen=True)
class Scored:
    hit_index: int  # 0-based position of the hit
    sentence: str
    score: float
    position: int = 0  # index of the sentence in its abstract


class ExtractiveAnswerer:
    name = "extractive"

    def __init__(
        self,
        embed_one: Callable[[str], np.ndarray],
        sentences: SentenceLookup,
        refuse_below: float = REFUSE_BELOW,
        glossary: Glossary | None = None,
    ) -> None:
        self._embed_one = embed_one
        self._sentences = sentences
        self.refuse_below = refuse_below
        self._glossary = glossary or Glossary()

    def stream(
        self, question: str, hits: Sequence[Hit], list_question: bool = False, listing: bool = False
    ) -> Iterator[str]:
        text = self.listing(hits) if listing else self.answer(question, hits, list_question)
        # Stream word by word so front ends behave the same for every backend.
        words = text.split(" ")
        for i, word in enumerate(words):
            yield word if i == 0 else " " + word

    def best_sentences(self, question: str, hits: Sequence[Hit]) -> list[list[Scored]]:
        """Per hit, its sentences scored against the question, best first."""
        if not hits:
            return []
        q = self._embed_one(question)
        lookup = self._sentences([h.paper.paper_id for h in hits])
        ranked: list[list[Scored]] = []
        for i, hit in enumerate(hits):
            texts, vectors = lookup.get(hit.paper.paper_id, ([], np.zeros((0, len(q)))))
            # texts[0] is the title: it locates the paper but is not a claim.
            scored = [Scored(i, texts[j], float(vectors[j] @ q), j) for j in range(1, len(texts))]
            ranked.append(sorted(scored, key=lambda s: -(s.score + role_prior(s))))
        return ranked

    def listing(self, hits: Sequence[Hit]) -> str:
        """The answer to "papers by X": every hit, in order, each with the sentence that
        says what the paper does: of the sentences about its own work ("we", "this
        paper"; all of them if none is), the one closest to its title."""
        if not hits:
            return CANNOT_ANSWER
        lookup = self._sentences([h.paper.paper_id for h in hits])
        lines = []
        for i, hit in enumerate(hits):
            year = f" ({hit.paper.year})" if hit.paper.year else ""
            texts, vectors = lookup.get(hit.paper.paper_id, ([], None))
            if len(texts) < 2 or i >= LISTED_WITH_SENTENCE:
                lines.append(f"- {hit.paper.title}{year} [{i + 1}].")
                continue
            # texts[0] is the title; the rest are the abstract's sentences.
            own = [j for j in range(1, len(texts)) if _OWN_WORK.search(texts[j])]
            best = max(own or range(1, len(texts)), key=lambda j: float(vectors[j] @ vectors[0]))
            lines.append(f"- {hit.paper.title}{year}: {_cited(Scored(i, texts[best], 1.0))}")
        return "\n".join(lines)

    def answer(self, question: str, hits: Sequence[Hit], list_question: bool = False) -> str:
        ranked = self.best_sentences(question, hits)
        tops = [max(s.score for s in r) if r else -1.0 for r in ranked]
        # "Which papers by X are on diffusion?": a paper that names a list question's
        # short topic (retrieval marks it) answers it, however far a one-word topic's
        # vector is from its sentences. Only those papers, then.
        named = [i for i, h in enumerate(hits) if list_question and h.scores.get("topic")]
        weak = not ranked or max(tops) < self.refuse_below
        if weak and not named:
            return refusal(hits)
        lead = lead_paper(hits, tops)
        wanted = requested_count(question)
        if wanted:
            # The question says how many: the best that many, in retrieval order.
            keep = [i for i in range(len(hits)) if tops[i] > 0][:wanted]
            list_question = True
        else:
            keep = _cited_papers(hits, tops, lead, list_question)
        if weak:
            keep = [i for i in keep if i in named]
        if not keep:
            return refusal(hits)
        if lead not in keep:  # a list's members are decided by retrieval score
            lead = keep[0]
        candidates = [[s.sentence for s in ranked[i][:TOP_PAPER_SENTENCES]] for i in keep[:2]]
        # The names must be in the papers the answer quotes, not just somewhere in
        # the top k: a LoRA question answered from a paper that never says LoRA
        # is an answer about something else.
        if unanswerable_reason(question, [hits[i] for i in keep], candidates, self._glossary):
            return refusal(hits)
        if list_question and len(keep) > 1:
            return _list_answer(hits, ranked, keep)
        return _prose_answer(ranked, keep, lead)


def lead_paper(hits: Sequence[Hit], tops: list[float]) -> int:
    """Index of the hit the answer mainly quotes: the most relevant paper overall.

    Its best sentence alone is a narrow view: one sentence of a paper about
    something else can match the question's wording better than any sentence of
    the paper it is about. The retrieval score weighs the whole abstract, its
    keywords and its sentences, so it leads, and the best sentence breaks near
    ties. Both are taken relative to the top, so any retrieval mode's scale works.
    """
    top_score = max(h.score for h in hits)
    top_sentence = max(tops)

    def merit(i: int) -> float:
        retrieval = hits[i].score / top_score if top_score > 0 else 0.0
        sentence = tops[i] / top_sentence if top_sentence > 0 else 0.0
        return LEAD_RETRIEVAL_WEIGHT * retrieval + (1 - LEAD_RETRIEVAL_WEIGHT) * sentence

    return max(range(len(tops)), key=lambda i: (merit(i), -i))


def _cited_papers(
    hits: Sequence[Hit], tops: list[float], best: int, list_question: bool
) -> list[int]:
    """Indexes of the hits the answer draws on: the lead paper, and those close to it."""
    top_score = max(h.score for h in hits)
    if list_question:
        # A paper that names the question's topic (retrieval marks it) is a member
        # whatever its score.
        return [
            i
            for i, h in enumerate(hits)
            if (h.score >= top_score * LIST_SCORE_SHARE or h.scores.get("topic")) and tops[i] > 0
        ]
    keep = [best]
    for i, hit in enumerate(hits):
        if i == best:
            continue
        if (
            hit.score >= top_score * CITE_SCORE_SHARE
            and tops[i] >= tops[best] * CITE_SENTENCE_SHARE
        ):
            keep.append(i)
    return sorted(keep)


def refusal(hits: Sequence[Hit]) -> str:
    if not hits:
        return CANNOT_ANSWER
    # No [n] markers: a refusal cites nothing; the papers stay listed as retrieved.
    closest = "; ".join(f"\u201c{h.paper.title}\u201d" for h in hits[:CLOSEST_SHOWN])
    return f"{CANNOT_ANSWER} The closest papers are: {closest}."


def _words(text: str) -> int:
    return len(text.split())


def _cited(s: Scored) -> str:
    sentence = s.sentence.rstrip()
    end = sentence[-1] if sentence[-1] in ".!?" else "."
    body = sentence[:-1] if sentence[-1] in ".!?" else sentence
    return f"{body} [{s.hit_index + 1}]{end}"


def _prose_answer(ranked: list[list[Scored]], keep: list[int], lead: int) -> str:
    """Up to five sentences of the lead paper, then the best one of each other kept paper."""
    chosen = [
        s for s in ranked[lead][:TOP_PAPER_SENTENCES]
        if s.score >= ranked[lead][0].score * SECOND_SENTENCE_SHARE
    ]  # fmt: skip
    chosen += [ranked[i][0] for i in keep if i != lead]
    picked: list[Scored] = []
    used = 0
    for s in sorted(chosen, key=lambda s: -(s.score + role_prior(s))):
        if picked and used + _words(s.sentence) > MAX_WORDS:
            continue
        picked.append(s)
        used += _words(s.sentence)
    # Papers in rank order; within a paper, sentences in the abstract's own order.
    order = {id(s): n for n, s in enumerate(chosen)}
    picked.sort(key=lambda s: (s.hit_index, s.position, order[id(s)]))
    return " ".join(_cited(s) for s in picked)


def _list_answer(hits: Sequence[Hit], ranked: list[list[Scored]], keep: list[int]) -> str:
    """One line per paper: its title and its sentence that best answers the question."""
    lines = []
    budget = max(MAX_WORDS, 25 * len(keep))  # a long list still gets one line per paper
    used = 0
    for i in keep:
        s = ranked[i][0]
        line = f"- {hits[i].paper.title}: {_cited(s)}"
        if lines and used + _words(line) > budget:
            line = f"- {hits[i].paper.title} [{i + 1}]."
        lines.append(line)
        used += _words(line)
    return "\n".join(lines)
