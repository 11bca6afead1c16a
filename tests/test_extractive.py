"""The extractive answerer on literal papers with the real embedding model, and the
engine's answer path (follow-ups, LLM failure fallback) on the real library."""

from __future__ import annotations

import re

import pytest

from rag.answer.extractive import (
    ExtractiveAnswerer,
    Scored,
    lead_paper,
    mentions,
    requested_count,
    role_prior,
    specific_names,
    unanswerable_reason,
)
from rag.answer.followup import Turn
from rag.answer.prompts import CANNOT_ANSWER
from rag.glossary import Glossary
from rag.sentences import split_sentences
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


@pytest.fixture(scope="module")
def answerer(embedder):
    def lookup(ids):
        papers = {p.paper_id: p for p in (SAM, QUANT)}
        out = {}
        for pid in ids:
            texts = [papers[pid].title, *split_sentences(papers[pid].abstract)]
            out[pid] = (texts, embedder.embed(texts))
        return out

    return ExtractiveAnswerer(embedder.embed_one, lookup)


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


def test_named_thing_no_paper_mentions_means_refusal():
    assert specific_names("What FID does BigGAN reach on LSUN?") == ["FID", "BigGAN", "LSUN"]
    assert unanswerable_reason("What accuracy on LSUN?", hits(SAM), [["SAM improves accuracy."]])
    assert (
        unanswerable_reason("What does SAM improve?", hits(SAM), [["SAM improves accuracy."]])
        is None
    )
    assert unanswerable_reason("How much faster is it?", hits(QUANT), [["It is fast."]]) is not None


def test_findings_are_preferred_over_opening_background():
    finding = Scored(0, "We show that SAM improves accuracy by 1.2 points.", 0.5, 3)
    background = Scored(0, "Deep networks often generalize poorly.", 0.5, 1)
    own_opening = Scored(0, "In this paper, we study generalization.", 0.5, 1)
    neutral = Scored(0, "The loss is minimized over a neighborhood.", 0.5, 2)
    assert role_prior(finding) > role_prior(neutral) > role_prior(background)
    assert role_prior(own_opening) == role_prior(neutral) == 0.0


def test_lead_paper_is_the_most_relevant_overall_not_by_one_sentence():
    """A paper about something else can hold the one sentence closest to the
    question's wording; the retrieval score, which weighs the whole paper, leads."""

    def scored(*scores):
        return [Hit(SAM, s, "") for s in scores]

    assert lead_paper(scored(0.60, 0.53), [0.56, 0.66]) == 0
    # A much better sentence still wins when the retrieval scores are close.
    assert lead_paper(scored(0.60, 0.58), [0.40, 0.66]) == 1
    # Relative to the top, so a retrieval mode's scale (BM25's is unbounded) does not matter.
    assert lead_paper(scored(6.0, 5.3), [0.56, 0.66]) == 0
    assert lead_paper(scored(6.0, 5.8), [0.40, 0.66]) == 1


def test_a_quantity_question_needs_a_figure_of_the_kind_asked_for():
    speed = "How much does the method speed up inference?"
    assert unanswerable_reason(speed, hits(QUANT), [["It runs 1.44x faster."]]) is None
    assert unanswerable_reason(speed, hits(QUANT), [["We test 14 models."]]) is not None
    size = "How many parameters does the model have?"
    assert unanswerable_reason(size, hits(QUANT), [["A model with 13B parameters."]]) is None
    assert unanswerable_reason(size, hits(QUANT), [["It uses 2 layers."]]) is not None
    # Other quantities take any figure.
    assert unanswerable_reason("How long is the warmup?", hits(QUANT), [["2 epochs."]]) is None


def test_the_figure_must_come_from_a_paper_that_names_what_is_asked():
    card = Paper.create("The GPT-5 System Card", "GPT-5 is a unified system with a router.")
    other = Paper.create(
        "Scaling GPT Models", "We train GPT models from 14 million to 2.8 billion parameters."
    )
    question = "How many parameters does GPT-5 have?"
    quoted = [[card.abstract], [other.abstract]]
    assert unanswerable_reason(question, hits(card, other), quoted) is not None
    named = Paper.create("GPT-5 at Scale", "GPT-5 has 1.8 trillion parameters.")
    assert (
        unanswerable_reason(question, hits(named, other), [[named.abstract], [other.abstract]])
        is None
    )


def test_a_numbered_version_is_part_of_the_name():
    assert specific_names("How many tokens was GPT-5 trained on?") == ["GPT-5"]
    assert mentions("We evaluate GPT 5 and GPT-4.", "GPT-5")
    assert not mentions("We study GPT models such as GPT-2.", "GPT-5")
    assert unanswerable_reason("What does GPT-5 improve?", hits(SAM), [["GPT-2 improves."]])


def test_acronyms_match_their_spelled_out_form():
    assert mentions("We study Large Language Models at scale.", "LLM")
    assert mentions("Generative adversarial networks (GANs) ...", "GAN")
    assert not mentions("We study language models.", "LLM")
    assert not mentions("A model named TabPF.", "TabPFN")  # only acronyms are spelled out


def test_a_name_only_an_unquoted_paper_mentions_means_refusal(answerer):
    """SAM answers best, but only QUANT (not quoted) is about VLMs: the answer would
    quote a paper that is not about the thing asked for."""
    question = "How does sharpness-aware minimization change the training of VLMs?"
    text = answerer.answer(question, hits(SAM, QUANT))
    assert text.startswith(CANNOT_ANSWER), text
    assert not answerer.answer(
        "How does sharpness-aware minimization change training?", hits(SAM, QUANT)
    ).startswith(CANNOT_ANSWER)


def test_a_name_the_library_abbreviates_counts_when_spelled_out():
    """'RLHF' in a question is a name the quoted paper must mention; spelled out,
    it is one too, because the library defines it. Either form satisfies it."""
    glossary = Glossary(["Reinforcement learning from human feedback (RLHF) aligns models."])
    rlhf = Paper.create("Aligned chat models", "We fine-tune a chat model with RLHF.")
    sam = [["SAM improves accuracy."]]
    spelled = "How does reinforcement learning from human feedback change SAM?"
    assert unanswerable_reason(spelled, hits(SAM), sam) is None  # no glossary: not a name
    assert unanswerable_reason(spelled, hits(SAM), sam, glossary)  # SAM never says RLHF
    assert unanswerable_reason("How does RLHF change SAM?", hits(SAM), sam, glossary)
    quoted = [["We fine-tune a chat model with RLHF."], *sam]
    assert unanswerable_reason(spelled, hits(rlhf, SAM), quoted, glossary) is None
    spelled_paper = Paper.create("Tuning", "Reinforcement learning from human feedback helps SAM.")
    assert unanswerable_reason("Does RLHF help SAM?", hits(spelled_paper), sam, glossary) is None


def test_list_question_gives_one_line_per_paper(answerer):
    text = answerer.answer(
        "Which papers propose sharpness-aware minimization or post-training quantization?",
        [Hit(SAM, 1.0, ""), Hit(QUANT, 0.95, "")],
        list_question=True,
    )
    lines = text.splitlines()
    assert len(lines) == 2 and all(line.startswith("- ") for line in lines)


def test_a_list_member_that_names_the_topic_is_cited_whatever_its_score(answerer):
    question = "Which papers study sharpness-aware minimization or post-training quantization?"
    low = [Hit(SAM, 1.0, ""), Hit(QUANT, 0.5, "")]
    assert "[2]" not in answerer.answer(question, low, list_question=True)
    named = [Hit(SAM, 1.0, ""), Hit(QUANT, 0.5, "", scores={"topic": 1.0})]
    text = answerer.answer(question, named, list_question=True)
    assert "[1]" in text and "[2]" in text and len(text.splitlines()) == 2, text


def test_a_paper_naming_the_topic_answers_a_list_question_below_the_threshold(
    answerer, monkeypatch
):
    # A short topic ("diffusion") can be far from every sentence's vector; a threshold
    # above this question's best sentence stands in for that.
    question = "papers on post-training quantization"
    plain = [Hit(SAM, 1.0, ""), Hit(QUANT, 0.9, "")]
    best = max(s.score for r in answerer.best_sentences(question, plain) for s in r)
    monkeypatch.setattr(answerer, "refuse_below", best + 0.05)
    assert answerer.answer(question, plain, list_question=True).startswith(CANNOT_ANSWER)
    named = [Hit(SAM, 1.0, ""), Hit(QUANT, 0.9, "", scores={"topic": 1.0})]
    text = answerer.answer(question, named, list_question=True)
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
    text = answerer.answer(question, [Hit(SAM, 1.0, ""), Hit(QUANT, 0.5, "")], list_question=True)
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
    assert retrieval.notes == ["filtered by year 2019 (1 paper)"]


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
