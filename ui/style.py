"""The app's CSS: source cards, citation links and a layout that works from a
390 px phone to a desktop. A card is highlighted by :target, or by .src-focus when
ui/script.py handles the click on its [n] link. On a desktop the chat and the
sources scroll side by side, each in its own panel; on a phone, or in any window too
narrow for both, they stack and the page is the one scroll area (nested scroll areas
trap a thumb)."""

# Once the chat and sources columns (min widths 300 + 280 px) no longer fit side by side
# they stack: on a phone, and on a wider screen beside the open settings. Then they share
# one scroll area, the page (nested scroll areas trap a thumb and halve what is in view);
# ui/script.py follows a streaming answer down in this layout. Every rule is !important:
# the page's own copy of the container rule is not scoped, so it is less specific.
STACKED = """
@at {
  .chat-layout { flex-direction: column !important; }
  .chat-layout > div { min-width: 0 !important; width: 100% !important; }
  #chatbot { height: auto !important; max-height: none !important; overflow: visible !important; }
  #chatbot .panel-wrap { overflow: visible !important; }
  .src-panel { max-height: none !important; overflow: visible !important; }
  .src-back { padding: 6px 12px !important; }  /* a thumb's size */
}
"""

CSS = """
.app-title h1 { margin: 0 0 2px 0; font-size: 1.45rem; }
.app-title p { margin: 0; color: var(--body-text-color-subdued); font-size: .92rem; }
.hint { color: var(--body-text-color-subdued); font-size: .9rem; }

/* chat */
#chatbot a[href^="#src-"] {
  text-decoration: none; font-weight: 600; font-size: .82em; padding: 0 3px; margin: 0 1px;
  border-radius: 4px; background: var(--color-accent-soft); color: var(--color-accent);
  white-space: nowrap;
}
#chatbot a[href^="#src-"]:hover { text-decoration: underline; }
#chatbot a.src-return { outline: 2px solid #f59e0b; outline-offset: 1px; }  /* back from its card */
#chatbot .message-content { overflow-wrap: anywhere; }
.marker-preview {  /* ui/script.py: a marker's source, on hover or focus */
  position: fixed; z-index: 1000; pointer-events: none; padding: 8px 10px;
  border-radius: 8px; font-size: .85rem; line-height: 1.35;
  background: var(--background-fill-primary); color: var(--body-text-color);
  border: 1px solid var(--border-color-primary); box-shadow: 0 6px 18px rgba(0, 0, 0, .18);
}
.marker-preview .preview-title { font-weight: 600; margin-bottom: 4px; }
.marker-preview .preview-meta { font-size: .8em; color: var(--body-text-color-subdued); margin-bottom: 4px; }
.marker-preview .preview-sentence { font-style: italic; }
.marker-preview .preview-support { margin-top: 4px; font-size: .8em; color: var(--body-text-color-subdued); }
.marker-preview.pinned { pointer-events: auto; }  /* a tap's preview: its button takes taps */
.marker-preview .preview-go {
  margin-top: 8px; padding: 6px 12px; border-radius: 6px; font-weight: 600; cursor: pointer;
  background: var(--color-accent-soft); color: var(--color-accent); border: 1px solid var(--color-accent);
}
/* Gradio puts the chat's scroll-down arrow on its top layer, over the open sidebar
   (a full-screen overlay up to 768 px wide) and the marker preview: keep it in the chat. */
#chatbot .scroll-down-button-container { z-index: 5; }
.answer-meta { font-size: .78em; color: var(--body-text-color-subdued); margin-top: 2px; }
.answer-warnings, .answer-fallback {
  font-size: .84em; color: #7c2d12; background: #fff7ed; border: 1px solid #fdba74;
  border-radius: 6px; padding: 4px 8px; margin: 4px 0;
}
.answer-filters { font-size: .8em; color: var(--body-text-color-subdued); margin: 2px 0; }
.answer-copy { display: none; }
#chatbot button.copied { color: var(--color-accent) !important; }  /* ui/script.py copied */
#library-size p { margin: 0; font-size: .85rem; color: var(--body-text-color-subdued); }
.filter-chips { align-items: center; justify-content: flex-start; gap: 6px; flex-wrap: wrap; }
.filter-chips > * { flex: 0 0 auto !important; width: auto !important; min-width: 0 !important; }
.filter-chips .chips-label { font-size: .85rem; color: var(--body-text-color-subdued); }
.filter-chips button.filter-chip {
  flex: 0 0 auto !important; width: auto !important; border-radius: 999px;
  font-size: .8rem; padding: 1px 10px;
}
.answer-warnings ul { margin: 2px 0 0 0; padding-left: 1.2em; }
/* One selector per .dark rule: Gradio scopes custom CSS by removing the first ".dark"
   of a rule and adding it back in front, so a second ".dark" in a list never matches. */
.dark .answer-warnings { color: #fed7aa; background: #431407; border-color: #9a3412; }
.dark .answer-fallback { color: #fed7aa; background: #431407; border-color: #9a3412; }
/* the notes under an answer are not worth a copy button of their own */
#chatbot .message:has(.answer-meta) + .message-buttons { display: none; }
.ask-row { align-items: stretch; }
.chat-actions { justify-content: flex-start; gap: 8px; }
.chat-actions button { flex: 0 0 auto !important; width: auto !important; }

/* sources panel and cards */
.sources-heading h3 { margin: 0; }
.src-panel { max-height: 72vh; overflow-y: auto; padding: 0 4px 8px 0; overflow-wrap: anywhere; }
.src-turn + .src-turn { border-top: 1px dashed var(--border-color-primary); margin-top: 10px; }
.src-question { font-size: .92rem !important; margin: 8px 0 4px 0 !important; color: var(--body-text-color-subdued); }
.src-sub { font-size: .85rem !important; margin: 10px 0 2px 0 !important; color: var(--body-text-color-subdued); }
.src-card {
  border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 8px 10px;
  margin: 6px 0; background: var(--background-fill-primary); scroll-margin-top: 12px;
  transition: background-color .3s, box-shadow .3s;
}
.src-card.uncited { opacity: .9; border-style: dashed; }
.src-back {  /* ui/script.py: on the focused card, back to the marker followed there */
  float: right; margin: 0 0 4px 8px; padding: 2px 10px; border-radius: 999px; cursor: pointer;
  font-size: .8rem; font-weight: 600; color: var(--color-accent);
  background: var(--background-fill-secondary); border: 1px solid var(--border-color-primary);
}
.src-card:target, .src-card.src-focus { box-shadow: 0 0 0 3px #f59e0b; background: #fffbeb; }
.dark .src-card:target { background: #3b2a08; }  /* one selector each: see .answer-warnings */
.dark .src-card.src-focus { background: #3b2a08; }
.src-snippet.src-focus mark { outline: 2px solid #f59e0b; }
.src-head { font-weight: 600; line-height: 1.3; }
.src-n { color: var(--color-accent); margin-right: 2px; }
.src-title { color: inherit; }
a.src-title { text-decoration: none; }
a.src-title:hover { text-decoration: underline; }
.src-meta { font-size: .8rem; color: var(--body-text-color-subdued); margin: 2px 0; }
.src-support {
  display: inline-block; font-size: .72rem; padding: 0 7px; border-radius: 9px;
  background: #dcfce7; color: #166534;
}
.src-support.weak { background: #fee2e2; color: #991b1b; }
.src-support.unscored { background: var(--background-fill-secondary); color: var(--body-text-color-subdued); }
.src-snippet {
  margin: 6px 0 4px 0 !important; padding: 2px 0 2px 8px !important;
  border-left: 3px solid #f59e0b !important; font-size: .86rem; line-height: 1.4;
}
.src-panel mark, .paper-detail mark { background: #fde68a; color: inherit; padding: 0 1px; border-radius: 2px; }
.dark .src-panel mark { background: #854d0e; }
.src-card details summary { cursor: pointer; font-size: .8rem; color: var(--color-accent); }
.src-abstract { font-size: .85rem; line-height: 1.45; margin: 4px 0 0 0; }
.src-empty { color: var(--body-text-color-subdued); font-size: .9rem; }

/* library: tables in the text font, not monospace */
#library-table *, #ingest-results *, #eval-metrics *, #eval-rows * { font-family: var(--font) !important; }
#library-table [role=gridcell], #ingest-results [role=gridcell], #eval-rows [role=gridcell] { font-size: .86rem; }
/* headers wrap between words, never inside one ("Categor y") */
#library-table th .header { overflow-wrap: normal !important; word-break: normal !important; hyphens: none; }
/* the hash-named Source file and Id columns (5th and 6th of ui/library.py's COLUMNS):
   one line cut with an ellipsis; ui/library_script.py gives the full value as a title */
#library-table [role=gridcell]:is([data-col="4"], [data-col="5"]) .cell-wrap > span {
  display: block; flex: 1 1 auto; min-width: 0;
  white-space: nowrap !important; overflow: hidden; text-overflow: ellipsis;
}
#library-status .html-container { padding: 0 !important; }  /* in line with the hint */
#remove-paper { max-width: 200px; }
.library-head { align-items: center; }
.paper-detail h3 { font-size: 1.05rem; margin: 0 0 6px 0; }
.paper-meta { font-size: .85rem; border-collapse: collapse; margin: 0 0 8px 0 !important; width: auto !important; }
.paper-meta, .paper-meta tr, .paper-meta th, .paper-meta td { border: none !important; background: none !important; }
.paper-meta th { text-align: left; padding: 1px 10px 1px 0; color: var(--body-text-color-subdued); font-weight: 500; vertical-align: top; }
.paper-meta td { padding: 1px 0; overflow-wrap: anywhere; }

/* phones: tighter margins and title */
@media (max-width: 700px) {
  .gradio-container { padding: 4px !important; }
  .app-title h1 { font-size: 1.15rem; }
  .app-title { padding-left: 26px; }  /* clear of the settings toggle */
}
/* the chat layout's parent reports its width, for STACKED_CONTAINER_CSS */
:has(> .chat-layout) { container-type: inline-size; }
""" + STACKED.replace("@at", "@media (max-width: 700px)")

# Gradio's CSS scoping drops @container rules, so ui/script.py adds this one to the page
# itself: the same stacked layout wherever the columns would wrap, on any screen.
STACKED_CONTAINER_CSS = STACKED.replace("@at", "@container (max-width: 620px)")
