"""The answer settings beside the chat: backend, top-k and metadata filters.

The widgets live in the sidebar and their values are per browser session (Gradio
keeps component values per session). The chat and the eval tab read the same
widgets, so an eval runs with the settings the user is chatting with.

    >>> to_filters("Yaodong Yu; Yi Ma", 2020, None, ["LG"])
    Filters(authors=('Yaodong Yu', 'Yi Ma'), since=2020, until=None, categories=('LG',), include_undated=False)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import gradio as gr

from rag.config import Config
from rag.filters import check
from rag.types import Filters

EXTRACTIVE = "extractive"
URL_BACKENDS = ("openai", "ollama")  # backends that talk to config.llm_base_url
MAX_TOP_K = 20
ANY_YEAR = "any"


def backend_choices(config: Config) -> list[str]:
    """Extractive always; the configured LLM; the URL backends when a URL is set.

    >>> backend_choices(Config(llm="llamacpp", llm_base_url="http://127.0.0.1:8080/v1"))
    ['extractive', 'llamacpp', 'openai', 'ollama']
    """
    choices = [EXTRACTIVE]
    if config.llm != EXTRACTIVE:
        choices.append(config.llm)
    if config.llm_base_url:
        choices.extend(b for b in URL_BACKENDS if b not in choices)
    return choices


def split_authors(text: str | None) -> tuple[str, ...]:
    """Author names separated by ";" or new lines (commas may sit inside "Last, First").

    >>> split_authors(" Yaodong Yu ;\\nYi Ma ")
    ('Yaodong Yu', 'Yi Ma')
    """
    return tuple(n.strip() for n in re.split(r"[;\n]", text or "") if n.strip())


def _year(value: float | int | str | None) -> int | None:
    """A year bound from a widget value; empty or "any" means no bound.

    >>> _year("2021"), _year("any"), _year(None), _year(2020.0)
    (2021, None, None, 2020)
    """
    if value in (None, "", ANY_YEAR):
        return None
    return int(float(value))


def to_filters(
    authors: str | None,
    since: float | int | str | None,
    until: float | int | str | None,
    categories: Sequence[str] | None,
    include_undated: bool = False,
) -> Filters:
    """Widget values -> Filters; an inverted year range raises InputError."""
    filters = Filters(
        authors=split_authors(authors),
        since=_year(since),
        until=_year(until),
        categories=tuple(categories or ()),
        include_undated=bool(include_undated),
    )
    check(filters)
    return filters


@dataclass
class SettingsWidgets:
    backend: gr.Dropdown
    top_k: gr.Slider
    authors: gr.Textbox
    since: gr.Dropdown
    until: gr.Dropdown
    categories: gr.Dropdown
    include_undated: gr.Checkbox
    show_uncited: gr.Checkbox

    @property
    def answer_inputs(self) -> list[gr.components.Component]:
        """The inputs every answering handler takes, in the order of `read`."""
        return [
            self.backend,
            self.top_k,
            self.authors,
            self.since,
            self.until,
            self.categories,
            self.include_undated,
        ]


def read(
    backend: str | None,
    top_k: float | None,
    authors: str | None,
    since: str | None,
    until: str | None,
    categories: Sequence[str] | None,
    include_undated: bool | None = False,
) -> dict:
    """The ask_stream / run_eval keyword arguments for the widget values."""
    return {
        "llm": backend or EXTRACTIVE,
        "top_k": int(top_k) if top_k else None,
        "filters": to_filters(authors, since, until, categories, bool(include_undated)),
    }


def build(config: Config, categories: Sequence[str], years: Sequence[int]) -> SettingsWidgets:
    """The settings widgets, in the current layout context."""
    gr.Markdown("### Answer settings")
    choices = backend_choices(config)
    backend = gr.Dropdown(
        choices,
        value=config.llm if config.llm in choices else EXTRACTIVE,
        label="Backend",
        info="extractive quotes abstracts; an LLM writes prose",
    )
    top_k = gr.Slider(1, MAX_TOP_K, value=config.top_k, step=1, label="Top-k papers")
    gr.Markdown("**Filters**")
    authors = gr.Textbox(label="Authors", value="", placeholder="e.g. Yaodong Yu; Yi Ma", lines=1)
    years_shown = year_choices(years)
    with gr.Row(elem_classes="year-row"):
        since = gr.Dropdown(
            years_shown, value=ANY_YEAR, label="From year", min_width=100, elem_id="since-year"
        )
        until = gr.Dropdown(
            years_shown, value=ANY_YEAR, label="To year", min_width=100, elem_id="until-year"
        )
    include_undated = gr.Checkbox(
        label="Include papers with no year",
        value=False,
        elem_id="include-undated",
        info="a year filter otherwise leaves them out (the answer says how many)",
    )
    category = gr.Dropdown(
        sorted(categories), multiselect=True, label="Categories", value=[], elem_id="categories"
    )
    show_uncited = gr.Checkbox(label="Show retrieved papers that were not cited", value=False)
    return SettingsWidgets(
        backend, top_k, authors, since, until, category, include_undated, show_uncited
    )


def year_choices(years: Sequence[int]) -> list[str]:
    """The year dropdowns' choices: "any", then each year in the library.

    >>> year_choices([2021, 2019, 2021])
    ['any', '2019', '2021']
    """
    return [ANY_YEAR, *(str(y) for y in sorted(set(years)))]


def filter_choices(categories: Sequence[str], years: Sequence[int]) -> tuple[dict, dict, dict]:
    """Updates for the since, until and category dropdowns after the library changed
    (an upload can bring new years and categories; a removal can take them away)."""
    shown = year_choices(years)
    return (
        gr.update(choices=shown),
        gr.update(choices=shown),
        gr.update(choices=sorted(set(categories))),
    )
