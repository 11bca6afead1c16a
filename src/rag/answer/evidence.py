"""The measurable evidence the extractive answerer decides from (pure).

Two feature sets, each read by one fitted logistic model in `tuning.py`:

- per sentence, how well it answers the question (`sentence_features`):
  ``cos``   cosine of the sentence and question vectors;
  ``role``  +1 when the sentence reports a finding, -1 for an opening background
            sentence or a pointer to code, else 0 (abstracts move from background
            to findings);
  ``figure`` 1 when the question asks for a quantity and the sentence has a figure;
  ``opening`` 1 for the abstract's first sentence (it sets the scene: the field's
            background, seldom the method, number or dataset a question asks for).
- per question, whether the retrieved papers can answer it (`refusal_features`):
  ``sim``    the best sentence cosine over the retrieved papers;
  ``cover``  the best IDF-weighted share of the question's terms one of the top
             papers contains (title and abstract);
  ``unknown`` 1 when a name in the question (an acronym, a model or dataset
             name, a capitalised word inside it) occurs in no paper of the library;
  ``names``  share of the question's specific names (acronyms, model and dataset
             names, runs of capitalised words) that none of the top papers mentions;
  ``top``    the second-stage score of the lead paper (retrieval.Reranker.rerank:
             its best sentences' cosines, keyword coverage and first-stage rank);
  ``gap``    its margin over the next paper's. A question the library answers
             usually has one paper that fits it clearly better than the rest; the
             top score and the margin are the two classic post-retrieval predictors
             of whether a search found what it was looking for (query performance
             prediction: Cronen-Townsend et al. 2002; Shtok et al. 2012).

`top` and `gap` were chosen by 10-fold cross-validation on the tuning files (README,
"Evaluation"). `cover` is still measured and shown with the evidence, but the model
no longer weighs it: beside `top`, which holds the lead paper's keyword coverage,
its fitted weight turned negative, a reading nothing supports. A sentence-level
coverage feature was left out for the same reason.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from ..glossary import Glossary
from ..keyword import coverage
from ..words import is_function_word

TOP_PAPERS = 3  # the papers `cover` and `names` look at: those an answer would quote


class TermStats(Protocol):
    """The library's term statistics, as the keyword index sees terms (stemmed)."""

    def terms_of(self, texts: list[str]) -> list[list[str]]: ...
    def paper_terms(self, paper_id: str) -> set[str]: ...
    def idf(self, term: str) -> float: ...
    def df(self, term: str) -> int: ...


# ------------------------------------------------------------------ names
# Specific names: acronyms (FID, QM9), inner capitals (TabPFN, LibriSpeech),
# capitalised letter+digit tokens (S4, T5). Plain capitalised words are not
# names here: they start questions and sentences.
_NAME = re.compile(
    r"^(?:[A-Za-z0-9]*[A-Z][A-Za-z0-9]*[A-Z][A-Za-z0-9]*"  # two capitals: FID, LLaVA
    r"|[a-z]+[A-Z][A-Za-z0-9]*"  # inner capital: wav2Vec, iPhone
    r"|[A-Z][a-z]*[0-9][A-Za-z0-9]*)$"  # capital and digit: S4, T5, Llama2
)


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
    parts = camel_parts(name)
    if len(parts) > 1:  # LayerNorm as "layer normalization"
        pattern = r"\s*-?\s*".join(rf"\b{re.escape(p.lower())}\w*" for p in parts)
        if re.search(pattern, lowered):
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


def camel_parts(name: str) -> list[str]:
    """The words of a compound name written in CamelCase.

    >>> camel_parts("LayerNorm"), camel_parts("BatchNorm2d"), camel_parts("FID")
    (['Layer', 'Norm'], ['Batch', 'Norm2d'], ['FID'])
    """
    return re.findall(r"[A-Z][a-z]+[0-9a-z]*|[A-Z0-9]+(?![a-z])", name) or [name]


_CAPITALISED = re.compile(r"(?<=[a-z0-9,;:()] )[A-Z][A-Za-z0-9\-]+")


_PHRASE = re.compile(r"(?<=[a-z0-9,;:()] )[A-Z][\w\-]*(?:\s+[A-Z][\w\-]*)+")


def capitalised_phrases(question: str) -> list[str]:
    """Runs of two or more capitalised words inside the question: the name of a method,
    model or dataset ("Batch Normalization", "Monte Carlo dropout"), which a paper
    answering it names as a whole, not word by word.

    A question written in title case says nothing by its capitals: one with a
    function word capitalised after its first word ("What Is The Lottery Ticket
    Hypothesis?"), or with every word capitalised ("Which Papers Study Model Merging?").

    >>> capitalised_phrases("How does Batch Normalization help Vision Transformers?")
    ['Batch Normalization', 'Vision Transformers']
    >>> capitalised_phrases("Does Adam converge?"), capitalised_phrases("How Does Batch Norm Work?")
    ([], [])
    >>> capitalised_phrases("Which Papers Study Model Merging?")
    []
    """
    later = re.findall(r"[A-Za-z][\w\-]*", question)[1:]
    if all(w[:1].isupper() for w in later) or any(
        w[:1].isupper() and is_function_word(w) for w in later
    ):
        return []
    return _PHRASE.findall(question)


def question_names(question: str) -> list[str]:
    """Specific names and capitalised words inside the question (not its first word).

    >>> question_names("What ratio does the Chinchilla law give for LLMs?")
    ['LLM', 'Chinchilla']
    """
    names = specific_names(question)
    return names + [
        w for w in _CAPITALISED.findall(question) if w not in names and w.rstrip("s") not in names
    ]


def _squashed(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


# ------------------------------------------------------------- answer types
# What kind of thing a question asks for, by its interrogative (the answer types
# of TREC-style question answering): a quantity needs a figure, a dataset needs a
# named dataset. Anything else is answered by meaning alone.
# The interrogative that opens the question or one of its clauses sets the answer
# type: "How can one estimate how much data a task needs?" asks for a method.
_CLAUSE_START = r"(?:^|[,;:]\s*|\band\s+|\bbut\s+)\W*(?:(?:and|but|so|then)\s+)?"
_QUANTITY = re.compile(
    _CLAUSE_START + r"(?:by\s+)?how\s+(?:many|much)\b"
    r"|" + _CLAUSE_START + r"(?:what|which)\s+(?:(?:is|was|are|were)\s+the\s+)?(?:\S+\s+){0,2}?"
    r"(?:number|percentage|percent|fraction|proportion|share|ratio|count|amount|speed-?up"
    r"|accuracy|score)\b",
    re.IGNORECASE,
)
_DATASET_NOUN = r"\b(?:datasets?|benchmarks?|corpus|corpora|data\s+sets?)\b"
_DATASET = re.compile(r"\b(?:what|which)\s+(?:\S+\s+){0,2}?" + _DATASET_NOUN, re.IGNORECASE)
# A figure is a number that is not part of a name (GPT-5, CIFAR-10) and not a year.
_FIGURE = re.compile(r"(?<![A-Za-z\-\d.])(?!(?:19|20)\d\d\b)\d")
_DATASET_WORDS = re.compile(_DATASET_NOUN, re.IGNORECASE)
_WHAT_OF = re.compile(
    r"\bwhat(?:'s|\s+(?:is|was|are|were))\s+(?:the\s+)?(?P<thing>[\w\- ]+?)"
    r"(?:\s+(?:of|for|in|on|that|does|did|do)\b|\s*[?.,]|$)",
    re.IGNORECASE,
)
_MEASURE_OF = re.compile(
    r"\b(?:what|which)\s+(?:is\s+the\s+|was\s+the\s+)?(?P<measure>number|percentage|fraction"
    r"|proportion|share|ratio|count|amount)\s+of\s+(?:(?:a|an|the)\s+)?"
    r"(?P<thing>[\w\-]+(?:'s)?(?:\s+[\w\-]+(?:'s)?){0,2}?)(?=\s+(?:does|did|do|is|are|was|were|in|on"
    r"|of|for|that|per|were|across)\b|\s*[?.,]|$)",
    re.IGNORECASE,
)
_HOW_MANY = re.compile(r"\bhow\s+many\s+(?P<thing>[\w\-]+(?:\s+[\w\-]+)?)", re.IGNORECASE)


# Words that say "a quantity" without saying of what.
_MEASURE_WORDS = frozenset(
    "the a an of number numbers percentage percent fraction proportion ratio count amount "
    "figure asked for".split()
)


@dataclass(frozen=True)
class AskedFor:
    kind: str  # "figure" or "dataset"
    phrase: str  # for "the abstract of [1] does not give <phrase>"
    words: tuple[str, ...] = ()  # what is counted ("GPUs"): a figure must come with it


def _head(words: str, last: bool) -> tuple[str, ...]:
    """The noun a measure is of: the last word of "number of training examples",
    the first of "parameter count"."""
    kept = [w for w in re.findall(r"[a-z][a-z\-]+", words.lower()) if w not in _MEASURE_WORDS]
    return tuple(kept[-1:] if last else kept[:1])


def asked_for(question: str) -> AskedFor | None:
    """The answer type a question names, when it is one an abstract can lack.

    >>> asked_for("What is the parameter count of GPT-5?")
    AskedFor(kind='figure', phrase='the parameter count', words=('parameter',))
    >>> asked_for("How many GPUs were used?").phrase
    'the number of GPUs'
    >>> asked_for("How many layers and heads does it have?").phrase
    'the number of layers'
    >>> asked_for("What dataset did they evaluate on?").kind
    'dataset'
    >>> asked_for("Which method is fastest?") is None
    True
    >>> asked_for("How can one estimate how much data a task needs?") is None
    True
    """
    if _DATASET.search(question):
        return AskedFor("dataset", "the dataset")
    if not _QUANTITY.search(question):
        return None
    many = _HOW_MANY.search(question)
    if many:
        # What is counted ends before a function word: "how many GPUs were used",
        # "how many speakers and utterances" (a coordination asks for each; the
        # first names the figure).
        first, *second = many.group("thing").split()
        thing = " ".join([first, *(w for w in second if not is_function_word(w))])
        return AskedFor("figure", f"the number of {thing}", _head(thing, last=True))
    measure = _MEASURE_OF.search(question)
    if measure:
        thing = measure.group("thing")
        return AskedFor(
            "figure", f"the {measure.group('measure').lower()} of {thing}", _head(thing, last=True)
        )
    what = _WHAT_OF.search(question)
    if what and len(what.group("thing").split()) <= 4:
        thing = what.group("thing").strip()
        return AskedFor("figure", f"the {thing}", _head(thing, last=False))
    return AskedFor("figure", "the figure asked for")


def _stem(word: str) -> str:
    """A crude stem for matching a counted noun: GPUs -> gpu, examples -> exampl."""
    return re.sub(r"(?:es|s|e)$", "", word) if len(word) > 4 else word.rstrip("s")


def has_figure(sentence: str) -> bool:
    """Whether a sentence states a quantity (a number that is no name or year).

    >>> has_figure("about 31% faster"), has_figure("GPT-5 came out in 2025"), has_figure("by 2x")
    (True, False, True)
    """
    return bool(_FIGURE.search(sentence))


def supplies(sentence: str, asked: AskedFor | None) -> bool:
    """Whether a sentence holds something of the kind asked for: a figure (with what
    it counts, when the question says: GPUs, parameters) or a named dataset.

    >>> supplies("We train on 64 GPUs.", asked_for("How many GPUs were used?"))
    True
    >>> supplies("It improves accuracy by 10%.", asked_for("How many GPUs were used?"))
    False
    """
    if asked is None:
        return True
    if asked.kind == "figure":
        words = [w.removesuffix("'s") for w in asked.words]
        lowered = sentence.lower()
        if not has_figure(sentence):
            return False
        if not words:
            return True
        stems = "|".join(re.escape(_stem(w)) for w in words)
        if asked.phrase.startswith("the number of"):
            # A count is a number of the things counted: "64 GPUs", "1.8 trillion
            # parameters", not a figure in a sentence that mentions them elsewhere.
            return bool(
                re.search(
                    rf"\d[\d,.]*\s*(?:[kmbt]\b|thousand|million|billion|trillion)?"
                    rf"\s*(?:[\w\-]+\s+){{0,2}}(?:{stems})",
                    lowered,
                )
            )
        return bool(re.search(rf"\b(?:{stems})", lowered))
    return bool(_DATASET_WORDS.search(sentence)) or any(
        _NAME.match(t) for t in re.findall(r"[A-Za-z][A-Za-z0-9\-]+", sentence)
    )


# ------------------------------------------------------------ rhetorical role
_FINDING = re.compile(
    r"\b(?:we|our (?:results|experiments|analysis))\s+(?:\w+\s+)?(?:show|find|found|demonstrate|"
    r"prove|observe|reveal|establish)|\b(?:results|experiments)\s+(?:show|suggest|indicate|"
    r"demonstrate)|\boutperform|\bachiev|\bimprov|\breduc",
    re.IGNORECASE,
)
OWN_WORK = re.compile(r"\b(?:we|our|this (?:paper|work))\b", re.IGNORECASE)
# Where to get the code or data is never an answer ("Code is available at https://...").
_POINTER = re.compile(r"https?://|\bgithub\b|\burl\{", re.IGNORECASE)


def role(sentence: str, position: int) -> float:
    """+1 for a sentence reporting a finding, -1 for an opening background sentence
    or a pointer to code or data.

    >>> role("We show that it works.", 3), role("Deep nets are popular.", 1)
    (1.0, -1.0)
    >>> role("Code is available at https://github.com/x/y.", 6)
    -1.0
    """
    if _POINTER.search(sentence):
        return -1.0
    if _FINDING.search(sentence):
        return 1.0
    if position == 1 and not OWN_WORK.search(sentence):
        return -1.0
    return 0.0


# ---------------------------------------------------------------- features
def sentence_features(
    cos: float, sentence: str, position: int, asked: AskedFor | None
) -> dict[str, float]:
    """The sentence model's features (see the module docstring).

    >>> sentence_features(0.5, "We find a 2x speed-up.", 3, asked_for("How much faster?"))
    {'cos': 0.5, 'role': 1.0, 'figure': 1.0, 'opening': 0.0}
    """
    return {
        "cos": cos,
        "role": role(sentence, position),
        "figure": float(asked is not None and asked.kind == "figure" and has_figure(sentence)),
        "opening": float(position == 1),
    }


def known_name(name: str, stats: TermStats) -> bool:
    """Whether some paper of the library has the name's terms (LayerNorm: layer, norm)."""
    for form in (name, " ".join(camel_parts(name))):
        terms = stats.terms_of([form])[0]
        if terms and all(stats.df(t) > 0 for t in terms):
            return True
    return not stats.terms_of([name])[0]  # only stop words: nothing to look for


def refusal_features(
    question: str,
    names: Sequence[str],
    question_terms: Sequence[str],
    paper_ids: Sequence[str],
    paper_texts: Sequence[str],
    best_cosine: float,
    stats: TermStats,
    glossary: Glossary | None = None,
    lead_scores: Sequence[float] = (),
) -> dict[str, float]:
    """The refusal model's features (see the module docstring); papers best first;
    `names`: the question's specific names (QueryPlan.names); `lead_scores`: the
    papers' second-stage scores."""
    glossary = glossary or Glossary()
    unique = list(dict.fromkeys(question_terms))
    top_ids, top_texts = paper_ids[:TOP_PAPERS], paper_texts[:TOP_PAPERS]
    cover = max((coverage(unique, stats.paper_terms(p), stats.idf) for p in top_ids), default=0.0)
    names = list(names)
    names += [n for n in glossary.spelled_out_in(question) if n not in names]
    names += [n for n in capitalised_phrases(question) if n not in names]
    joined = " ".join(top_texts)
    missing = [n for n in names if not (mentions(joined, n) or glossary.spells(n, joined))]
    return {
        "sim": best_cosine,
        "cover": cover,
        "unknown": float(any(not known_name(n, stats) for n in question_names(question))),
        "names": len(missing) / len(names) if names else 0.0,
        "top": max(lead_scores, default=0.0),
        "gap": max(lead_scores, default=0.0)
        - (sorted(lead_scores)[-2] if len(lead_scores) > 1 else 0.0),
    }
