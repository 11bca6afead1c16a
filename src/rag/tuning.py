"""Every fitted number of the extractive answerer, in one frozen object.

Two small logistic models make its decisions, each fitted by `eval/fit_tuning.py`
(L2-regularised logistic regression, Newton's method) on ONE question file and
checked on the others (README, "Evaluation"):

- `sentence`: which sentences of a paper answer the question. Fitted on the
  sentences of the gold papers of the tuned file's factoid and numeric questions,
  a sentence being positive when it holds one of the question's answer keywords.
- `refusal`: whether the retrieved papers can answer at all (p(answerable)).
  Fitted on every question of the tuned file, unanswerable ones negative.

The features are defined in `answer/evidence.py`. A proposed tuning written by the
fit script is a JSON file of the same shape; `RAG_TUNING=path` loads it.

    >>> Tuning().refusal.probability({"sim": 0.7, "cover": 0.6, "unknown": 0.0, "names": 0.0}) > 0.5
    True
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
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


# Fitted by eval/fit_tuning.py on eval/questions.jsonl (296 sentences of the gold
# papers of its factoid/numeric questions, 84 holding an answer keyword). Its best
# sentence holds a keyword for 0.69 / 0.71 / 0.58 of the questions of
# questions / holdout / blind (cosine alone: 0.51 / 0.36 / 0.28); its best five, for
# 1.00 / 0.93 / 0.94 (cosine alone: 0.97 / 1.00 / 0.97). Tried and dropped, for helping one file and not the others:
# term overlap with the question (holdout 0.71 -> 0.57), the previous sentence's
# cosine (holdout 0.71 -> 0.57, blind 0.56 -> 0.67).
SENTENCE_MODEL = LinearModel(
    bias=-2.203,
    weights=(("cos", 2.112), ("role", 0.934), ("figure", 0.615)),
)
# Fitted by eval/fit_tuning.py on eval/questions.jsonl (87 questions, 15 of them
# unanswerable); features in answer/evidence.py.
REFUSAL_MODEL = LinearModel(
    bias=-4.781,
    weights=(("sim", 9.172), ("cover", 4.314), ("unknown", -1.189), ("names", -5.582)),
)


@dataclass(frozen=True)
class Tuning:
    tuned_on: str = "eval/questions.jsonl"  # the only file any value below was chosen on
    sentence: LinearModel = SENTENCE_MODEL
    refusal: LinearModel = REFUSAL_MODEL
    # Refuse when p(answerable) is below this: the plain Bayes decision (equal costs).
    refuse_below: float = 0.5
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
        if not isinstance(data, dict):
            raise ConfigError(f"{where}: expected a JSON object")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"{where}: unknown field(s) {', '.join(unknown)}")
        values: dict[str, Any] = {}
        try:
            for name, value in data.items():
                if name in ("sentence", "refusal"):
                    values[name] = LinearModel.from_dict(value)
                elif name == "notes":
                    values[name] = tuple(str(v) for v in value)
                elif name == "tuned_on":
                    values[name] = str(value)
                else:
                    kind = type(getattr(cls(), name))
                    values[name] = kind(value)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ConfigError(f"{where}: bad value ({exc})") from None
        return replace(cls(), **values)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["sentence"] = self.sentence.to_dict()
        data["refusal"] = self.refusal.to_dict()
        data["notes"] = list(self.notes)
        return data
