"""The default answerer: no LLM, offline. It composes the answer from whole
sentences of the retrieved abstracts that best answer the question, each followed
by its [n] citation, so every claim is literally in the cited paper.

Its two decisions are made by the fitted models of `tuning.py` over the evidence
of `evidence.py`:
- refuse or answer: p(answerable) from how well the best sentences and the top
  papers cover the question, and whether its names occur in them or anywhere in
  the library; below `refuse_below` the answer is CANNOT_ANSWER and the closest
  papers;
- which sentences: p(answers) per sentence; the answer leads with the best one
  and, when the question asks for a kind of thing (a figure, a dataset) that the
  cited abstract does not state, says so instead of quoting nearby sentences.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from ..glossary import Glossary
from ..keyword import coverage
from ..query import QueryPlan, plan_of
from ..retrieval import number_share, question_numbers, second_stage_features
from ..tuning import Tuning
from ..types import Hit
from .citations import SentenceLookup
from .evidence import (
    OWN_WORK,
    AskedFor,
    TermStats,
    mentions,
    refusal_features,
    sentence_features,
    supplies,
)
from .prompts import CANNOT_ANSWER

if TYPE_CHECKING:
    from ..engine import Retrieval
    from .followup import FollowUp


@dataclass(frozen=True)
class Scored:
    hit_index: int  # 0-based position of the hit
    sentence: str
    score: float  # p(the sentence answers the question), from the sentence model
    position: int = 0  # index of the sentence in its abstract (0 is the title)
    cosine: float = 0.0
    features: dict[str, float] = field(default_factory=dict, compare=False)


@dataclass
class Decision:
    """What the answerer measured and decided for one question (for reports and tuning)."""

    features: dict[str, float] = field(default_factory=dict)  # the refusal model's input
    p_answerable: float | None = None
    reason: str = ""  # why it refused, or "" when it answered


class ExtractiveAnswerer:
    name = "extractive"
    grounded = True  # quotes the abstracts' own sentences

    def __init__(
        self,
        embed_one: Callable[[str], np.ndarray],
        sentences: SentenceLookup,
        stats: TermStats,
        glossary: Glossary | None = None,
        tuning: Tuning | None = None,
    ) -> None:
        self._embed_one = embed_one
        self._sentences = sentences
        self._stats = stats
        self._glossary = glossary or Glossary()
        self.tuning = tuning or Tuning()
        self.decision = Decision()
        self._listing = False

    def respond(
        self, question: str, retrieval: Retrieval, turn: FollowUp | None = None
    ) -> Iterator[str]:
        """The answer for a retrieval (the Answerer interface): sentences are scored
        against the plan's topic (author names and years were applied as filters and
        appear in no sentence), and a follow-up's against its own words."""
        plan = retrieval.plan
        if turn:
            plan = replace(plan, topic=turn.question)
        self._listing = retrieval.listing
        return self.stream(
            plan,
            retrieval.hits,
            listing=retrieval.listing,
            named=[h.paper.paper_id for h in retrieval.hits if h.names_topic],
            said=turn.said if turn else "",
            # The user named the papers: by author, or by referring back to them.
            chosen=turn is not None or plan.about_people,
        )

    def evidence(self) -> dict[str, Any]:
        """The refusal model's features, p(answerable) and a refusal's reason; none
        for a listing (no question to decide)."""
        if self._listing:
            return {}
        evidence = {**self.decision.features, "p_answerable": self.decision.p_answerable}
        if self.decision.reason:
            evidence["reason"] = self.decision.reason
        return evidence

    def stream(
        self,
        plan: QueryPlan,
        hits: Sequence[Hit],
        listing: bool = False,
        named: Sequence[str] = (),
        said: str = "",
        chosen: bool = False,
    ) -> Iterator[str]:
        if listing:
            text = self.listing(hits)
        else:
            text = self.answer(plan, hits, named, said, chosen)
        # Stream word by word so front ends behave the same for every backend.
        words = text.split(" ")
        for i, word in enumerate(words):
            yield word if i == 0 else " " + word

    # ------------------------------------------------------------- scoring
    def best_sentences(self, plan: QueryPlan | str, hits: Sequence[Hit]) -> list[list[Scored]]:
        """Per hit, its sentences scored by the sentence model, best first."""
        plan = plan if isinstance(plan, QueryPlan) else plan_of(plan)
        if not hits:
            return []
        q = self._embed_one(plan.search_text)
        asked = plan.asked
        lookup = self._sentences([h.paper.paper_id for h in hits])
        model = self.tuning.sentence
        ranked: list[list[Scored]] = []
        for i, hit in enumerate(hits):
            texts, vectors = lookup.get(hit.paper.paper_id, ([], np.zeros((0, len(q)))))
            # texts[0] is the title: it locates the paper but is not a claim.
            scored = []
            for j in range(1, len(texts)):
                cos = float(vectors[j] @ q)
                features = sentence_features(cos, texts[j], j, asked)
                p = model.probability(features)
                scored.append(Scored(i, texts[j], p, j, cos, features))
            ranked.append(sorted(scored, key=lambda s: -s.score))
        return ranked

    def assess(self, plan: QueryPlan, hits: Sequence[Hit], ranked: list[list[Scored]]) -> Decision:
        """The refusal model's features and p(answerable) for these hits."""
        best_cos = max((s.cosine for r in ranked for s in r), default=0.0)
        question = plan.search_text
        features = refusal_features(
            question,
            plan.names,
            self._stats.terms_of([question])[0],
            [h.paper.paper_id for h in hits],
            [h.paper.text for h in hits],
            best_cos,
            self._stats,
            self._glossary,
            self.second_stage_scores(question, hits),
        )
        return Decision(features, self.tuning.refusal.probability(features))

    def second_stage_scores(self, question: str, hits: Sequence[Hit]) -> list[float]:
        """The hits' second-stage scores (retrieval.Reranker.rerank): the retriever's
        own when it reranked them, else computed here the same way, so the refusal
        model reads the same evidence whatever the retrieval mode."""
        given = [h.scores.get("rerank") for h in hits]
        if all(s is not None for s in given):
            return [float(s) for s in given]  # type: ignore[arg-type]
        q = self._embed_one(question)
        terms = self._stats.terms_of([question])[0]
        numbers = question_numbers(question)
        lookup = self._sentences([h.paper.paper_id for h in hits])
        model = self.tuning.retrieval.rerank
        scores = []
        for rank, hit in enumerate(hits):
            texts, vectors = lookup.get(hit.paper.paper_id, ([], np.zeros((0, len(q)))))
            keyword = coverage(terms, self._stats.paper_terms(hit.paper.paper_id), self._stats.idf)
            number = number_share(numbers, hit.paper.abstract)
            features = second_stage_features(vectors @ q, keyword, number, rank)
            scores.append(model.logit(features))
        return scores

    # ------------------------------------------------------------- answers
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
            if len(texts) < 2 or i >= self.tuning.listed_with_sentence:
                lines.append(f"- {hit.paper.title}{year} [{i + 1}].")
                continue
            own = [j for j in range(1, len(texts)) if OWN_WORK.search(texts[j])]
            best = max(own or range(1, len(texts)), key=lambda j: float(vectors[j] @ vectors[0]))
            lines.append(f"- {hit.paper.title}{year}: {_cited(Scored(i, texts[best], 1.0))}")
        return "\n".join(lines)

    def answer(
        self,
        plan: QueryPlan | str,
        hits: Sequence[Hit],
        named: Sequence[str] = (),
        said: str = "",
        chosen: bool = False,
    ) -> str:
        """The answer text for a question's plan (or a question with no filters).
        `named`: ids of hits that name a list question's topic
        (members whatever their score); `said`: the previous answer, whose sentences
        are not repeated; `chosen`: the hits are papers the user chose (an author's,
        or those a follow-up refers to), so the refusal model is not consulted and
        what they lack is said instead."""
        t = self.tuning
        plan = plan if isinstance(plan, QueryPlan) else plan_of(plan)
        list_question = plan.list_question
        ranked = self.best_sentences(plan, hits)
        if said:
            ranked = [[s for s in r if s.sentence.rstrip(".!? ") not in said] for r in ranked]
        self.decision = decision = self.assess(plan, hits, ranked)
        tops = [r[0].score if r else 0.0 for r in ranked]
        named_ix = [i for i, h in enumerate(hits) if list_question and h.paper.paper_id in named]
        if chosen and said and not any(tops):
            decision.reason = "the previous answer quoted all the abstract says"
            return f"{CANNOT_ANSWER} The abstract of [1] says nothing more than the answer above."
        unlikely = decision.p_answerable is not None and decision.p_answerable < t.refuse_below
        weak = not any(tops) or (unlikely and not chosen)
        # A question naming something specific (GPT-5, LoRA) is about the papers that
        # name it: the lead is one of them, one that states what is asked for (a
        # figure, a dataset) if any does. Without a name, the most relevant paper
        # leads, whatever another paper's figures.
        names, asked = plan.names, plan.asked
        naming = {i for i, h in enumerate(hits) if all(mentions(h.paper.text, n) for n in names)}
        stating = {i for i, r in enumerate(ranked) if any(supplies(s.sentence, asked) for s in r)}
        if weak and not named_ix:
            if names and asked and naming and not naming & stating:
                # The library has the thing asked about but no figure or dataset for
                # it: say which paper lacks what, rather than list the closest papers.
                decision.reason = f"the abstract does not give {asked.phrase}"
                return not_stated(min(naming), asked)
            decision.reason = "the retrieved papers do not cover the question"
            return refusal(hits, t.closest_shown)
        quotable = {i for i, r in enumerate(ranked) if r}
        pool = quotable
        if names:
            pool = (naming & stating & quotable) or (naming & quotable) or quotable
        # The lead weighs retrieval against the best sentence's cosine (the scale
        # lead_retrieval_weight was chosen on).
        cosines = [max((s.cosine for s in r), default=0.0) for r in ranked]
        candidates = [cosines[i] if i in pool else 0.0 for i in range(len(hits))]
        lead = lead_paper(hits, candidates, t.lead_retrieval_weight)
        if plan.count:
            keep = [i for i in range(len(hits)) if ranked[i]][: plan.count]
        else:
            keep = _cited_papers(hits, tops, lead, list_question, named_ix, t)
        if not keep:
            decision.reason = "no paper is close enough to quote"
            return refusal(hits, t.closest_shown)
        if lead not in keep:  # a list's members are decided by retrieval score
            lead = keep[0]
        if list_question and len(keep) > 1:
            return _list_answer(hits, ranked, keep, t.max_words)
        # What is asked of a named thing (GPT-5's parameter count) is supplied only
        # by a paper that names it: another paper's figure is about something else.
        supplying = stating & naming if names else stating
        if asked and not supplying.intersection(keep):
            decision.reason = f"the abstract does not give {asked.phrase}"
            return not_stated(lead, asked)
        return _prose_answer(ranked, keep, lead, asked, t)


def not_stated(lead: int, asked: AskedFor) -> str:
    """A refusal that points at the paper the question is about.

    >>> not_stated(0, AskedFor("figure", "the parameter count"))
    'I cannot answer this from the papers in the library. The abstract of [1] does not give the parameter count.'
    """
    verb = "name" if asked.kind == "dataset" else "give"
    return f"{CANNOT_ANSWER} The abstract of [{lead + 1}] does not {verb} {asked.phrase}."


def lead_paper(hits: Sequence[Hit], tops: list[float], retrieval_weight: float) -> int:
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
        return retrieval_weight * retrieval + (1 - retrieval_weight) * sentence

    return max(range(len(tops)), key=lambda i: (merit(i), -i))


def _cited_papers(
    hits: Sequence[Hit],
    tops: list[float],
    best: int,
    list_question: bool,
    named: Sequence[int],
    t: Tuning,
) -> list[int]:
    """Indexes of the hits the answer draws on: the lead paper, and those close to it."""
    top_score = max(h.score for h in hits)
    if list_question and named:
        # "Which papers study grokking?": the papers naming the short topic are the
        # list, whatever their score (a one-word topic's vector is far from them all).
        return [i for i in named if tops[i] > 0]
    if list_question:
        return [
            i
            for i, h in enumerate(hits)
            if h.score >= top_score * t.list_score_share and tops[i] > 0
        ]
    keep = [best]
    for i, hit in enumerate(hits):
        if i == best:
            continue
        if (
            hit.score >= top_score * t.cite_score_share
            and tops[i] >= tops[best] * t.cite_sentence_share
        ):
            keep.append(i)
    return sorted(keep)


def refusal(hits: Sequence[Hit], shown: int = 3) -> str:
    if not hits:
        return CANNOT_ANSWER
    # No [n] markers: a refusal cites nothing; the papers stay listed as retrieved.
    closest = "; ".join(f"\u201c{h.paper.title}\u201d" for h in hits[:shown])
    return f"{CANNOT_ANSWER} The closest papers are: {closest}."


def _words(text: str) -> int:
    return len(text.split())


def _cited(s: Scored) -> str:
    sentence = s.sentence.rstrip()
    end = sentence[-1] if sentence[-1] in ".!?" else "."
    body = sentence[:-1] if sentence[-1] in ".!?" else sentence
    return f"{body} [{s.hit_index + 1}]{end}"


def _prose_answer(
    ranked: list[list[Scored]], keep: list[int], lead: int, asked: AskedFor | None, t: Tuning
) -> str:
    """The sentence that best answers first (one holding the kind of thing asked for,
    if the question names one), then up to `top_paper_sentences` more of the lead
    paper and the best one of each other kept paper, in the abstracts' order."""
    chosen = list(ranked[lead][: t.top_paper_sentences])
    chosen += [ranked[i][0] for i in keep if i != lead and ranked[i]]
    first = next((s for s in ranked[lead] if supplies(s.sentence, asked)), ranked[lead][0])
    picked = [first]
    used = _words(first.sentence)
    for s in sorted(chosen, key=lambda s: -s.score):
        if s is first or used + _words(s.sentence) > t.max_words:
            continue
        picked.append(s)
        used += _words(s.sentence)
    rest = sorted(picked[1:], key=lambda s: (s.hit_index, s.position))
    return " ".join(_cited(s) for s in [first, *rest])


def _list_answer(
    hits: Sequence[Hit], ranked: list[list[Scored]], keep: list[int], max_words: int
) -> str:
    """One line per paper: its title and its sentence that best answers the question."""
    lines = []
    budget = max(max_words, 25 * len(keep))  # a long list still gets one line per paper
    used = 0
    for i in keep:
        # The sentence closest in meaning says what the paper has to do with the
        # question; the sentence model's preference for findings is for factoids.
        s = max(ranked[i], key=lambda s: s.cosine)
        line = f"- {hits[i].paper.title}: {_cited(s)}"
        if lines and used + _words(line) > budget:
            line = f"- {hits[i].paper.title} [{i + 1}]."
        lines.append(line)
        used += _words(line)
    return "\n".join(lines)
