"""Every fitted number of the extractive answerer, in one frozen object.

Two small logistic models make its decisions, each fitted by `eval/fit_tuning.py`
(L2-regularised logistic regression, Newton's method) on the tuning question files
and checked on the held-out ones (README, "Evaluation"):

- `sentence`: which sentences of a paper answer the question. Fitted on the
  sentences of the gold papers of the tuning files' factoid and numeric questions,
  a sentence being positive when it holds one of the question's answer keywords.
- `refusal`: whether the retrieved papers can answer at all (p(answerable)).
  Fitted on the tuning files' questions it decides, unanswerable ones negative.

The features are defined in `answer/evidence.py`. A proposed tuning written by the
fit script is a JSON file of the same shape; `RAG_TUNING=path` loads it.

`retrieval` holds the retriever's numbers (`RetrievalTuning`): depths, fusion,
feedback and the second stage's weights, each with where it came from.

    >>> evidence = {"sim": 0.7, "unknown": 0.0, "names": 0.0, "top": 0.7, "gap": 0.2}
    >>> Tuning().refusal.probability(evidence) > Tuning().refuse_below
    True
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .errors import ConfigError


@dataclass(frozen=True)
class LinearModel:
    """bias + sum(weight * feature), read as a log-odds."""

    bias: float
    weights: tuple[tuple[str, float], ...]

    def logit(self, features: Mapping[str, float]) -> float:
        return self.bias + sum(w * features[name] for name, w in self.weights)

    def probability(self, features: Mapping[str, float]) -> float:
        z = self.logit(features)
        return 1.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LinearModel:
        return cls(float(data["bias"]), tuple((k, float(v)) for k, v in data["weights"].items()))

    def to_dict(self) -> dict[str, Any]:
        return {"bias": self.bias, "weights": dict(self.weights)}


# Both models: fitted by eval/fit_tuning.py on the tuning files, eval/questions.jsonl
# and eval/train.jsonl (the latter written blind for fitting: 45 of its 110
# questions are near misses the library cannot answer). Never on holdout.jsonl,
# blind.jsonl, blind2.jsonl or blind3.jsonl, which only check them (README, "Evaluation").
# Sentence model: 605 sentences of the gold papers of the factoid/numeric questions,
# 165 holding an answer keyword. `opening` (the abstract's first sentence, whatever
# its words: abstracts open with the field's background, rarely with what a question
# asks) raised the sentence AUC on every file (tuned 0.657 -> 0.675; held out:
# holdout 0.666 -> 0.736, blind 0.669 -> 0.701) and keyword recall on three of the
# four held-out files (README, "Evaluation"). Tried and dropped, for helping one file
# and not the others: term overlap with the question, the share of the sentence's
# terms the question lacks, the sentence's relative position, the previous
# sentence's cosine.
SENTENCE_MODEL = LinearModel(
    bias=-2.058,
    weights=(("cos", 2.438), ("role", 0.411), ("figure", 0.532), ("opening", -1.705)),
)
# Refusal model: the 172 questions of the tuning files it decides (60 unanswerable;
# listings and questions about named people or papers are not its to decide).
# Features chosen by 10-fold cross-validation on those questions (evidence.py):
# with `top` and `gap` the cross-validated AUC went from 0.87 to 0.91.
# Refitted when `names` began to count a run of capitalised words as one name
# (cross-validated refusal accuracy 0.68 at false refusals 0.05, as before).
REFUSAL_MODEL = LinearModel(
    bias=-7.176,
    weights=(
        ("sim", 3.078),
        ("unknown", -1.179),
        ("names", -4.359),
        ("top", 9.063),
        ("gap", 9.759),
    ),
)


# The second stage's score (retrieval.Reranker.rerank): a weighted sum of the best
# sentence's cosine, the mean of the two best, the IDF-weighted share of the query's
# terms the paper has, the share of the query's numbers it states, and the first
# stage's rank as a prior 1 / (1 + rank / 10). Hand-set (semantic evidence first,
# exact terms next, the rank as a weak prior); the weights sum to 1, so the score
# stays in [0, 1] like a cosine, which the list cut and the lead-title share assume.
# Weights fitted on half of SciFact's train claims (bench/fit_rerank.py) lost to
# these on the other half, both ways round (README, "Retrieval benchmarks").
RERANK_MODEL = LinearModel(
    bias=0.0,
    weights=(("best", 0.35), ("top2", 0.20), ("keyword", 0.25), ("number", 0.05), ("prior", 0.15)),
)


@dataclass(frozen=True)
class RetrievalTuning:
    # Reciprocal rank fusion constant from Cormack, Clarke & Büttcher (SIGIR 2009).
    rrf_k: int = 60
    candidates: int = 40  # chunks taken from each first-stage retriever before fusion
    rerank_depth: int = 30  # papers the second stage looks at
    deep_margin: float = 2.0  # chunks per wanted paper, per library chunk ratio, for k > candidates
    list_max: int = 12  # most papers a "which papers ..." question returns
    # A list question keeps every paper whose rerank score is within this share of the best.
    list_relative_cut: float = 0.80
    feedback_papers: int = 3  # top reranked papers used for pseudo-relevance feedback
    expansion_terms: int = 8  # keyword terms added to the feedback query
    feedback_weight: float = 0.75  # Rocchio beta: how far the query vector moves toward them
    # List questions: share of the second-stage score that goes to the lead paper's
    # title terms. Sweep on eval/questions.jsonl, recall@5 / multi-paper recall@5:
    # 0 -> 0.905 / 0.68, 0.15 -> 0.917 / 0.74, 0.25 -> 0.927 / 0.78,
    # 0.35 -> 0.926 / 0.79 (author recall down to 0.967).
    lead_title_weight: float = 0.25
    rerank: LinearModel = RERANK_MODEL


@dataclass(frozen=True)
class Tuning:
    # The only files any value below was chosen on (" + " between them).
    tuned_on: str = "eval/questions.jsonl + eval/train.jsonl"
    sentence: LinearModel = SENTENCE_MODEL
    refusal: LinearModel = REFUSAL_MODEL
    # Refuse when p(answerable) is below this. A false refusal costs more than a
    # missed one (the budget is 0.03 of answerable questions), so this is the
    # largest threshold, in steps of 0.05 from the Bayes 0.5, that keeps the tuning
    # files' false refusals within 0.03: 0.5 -> 0.051 (refusal accuracy 0.80),
    # 0.45 -> 0.029 (0.77).
    refuse_below: float = 0.45
    max_words: int = 120  # the answer's length budget (plain default: a paragraph)
    top_paper_sentences: int = 5  # sentences the lead paper may contribute (plain default)
    # Another paper is cited only when it is nearly as relevant as the lead: its
    # retrieval score and its best sentence within these shares of the lead's.
    # Chosen on eval/questions.jsonl (citation precision against keyword recall).
    cite_score_share: float = 0.92
    cite_sentence_share: float = 0.90
    # List questions cite every paper within this share of the top retrieval score.
    # Sweep on eval/questions.jsonl, citation precision / keyword recall:
    # 0.80: 0.87 / 0.73; 0.90: 0.90 / 0.73; 0.92: 0.91 / 0.71.
    list_score_share: float = 0.90
    # The lead paper: weight of its retrieval score against its best sentence's
    # probability. Sweep on eval/questions.jsonl: sentence alone 0.86 / 0.66,
    # 0.7: 0.90 / 0.71, retrieval alone 0.90 / 0.70 (precision / keyword recall).
    lead_retrieval_weight: float = 0.7
    closest_shown: int = 3  # papers a refusal names (plain default)
    listed_with_sentence: int = 12  # a listing quotes a sentence for this many papers
    retrieval: RetrievalTuning = RetrievalTuning()
    notes: tuple[str, ...] = field(default=())

    @classmethod
    def load(cls, path: Path | None) -> Tuning:
        """The defaults, or the tuning file at `path` (values it lacks stay default)."""
        if path is None:
            return cls()
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"tuning file {path} does not exist: fix RAG_TUNING") from None
        except (OSError, ValueError) as exc:
            raise ConfigError(f"tuning file {path} is not valid JSON ({exc}): fix it") from None
        return cls.from_dict(data, str(path))

    @classmethod
    def from_dict(cls, data: Any, where: str = "tuning") -> Tuning:
        return _from_dict(cls, data, where)

    def to_dict(self) -> dict[str, Any]:
        return _to_dict(self)


def _from_dict(cls: type, data: Any, where: str) -> Any:
    """An instance of the dataclass `cls` with the values `data` gives (the others
    default), each converted to its default's type."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a JSON object")
    default = cls()
    unknown = sorted(set(data) - {f.name for f in fields(cls)})
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {', '.join(unknown)}")
    values: dict[str, Any] = {}
    try:
        for name, value in data.items():
            kind = type(getattr(default, name))
            if kind is LinearModel:
                values[name] = LinearModel.from_dict(value)
            elif kind is RetrievalTuning:
                values[name] = _from_dict(RetrievalTuning, value, f"{where}: retrieval")
            elif kind is tuple:
                values[name] = tuple(str(v) for v in value)
            else:
                values[name] = kind(value)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ConfigError(f"{where}: bad value ({exc})") from None
    return replace(default, **values)


def _to_dict(obj: Any) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for f in fields(obj):
        value = getattr(obj, f.name)
        if isinstance(value, LinearModel):
            value = value.to_dict()
        elif isinstance(value, RetrievalTuning):
            value = _to_dict(value)
        elif isinstance(value, tuple):
            value = list(value)
        data[f.name] = value
    return data
