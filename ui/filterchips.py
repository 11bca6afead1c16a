"""The sidebar's active filters as chips above the chat, each removed with one click.

Filters narrow every answer until they are removed, so they stay in sight next to
the chat rather than only in the (often closed) sidebar; an answer's own note of
what its filters matched is a plain line under it, not a citation warning.

    >>> labels("Yaodong Yu; Yi Ma", "2020", "any", [])
    {'authors': 'author: Yaodong Yu, Yi Ma ✕', 'since': 'from 2020 ✕', 'until': None, 'categories': None}
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import gradio as gr

from . import settings as settings_ui

NAMES = ("authors", "since", "until", "categories")
REMOVE = " ✕"


@dataclass
class FilterChips:
    row: gr.Row
    buttons: dict[str, gr.Button]


def labels(
    authors: str | None,
    since: str | None,
    until: str | None,
    categories: Sequence[str] | None,
) -> dict[str, str | None]:
    """Each filter's chip label, or None when the filter is off."""
    names = settings_ui.split_authors(authors)
    years = [_bound(since), _bound(until)]
    return {
        "authors": f"author: {', '.join(names)}{REMOVE}" if names else None,
        "since": f"from {years[0]}{REMOVE}" if years[0] else None,
        "until": f"to {years[1]}{REMOVE}" if years[1] else None,
        "categories": f"category: {', '.join(categories)}{REMOVE}" if categories else None,
    }


def _bound(value: str | None) -> str | None:
    return None if value in (None, "", settings_ui.ANY_YEAR) else str(value)


def build() -> FilterChips:
    """The (hidden while no filter is on) row of chips, in the current layout context."""
    with gr.Row(visible=False, elem_id="filter-chips", elem_classes="filter-chips") as row:
        gr.HTML('<span class="chips-label">Filters:</span>', container=False)
        buttons = {
            name: gr.Button(
                "",
                size="sm",
                visible=False,
                min_width=0,
                elem_id=f"chip-{name}",
                elem_classes="filter-chip",
            )
            for name in NAMES
        }
    return FilterChips(row, buttons)


def wire(chips: FilterChips, settings: settings_ui.SettingsWidgets) -> None:
    """Chips follow the filter widgets; a chip's click switches its filter off."""
    widgets = {
        "authors": settings.authors,
        "since": settings.since,
        "until": settings.until,
        "categories": settings.categories,
    }
    off: dict[str, object] = {
        "authors": "",
        "since": settings_ui.ANY_YEAR,
        "until": settings_ui.ANY_YEAR,
        "categories": [],
    }

    def show(authors, since, until, categories):
        shown = labels(authors, since, until, categories)
        return [
            gr.Row(visible=any(shown.values())),
            *(gr.Button(value=label or "", visible=bool(label)) for label in shown.values()),
        ]

    inputs = list(widgets.values())
    outputs = [chips.row, *chips.buttons.values()]
    for widget in inputs:
        widget.change(show, inputs, outputs, api_visibility="private", queue=False)
    for name, button in chips.buttons.items():
        button.click(
            _constant(off[name]),
            None,
            widgets[name],
            api_visibility="private",
            queue=False,
        )


def _constant(value: object):
    """A handler that sets its output to `value`."""
    return lambda: value
