"""The extractive answerer on literal papers with the real embedding model, and the
engine's answer path (follow-ups, LLM failure fallback) on the real library."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from rag.answer.evidence import mentions, role, specific_names
from rag.answer.extractive import ExtractiveAnswerer, lead_paper
from rag.answer.followup import Turn
from rag.answer.prompts import CANNOT_ANSWER
from rag.errors import NoMatchError
from rag.keyword import KeywordIndex, TermTable
from rag.query import plan_of, requested_count
from rag.sentences import split_sentences
from rag.tuning import Tuning
from rag.types import Hit, Paper

SAM = Paper.create(
    "Sharpness-Aware Minimization for Efficiently Improving Generalization",
    "Training loss alone does not guarantee generalization. We propose Sharpness-Aware "
    "Minimization (SAM), which seeks parameters in neighborhoods of uniformly low loss. "
    "SAM improves accuracy on CIFAR-10 by 1.2 percentage points over SGD.",
    year=2020,
)
QUANT = Paper.create(
    "Q-VLM: Post-training Quantization for Large Vision-Language Models",
    "We propose a post-training quantization framework for vision-language models. "
    "Our method compresses the memory by 2.78x and increases generation speed by 1.44x.",
)


CARD = Paper.create(
    "The ZetaLM-3 System Card",
    "Large models are increasingly deployed. ZetaLM-3 is a unified system with a router "
    "that picks a fast or a deep model. We evaluate ZetaLM-3 on coding and writing tasks.",
)
SCALED = Paper.create(
    "Scaling ZetaLM-3",
    "Language models keep growing. ZetaLM-3 has 1.8 trillion parameters and was trained "
    "on 40 trillion tokens. We show that its router halves the cost.",
)
PAPERS = (SAM, QUANT, CARD, SCALED)


def make_answerer(embedder, papers=PAPERS, tuning=None):
    """The real answerer over literal papers: real vectors, real term statistics."""
    by_id = {p.paper_id: p for p in papers}

    def lookup(ids):
        out = {}
        for pid in ids:
            texts = [by_id[pid].title, *split_sentences(by_id[pid].abstract)]
            out[pid] = (texts, embedder.embed(texts))
        return out

    stats = TermTable(KeywordIndex([]).terms_of, {p.paper_id: p.text for p in papers})
    return ExtractiveAnswerer(embedder.embed_one, lookup, stats, tuning=tuning)


@pytest.fixture(scope="module")
def answerer(embedder):
    return make_answerer(embedder)


def hits(*papers):
    return [Hit(paper=p, score=1.0 - i * 0.3, text=p.abstract) for i, p in enumerate(papers)]


def test_answer_is_whole_sentences_each_cited(answerer):
    text = answerer.answer("How much memory does the quantization method save?", hits(QUANT, SAM))
    assert "2.78x" in text  # numbers kept whole
    for sentence in split_sentences(text):
        assert re.search(r"\[\d\][.!?]$", sentence), sentence
    assert "[2]" not in text  # the unrelated paper is not cited


def test_irrelevant_question_is_refused(answerer):
    text = answerer.answer("Who won the football world cup in 1998?", hits(SAM, QUANT))
    assert text.startswith(CANNOT_ANSWER)
    assert "[" not in text  # a refusal cites nothing


def test_lead_paper_is_the_most_relevant_overall_not_by_one_sentence():
    """A paper about something else can hold the one sentence closest to the
    question's wording; the retrieval score, which weighs the whole paper, leads."""

    def scored(*scores):
        return [Hit(SAM, s, "") for s in scores]

    w = Tuning().lead_retrieval_weight
    assert lead_paper(scored(0.60, 0.53), [0.56, 0.66], w) == 0
    # A much better sentence still wins when the retrieval scores are close.
    assert lead_paper(scored(0.60, 0.58), [0.40, 0.66], w) == 1
    # Relative to the top, so a retrieval mode's scale (BM25's is unbounded) does not matter.
    assert lead_paper(scored(6.0, 5.3), [0.56, 0.66], w) == 0
    assert lead_paper(scored(6.0, 5.8), [0.40, 0.66], w) == 1


def test_a_numbered_version_is_part_of_the_name():
    assert specific_names("How many tokens was GPT-5 trained on?") == ["GPT-5"]
    assert mentions("We evaluate GPT 5 and GPT-4.", "GPT-5")
    assert not mentions("We study GPT models such as GPT-2.", "GPT-5")


def test_findings_are_preferred_over_opening_background():
    assert role("We show that SAM improves accuracy by 1.2 points.", 3) == 1.0
    assert role("Deep networks often generalize poorly.", 1) == -1.0
    assert role("In this paper, we study generalization.", 1) == 0.0
    assert role("The loss is minimized over a neighborhood.", 2) == 0.0


def test_acronyms_match_their_spelled_out_form():
    assert mentions("We study Large Language Models at scale.", "LLM")
    assert mentions("Generative adversarial networks (GANs) ...", "GAN")
    assert not mentions("We study language models.", "LLM")
    assert not mentions("A model named TabPF.", "TabPFN")  # only acronyms are spelled out


def test_list_question_gives_one_line_per_paper(answerer):
    question = "Which papers propose sharpness-aware minimization or post-training quantization?"
    text = answerer.answer(
        plan_of(question, list_question=True), [Hit(SAM, 1.0, ""), Hit(QUANT, 0.95, "")]
    )
    lines = text.splitlines()
    assert len(lines) == 2 and all(line.startswith("- ") for line in lines)


def test_a_list_member_that_names_the_topic_is_cited_whatever_its_score(answerer):
    question = "Which papers study sharpness-aware minimization or post-training quantization?"
    low = [Hit(SAM, 1.0, ""), Hit(QUANT, 0.5, "")]
    assert "[2]" not in answerer.answer(plan_of(question, list_question=True), low)
    text = answerer.answer(plan_of(question, list_question=True), low, named=[QUANT.paper_id])
    assert "[2]" in text and "[1]" not in text, text


def test_a_listing_gives_every_paper_with_the_sentence_closest_to_its_title(answerer):
    text = answerer.listing([Hit(QUANT, 1.0, ""), Hit(SAM, 1.0, "")])
    lines = text.splitlines()
    assert lines[0].startswith("- Q-VLM: Post-training Quantization") and lines[0].endswith("[1].")
    assert "We propose a post-training quantization framework" in lines[0]
    assert lines[1].startswith("- Sharpness-Aware Minimization for Efficiently Improving "
                               "Generalization (2020): We propose Sharpness-Aware")  # fmt: skip
    assert lines[1].endswith("[2].")


def test_a_question_that_says_how_many_papers_gets_that_many(answerer):
    assert requested_count("What two defenses did Hongyang Zhang co-author?") == 2
    assert requested_count("She co-authored three papers here. Which are they?") == 3
    assert requested_count("Which papers use two GPUs?") is None  # a count of something else
    # QUANT scores far below SAM: a plain list would keep SAM alone.
    question = "What two papers propose sharpness-aware minimization or post-training quantization?"
    text = answerer.answer(
        plan_of(question, list_question=True), [Hit(SAM, 1.0, ""), Hit(QUANT, 0.5, "")]
    )
    assert "[1]" in text and "[2]" in text and len(text.splitlines()) == 2, text


def test_papers_by_an_author_lists_all_of_them_newest_first(engine):
    answer = engine.ask("papers by Sam Buchanan")
    mine = sorted(
        (p for p in engine.papers() if "Sam Buchanan" in p.authors),
        key=lambda p: (-(p.year or 0), p.title.lower()),
    )
    assert len(mine) >= 2 and not answer.refused
    assert [h.paper.paper_id for h in answer.hits] == [p.paper_id for p in mine]
    assert [c.n for c in answer.citations] == list(range(1, len(mine) + 1))
    assert not [w for w in answer.warnings if w.startswith("uncited")], answer.warnings


def test_papers_by_an_author_on_a_topic_cite_the_ones_naming_it(engine):
    answer = engine.ask("Which papers did Sam Buchanan write on diffusion?")
    cited = [c.paper.title for c in answer.citations]
    assert cited and all("Sam Buchanan" in c.paper.authors for c in answer.citations)
    assert all("diffusion" in c.paper.text.lower() for c in answer.citations), cited


def test_papers_from_a_year_are_that_years_papers(engine):
    retrieval = engine.retrieve("papers from 2019")
    of_2019 = [p for p in engine.papers() if p.year == 2019]
    assert retrieval.listing and len(retrieval.hits) == len(of_2019) == 1  # the bundled library
    undated = sum(p.year is None for p in engine.papers())
    assert retrieval.notes == [
        f"filtered by year 2019 (1 paper); {undated} papers without a year left out "
        "(include undated papers to search them too)"
    ]


def test_a_listing_of_many_papers_stops_at_its_limit_and_says_so(engine, monkeypatch):
    import rag.engine

    monkeypatch.setattr(rag.engine, "LISTING_MAX", 10)  # the library has ~35 per author
    retrieval = engine.retrieve("papers by Yaodong Yu")
    assert retrieval.listing and len(retrieval.hits) == 10
    years = [h.paper.year or 0 for h in retrieval.hits]
    assert years == sorted(years, reverse=True)
    assert any("listing the 10 newest of" in n for n in retrieval.notes), retrieval.notes


def test_answer_stays_within_budget(engine):
    answer = engine.ask("What do the papers say about adversarial robustness of neural networks?")
    assert len(answer.text.split()) <= 140


def test_follow_up_is_answered_about_the_previous_paper(engine):
    first = engine.ask(
        "Which method crafts universal adversarial perturbations without any training data?"
    )
    turn = Turn(
        first.question,
        first.text,
        tuple(c.paper.paper_id for c in first.citations),
        tuple(c.paper.title for c in first.citations),
    )
    follow = engine.ask("What does it use instead of data?", history=[turn])
    assert follow.standalone_question and follow.standalone_question != follow.question
    assert follow.hits[0].paper.paper_id in turn.paper_ids


def test_unreachable_llm_falls_back_to_extractive(engine):
    from rag.config import Config
    from rag.engine import Engine

    down = Engine(
        engine.config.replace(
            llm="openai", llm_base_url="http://127.0.0.1:9/v1", llm_model="m", llm_timeout=2.0
        ),
        embedder=engine.embedder,
    )
    answer = down.ask(
        "Which method crafts universal adversarial perturbations without any training data?"
    )
    assert answer.backend == "extractive (fallback from openai)"
    assert any("127.0.0.1:9" in w for w in answer.warnings)
    assert answer.citations and not answer.refused
    assert isinstance(down.config, Config)


# ------------------------------------------------- answers that answer (issue 16)
def test_a_quantity_the_abstract_lacks_is_said_to_be_missing(answerer):
    """Nearby sentences about the thing asked of are no answer to "how many"."""
    text = answerer.answer("How many parameters does ZetaLM-3 have?", hits(CARD, SAM))
    assert text.startswith(CANNOT_ANSWER), text
    assert "The abstract of [1] does not give the number of parameters." in text
    assert answerer.decision.reason.startswith("the abstract does not give")


def test_a_quantity_is_quoted_from_the_paper_that_names_the_thing(answerer):
    text = answerer.answer("How many parameters does ZetaLM-3 have?", hits(CARD, SCALED))
    first = split_sentences(text)[0]
    assert "1.8 trillion parameters" in first and first.endswith("[2]."), text


def test_the_answer_leads_with_the_sentence_holding_the_figure(answerer):
    text = answerer.answer("How much faster is generation with the quantization framework?",
                           hits(QUANT))  # fmt: skip
    assert "1.44x" in split_sentences(text)[0], text


def test_a_name_no_retrieved_paper_mentions_is_refused(answerer):
    """SAM is the closest paper, but the question is about something it never names."""
    question = "What perplexity does Zorblax-9 reach on WikiText-103?"
    text = answerer.answer(question, hits(SAM, QUANT))
    assert text.startswith(CANNOT_ANSWER), text
    assert answerer.decision.features["names"] == 1.0
    assert answerer.decision.p_answerable < 0.5


def test_a_name_in_no_paper_of_the_library_counts_against_answering(answerer):
    answerer.answer("How does the Gorgonzola optimizer change sharpness?", hits(SAM))
    assert answerer.decision.features["unknown"] == 1.0
    answerer.answer("How does the Sharpness optimizer change sharpness?", hits(SAM))
    assert answerer.decision.features["unknown"] == 0.0


def test_refusal_follows_the_tuned_threshold(embedder):
    """The decision is the fitted model's: a threshold above this question's
    p(answerable) refuses it, one below answers it."""
    question = "How does sharpness-aware minimization improve generalization?"
    answerer = make_answerer(embedder)
    answerer.answer(question, hits(SAM))
    p = answerer.decision.p_answerable
    strict = make_answerer(embedder, tuning=replace(Tuning(), refuse_below=p + 0.01))
    assert strict.answer(question, hits(SAM)).startswith(CANNOT_ANSWER)
    lenient = make_answerer(embedder, tuning=replace(Tuning(), refuse_below=p - 0.01))
    assert not lenient.answer(question, hits(SAM)).startswith(CANNOT_ANSWER)


def test_papers_the_user_chose_are_answered_from_not_refused(embedder):
    """An author's papers or a follow-up's: what they lack is said, no refusal."""
    strict = make_answerer(embedder, tuning=replace(Tuning(), refuse_below=1.0))
    question = "What do they find about the router?"
    assert strict.answer(question, hits(CARD)).startswith(CANNOT_ANSWER)
    assert "[1]" in strict.answer(question, hits(CARD), chosen=True)


def test_a_follow_up_never_repeats_the_previous_answer(answerer):
    first = answerer.answer("What does ZetaLM-3's router do?", hits(CARD))
    again = answerer.answer("What else does it do?", hits(CARD), said=first, chosen=True)
    said = {s.rstrip(" .") for s in split_sentences(first)}
    assert not said & {s.rstrip(" .") for s in split_sentences(again)}, (first, again)


def test_a_follow_up_asking_for_a_dataset_the_abstract_lacks_says_so(answerer):
    text = answerer.answer("Which dataset did they train on?", hits(CARD), chosen=True)
    assert "The abstract of [1] does not name the dataset." in text, text


# -------------------------------------------- questions about people (issue 16)
@pytest.mark.parametrize(
    "question",
    [
        "What has Sam Buchanan worked on?",
        "What does Sam Buchanan study?",
        "What topics does Sam Buchanan research?",
        "Sam Buchanan",
        "Show me Sam Buchanan's papers",
    ],
)
def test_questions_about_a_person_answer_from_their_papers(engine, question):
    answer = engine.ask(question)
    assert not answer.refused, answer.text
    assert answer.citations and all("Sam Buchanan" in c.paper.authors for c in answer.citations)


@pytest.mark.parametrize(
    "question",
    ["Yaodong Yu's work on federated learning",
     "papers co-authored by Yaodong Yu about federated learning",
     "What has Yaodong Yu published about federated optimization?"],
)  # fmt: skip
def test_a_persons_work_on_a_topic_lists_their_papers_on_it(engine, question):
    answer = engine.ask(question)
    assert not answer.refused, answer.text
    cited = [c.paper for c in answer.citations]
    assert len(cited) >= 2, answer.text  # several of the person's papers, as a list
    assert all("Yaodong Yu" in p.authors for p in cited)
    assert all("federated" in p.text.lower() for p in cited), [p.title for p in cited]


@pytest.mark.parametrize(
    "question",
    ["papers by Sam Buchanon", "What has Sam Buchanon worked on?",
     "What does Sam Buchanon study?", "What is Sam Buchanon researching these days?"],
)  # fmt: skip
def test_a_name_nobody_in_the_library_has_is_said_so_with_the_closest(engine, question):
    # Never a refusal listing unrelated papers, however the person is asked about.
    with pytest.raises(NoMatchError, match=r"no author named Sam Buchanon in the library; "
                                           r"closest: Sam Buchanan"):  # fmt: skip
        engine.ask(question)


def test_a_method_named_in_capitals_that_no_paper_names_is_refused(engine):
    # The words of the name occur in the library, apart ("weight", "averaging"); the
    # name as a whole in no paper.
    answer = engine.ask("How does Stochastic Weight Averaging improve generalization?")
    assert answer.refused, answer.text


def test_a_method_named_in_capitals_is_answered_from_a_paper_that_names_it(engine):
    answer = engine.ask("How does Batch Normalization work?")
    assert not answer.refused and answer.citations, answer.text
    assert "batch normalization" in answer.citations[0].paper.text.lower(), answer.text


@pytest.mark.parametrize(
    "question",
    ["What Is Grokking?", "How Does Sharpness-Aware Minimization Improve Generalization?"],
)
def test_a_question_in_title_case_is_answered_like_any_other(engine, question):
    # Its capitals name no person and no method: it is answered as in sentence case.
    answer = engine.ask(question)
    plain = engine.ask(question[0] + question[1:].lower())
    assert not answer.refused and answer.citations, answer.text
    assert answer.citations[0].paper == plain.citations[0].paper


def test_a_question_that_is_only_a_year_lists_that_years_papers(engine):
    answer = engine.ask("2023")
    of_2023 = {p.paper_id for p in engine.papers() if p.year == 2023}
    assert not answer.refused and of_2023
    assert {h.paper.paper_id for h in answer.hits} == of_2023


def test_a_parameter_count_the_system_card_lacks_is_said_to_be_missing(engine):
    answer = engine.ask("What is the parameter count of GPT-5?")
    assert answer.refused
    assert "does not give the parameter count" in answer.text
    assert [c.paper.title for c in answer.citations] == ["OpenAI GPT-5 System Card"]
    # An absence has no supporting sentence: the paper is cited, nothing is scored.
    assert answer.citations[0].support is None and not answer.warnings, answer.warnings


def test_a_follow_up_answers_from_the_previous_papers_without_repeating(engine):
    first = engine.ask("Which paper introduces white-box transformers via sparse rate reduction?")
    turn = Turn(first.question, first.text, tuple(c.paper.paper_id for c in first.citations),
                tuple(c.paper.title for c in first.citations))  # fmt: skip
    follow = engine.ask("What did they find?", history=[turn])
    assert follow.citations and {c.paper.paper_id for c in follow.citations} <= set(turn.paper_ids)
    said = {s.rstrip(" .") for s in split_sentences(first.text)}
    assert not said & {s.rstrip(" .") for s in split_sentences(follow.text)}


def test_the_refusal_evidence_is_the_retrievers_score_in_every_mode(engine):
    """Hits without second-stage scores (another retrieval mode, or papers handed in)
    are scored by the answerer the way the retriever's second stage scores them, so
    the refusal model reads the same evidence whatever the mode. Only the rank prior
    can differ: the retriever's is the first-stage rank, the answerer's the hits' order."""
    question = "How does sharpness-aware minimization improve generalization?"
    reranked = engine.retrieve(question, top_k=5).hits
    answerer = engine.extractive_answerer()
    given = answerer.second_stage_scores(question, reranked)
    assert given == [h.scores["rerank"] for h in reranked]
    bare = [Hit(paper=h.paper, score=h.score, text=h.text) for h in reranked]
    computed = answerer.second_stage_scores(question, bare)
    prior = dict(answerer.tuning.retrieval.rerank.weights)["prior"]
    assert all(abs(c - g) <= prior for c, g in zip(computed, given, strict=True))
    assert sum(c == pytest.approx(g, abs=1e-6) for c, g in zip(computed, given)) >= 3
    fused = engine.retrieve(question, top_k=5, mode="hybrid").hits
    assert all("rerank" not in h.scores for h in fused)
    assert answerer.second_stage_scores(question, fused)[0] > 0.5
