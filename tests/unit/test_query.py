"""Question analysis (rag/query.py) beyond its doctests: which questions lean on an
earlier turn."""

from __future__ import annotations

import pytest

from rag.query import refers_back


@pytest.mark.parametrize(
    "question",
    [
        "What dataset did it use?",
        "Who are the authors?",
        "How does this paper compare to CROWN-IBP?",
        "Is that method faster?",
        "What were their results on CIFAR-10?",
        "what about ImageNet?",
        "And the memory savings?",
        "Why is that?",
        "Does the same approach work for transformers?",
    ],
)
def test_refers_back(question):
    assert refers_back(question)


@pytest.mark.parametrize(
    "question",
    [
        "Which papers study certified robustness?",
        "What is interval bound propagation?",
        "How much memory does Q-VLM save?",
        "What about the history of adversarial training in computer vision since 2014?",
        "Summarise the safety papers from 2025.",
    ],
)
def test_standalone_questions_do_not_refer_back(question):
    assert not refers_back(question)
