"""One place decides what a question is: its filters, its topic, what it asks for, and
whether it refers back to an earlier turn (`refers_back`, read by answer/followup.py).

question + explicit filters + the library's authors and categories
    --analyse--> QueryPlan (frozen): every later stage reads it, none re-parses

>>> plan = plan_of("Which papers study grokking?")
>>> plan.list_question, plan.count, plan.topic_phrase
(True, None, 'grokking')
>>> plan_of("How many GPUs did the two papers use?").asked.phrase
'the number of GPUs'
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from . import filters as filtering
from .answer.evidence import AskedFor, asked_for, capitalised_phrases, specific_names
from .authors import AuthorIndex
from .errors import NoMatchError
from .types import Filters

HAS_WORD = re.compile(r"[^\W_]{2,}")
_WORD = re.compile(r"[^\W_]+")


def only_stop_words(question: str, also: frozenset[str] = frozenset()) -> bool:
    """Whether every word is one the keyword index drops (BM25's English stop words),
    or one of `also`.

    >>> only_stop_words("the of and?"), only_stop_words("what is IBP?")
    (True, False)
    """
    from bm25s.stopwords import STOPWORDS_EN

    words = _WORD.findall(question.lower())
    return bool(words) and all(word in STOPWORDS_EN or word in also for word in words)


# Words that ask for papers without saying what about: with the filters taken out,
# "list all papers by X", "what has X published?" and "what has X worked on?" leave
# only these (authorship and research-activity words, and request phrasing).
_REQUEST_WORDS = frozenset(
    "paper papers work works worked working article articles publication publications "
    "study studies studied research researched topic topics area areas kind kinds "
    "interest interests interested focus focuses contribution contributions "
    "list show find give tell me us you please can could would library all any every "
    "what which who whose has have had did does do wrote written published publish write "
    "authored looking look in on are is there here i m s".split()  # i m s: "I'm", "X's"
)


def is_listing(topic: str) -> bool:
    """Whether the question, once its filters are taken out, asks for no topic.

    >>> [is_listing(t) for t in ("", "papers", "Which papers?", "What has worked on?")]
    [True, True, True, True]
    >>> is_listing("papers on diffusion"), is_listing("What is grokking?")
    (False, False)
    """
    return not HAS_WORD.search(topic) or only_stop_words(topic, _REQUEST_WORDS)


# The things a question can ask for several of: "which papers", "what defenses",
# "which optimization algorithms did ...", "what explanations have been proposed".
_PLURAL_KINDS = (
    r"(?:papers|works|studies|articles|methods|approaches|algorithms|techniques|models"
    r"|defenses|attacks|problems|explanations|results|findings|architectures)"
)
_LIST_QUESTION = re.compile(
    rf"^\s*(?:which|what)\s+(?:[\w-]+\s+){{0,3}}?{_PLURAL_KINDS}\b"
    rf"|\b(?:list|all|any|both|two|three|several)\s+(?:of\s+the\s+)?{_PLURAL_KINDS}\b"
    r"|\bpapers\s+(?:that|which|on|about)\b",
    re.IGNORECASE,
)


def is_list_question(question: str) -> bool:
    """'Which papers ...' style questions want every matching paper.

    >>> is_list_question("Which papers study sparse rate reduction?")
    True
    >>> is_list_question("What does SAM minimise?")
    False
    """
    return bool(_LIST_QUESTION.search(question))


# "Which papers study grokking?", "list papers on model merging": a list question
# whose subject is a short named topic rather than a description.
_TOPIC_LIST = re.compile(
    r"^\s*(?:(?:which|what)\s+|(?:please\s+)?(?:list|show|find|give)\s+(?:me\s+)?)?"
    r"(?:all\s+)?(?:the\s+)?(?:papers|works?|studies|articles|research|publications)\s+"
    r"(?:(?:are\s+there|do\s+you\s+have|in\s+the\s+library)\s+)?"
    r"(?:(?:that|which)\s+)?"
    r"(?:(?:study|examine|investigate|explore|analy[sz]e|discuss|address|tackle|propose"
    r"|introduce|use|apply|employ|evaluate|cover|mention|concern)(?:s|es|d|ed)?\s+"
    r"|(?:deals?|focus(?:es)?|(?:are|is))\s+)?"
    r"(?:(?:about|on|of|with|regarding|concerning)\s+)?"
    r"(?P<topic>[^,;:?!.]+?)\s*[?.!]*\s*$",
    re.IGNORECASE,
)
_CLAUSE = re.compile(r"\b(?:how|why|what|whether|when|where|which|that|who)\b", re.IGNORECASE)
TOPIC_MAX_WORDS = 4  # a longer subject is a description, matched by meaning instead


def topic_phrase(question: str) -> str | None:
    """The named topic of a "which papers study X?" question, or None.

    >>> topic_phrase("Which papers study grokking?"), topic_phrase("Papers on model merging")
    ('grokking', 'model merging')
    >>> topic_phrase("Which papers are about loss of plasticity?")
    'loss of plasticity'
    >>> topic_phrase("Which papers explain why accuracy jumps long after the fit?") is None
    True
    """
    match = _TOPIC_LIST.match(question)
    if not match:
        return None
    topic = match.group("topic").strip()
    if _CLAUSE.search(topic) or len(topic.split()) > TOPIC_MAX_WORDS:
        return None
    return topic


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


SHORT_FOLLOWUP_WORDS = 8  # "what about X?" up to this long is a follow-up

# Follow-ups. Words that only make sense with an antecedent in an earlier turn.
_PRONOUNS = re.compile(
    r"\b(it|its|itself|they|them|their|theirs|he|she|his|her|hers|the former|the latter)\b"
)
_DEICTIC = re.compile(
    r"\b(this|that|these|those|the same|the above|the previous|the aforementioned|"
    r"said|such)\s+(papers?|works?|stud(y|ies)|methods?|approach(es)?|models?|"
    r"techniques?|results?|findings?|datasets?|benchmarks?|authors?|articles?|"
    r"algorithms?|architectures?|frameworks?|systems?|ones?|idea|system card)\b"
)
_DEFINITE = re.compile(r"\b(the (authors?|paper|article|study|first one|second one|last one))\b")
_BARE_DEICTIC_END = re.compile(r"\b(this|that|these|those)\s*[?.!]*$")
_CONTINUATION = re.compile(r"^(what|how) about\b|^and\b|^also\b|^what else\b")


def refers_back(question: str) -> bool:
    """Whether the question leans on an earlier turn: pronouns ("it", "they"),
    deictics ("this paper", "that method", "the authors") or a short
    "what about ...?" continuation.

    >>> [refers_back(q) for q in ("Who are the authors?", "what about CIFAR-10?",
    ...                           "Which papers study robustness?")]
    [True, True, False]
    """
    text = " ".join(question.lower().split())
    if _PRONOUNS.search(text) or _DEICTIC.search(text) or _DEFINITE.search(text):
        return True
    if _BARE_DEICTIC_END.search(text):  # "why is that?", "who wrote this?"
        return True
    return bool(_CONTINUATION.search(text)) and len(text.split()) <= SHORT_FOLLOWUP_WORDS


# Questions asking how or why something works, or whether it does, want prose.
_HOW_WHY = re.compile(r"^\W*(?:how|why|is|are|does|do|did|can|could|should|was|were)\b", re.I)


@dataclass(frozen=True)
class QueryPlan:
    """What a question asks for, decided once."""

    question: str  # as asked, whitespace tidied
    topic: str  # the question without its filters: what answers are scored against
    filters: Filters = field(default_factory=Filters)  # explicit, then read from the question
    list_question: bool = False  # wants several papers, one line each
    count: int | None = None  # how many papers it asks for ("what two papers")
    topic_phrase: str | None = None  # a short named topic ("grokking")
    asked: AskedFor | None = None  # the kind of thing asked for: a figure, a dataset
    # specific names a paper answering it must mention: acronyms, model and dataset
    # names, runs of capitalised words ("Batch Normalization")
    names: tuple[str, ...] = ()

    @property
    def no_topic(self) -> bool:
        """Only filters or request words ("papers by X", "what has X worked on?")."""
        return is_listing(self.topic)

    @property
    def search_text(self) -> str:
        """What retrieval searches: the topic, unless too little of it is left."""
        return (
            self.topic
            if HAS_WORD.search(self.topic) and len(self.topic.split()) >= 2
            else self.question
        )

    @property
    def about_people(self) -> bool:
        """The question names authors: their papers are the candidates."""
        return bool(self.filters.authors)


def plan_of(question: str, filters: Filters = Filters(), topic: str | None = None,
            **overrides) -> QueryPlan:  # fmt: skip
    """The plan of a question whose filters are already known (none by default)."""
    question = " ".join(question.split())
    topic = question if topic is None else topic
    # "X's work on Y", "what has X published about Y": the person's papers on Y, a list.
    by_author = bool(filters.authors) and not _HOW_WHY.match(topic)
    count = requested_count(question)
    values = {
        "question": question,
        "topic": topic,
        "filters": filters,
        "list_question": is_list_question(question) or is_list_question(topic) or by_author
        or count is not None,
        "count": count,
        "topic_phrase": topic_phrase(topic) or topic_phrase(question),
        "asked": asked_for(topic),
        "names": tuple(dict.fromkeys([*specific_names(topic), *capitalised_phrases(topic)])),
    }  # fmt: skip
    return QueryPlan(**{**values, **overrides})


def analyse(
    question: str,
    authors: AuthorIndex,
    categories: Iterable[str],
    explicit: Filters | None = None,
) -> QueryPlan:
    """The plan of a question about this library: filters read from it (a year, an
    author, a category) combined with the explicit ones, and what is left as topic.

    Raises NoMatchError for a person's name nobody in the library has ("papers by
    Jane Roe"), naming the closest authors, rather than searching for it as a topic.
    """
    recognised, topic = filtering.from_question(question, authors, categories)
    person = None if recognised.authors else filtering.unknown_person(topic)
    if person and not (explicit and explicit.authors):
        close = authors.closest(person)
        hint = f"; closest: {', '.join(close)}" if close else ""
        raise NoMatchError(
            f"no author named {person} in the library{hint}: check the spelling or see `rag papers`"
        )
    active = filtering.combine(explicit if explicit is not None else Filters(), recognised)
    return plan_of(question, active, topic)
