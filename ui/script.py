"""The app's one script, run once on page load (launch(js=...)).

Citation links. A [n] marker is a link to "#src-<turn>-<n>-<k>", the sentence that
supports its claim in the source card. Gradio pages carry <base href="./">, so
the browser resolves a bare fragment against the base URL, not the page's: on
"/?__theme=dark" a plain fragment link loads "/" and wipes the chat. The script
handles those clicks instead: it scrolls the card into view, marks the card and
the sentence with .src-focus, and writes the fragment into the address bar
without loading anything.

Back to answer. The focused card gets a "Back to answer" button that scrolls back
to the marker the reader followed and focuses it: on a phone the cards sit below
the chat, a long way down.

Hover preview. Pointing at a marker (or focusing it with the keyboard) shows a
small card over the chat: the paper's number and title, its authors and year,
the sentence that supports the marker's claim, and its support score, read from
the source card the marker links to (text only, so nothing in an abstract can become markup).
It goes on leaving the marker, scrolling, or Escape.

Tap preview. A touch screen has no hover, so there the first tap on a marker shows
the preview, held open, with a "Go to source" button; a second tap on the same
marker goes to the card too, a tap anywhere else closes it. The kind of pointer is
the latest pointer event's (a laptop with a touch screen has both), else
matchMedia('(hover: none)'). A mouse click, or Enter on a marker, goes at once.

Following the answer. Where the chat and sources stack (a phone, or a narrow window
beside the open settings) the page is the only scroll area, so the chatbot's own
scrolling cannot keep a streaming answer in view; from each question (Ask, Enter, an
example) the page follows the last message down, until the reader scrolls up. The
stacked layout's container rule is added to the page here (style.py says why).

Marker names. A marker reads "[1]" on screen; screen readers get
"Source 1: <paper title>" (aria-label, kept current as the chat and cards change).
Gradio's own footer buttons, accordion and slider reset get plain names too.

Copy. The chatbot's copy buttons would copy the messages' internal markup (the
marker links, the notes' HTML). Each answer's notes carry the answer as plain
text with its references (ui/copytext.py) in a hidden element; the copy buttons
put that on the clipboard instead, and "copy all" the whole conversation so.
"""

from __future__ import annotations

import json

from . import style

JS = r"""
() => {
  if (window.ragScriptLoaded) return;  // once per page, however often load fires
  window.ragScriptLoaded = true;
  const stacked = document.createElement('style');  // style.py's STACKED_CONTAINER_CSS
  stacked.textContent = __STACKED_CSS__;
  document.head.append(stacked);
  const MARKERS = '#chatbot a[href^="#src-"]';
  // What a marker points at: the sentence in its card, or the card.
  const targetOf = (link) => document.getElementById(decodeURIComponent(link.getAttribute('href').slice(1)));
  const cardOf = (target) => (target ? target.closest('.src-card') || target : null);

  // The focused card's way back to the marker the reader followed there.
  const back = document.createElement('button');
  back.type = 'button';
  back.className = 'src-back';
  const arrow = document.createElement('span');
  arrow.setAttribute('aria-hidden', 'true');
  arrow.textContent = '\u2191 ';
  back.append(arrow, 'Back to answer');
  // Where the chat and sources stack (a phone; a narrow window beside the settings), the
  // page is the one scroll area (style.py), so the chatbot's own scrolling no longer
  // keeps a growing answer in view. The page follows the last message down from a
  // question until the reader scrolls up.
  const pageScrolls = () => {
    const panel = document.querySelector('#chatbot .panel-wrap');
    return panel !== null && getComputedStyle(panel).overflowY === 'visible';
  };
  let following = false;
  let lastY = window.scrollY;
  let queued = false;
  const followAnswer = () => {
    queued = false;
    const rows = document.querySelectorAll('#chatbot .message-row');
    const last = rows[rows.length - 1];
    if (!following || !last || !pageScrolls()) return;
    const below = last.getBoundingClientRect().bottom - window.innerHeight + 12;
    if (below > 1) window.scrollBy(0, below);
  };
  window.addEventListener('scroll', () => {
    if (window.scrollY < lastY - 4) following = false;  // up: the reader is reading
    lastY = window.scrollY;
  }, { passive: true });
  const asking = (event) => {
    const target = event.target;
    if (event.type === 'click') return Boolean(target.closest('#ask, #chatbot .examples'));
    return event.key === 'Enter' && !event.shiftKey && Boolean(target.closest('#question'));
  };
  for (const kind of ['click', 'keydown']) {
    document.addEventListener(kind, (event) => {
      if (event.target instanceof Element && asking(event)) following = true;
    }, true);
  }
  new MutationObserver((records) => {
    if (queued || !following) return;
    const inChat = (node) => (node instanceof Element ? node : node.parentElement)?.closest('#chatbot');
    if (!records.some((record) => inChat(record.target))) return;
    queued = true;
    requestAnimationFrame(followAnswer);
  }).observe(document.body, { childList: true, subtree: true, characterData: true });

  let cameFrom = null;  // {link, href, index}: the marker, and how to find it re-rendered
  let quiet = false;  // focusing the marker on the way back: no preview of what was just seen

  const focusSource = (link) => {
    const target = targetOf(link);
    const card = cardOf(target);
    if (!card) return false;
    document.querySelectorAll('.src-focus').forEach((el) => el.classList.remove('src-focus'));
    card.classList.add('src-focus');
    target.classList.add('src-focus');
    const href = link.getAttribute('href');
    const index = [...document.querySelectorAll(MARKERS)].indexOf(link);
    cameFrom = { link, href, index };
    if (target === card) card.prepend(back);
    else target.before(back);  // by the sentence in view: a tall card's top may not be
    card.scrollIntoView({ block: 'start' });
    if (target !== card) target.scrollIntoView({ block: 'nearest' });  // a tall card
    history.replaceState(history.state, '', location.pathname + location.search + href);
    return true;
  };
  const returnToMarker = () => {
    if (!cameFrom) return;
    let { link } = cameFrom;
    if (!link.isConnected) {  // the chat was rendered again: the same place in it
      const found = document.querySelectorAll(MARKERS)[cameFrom.index];
      if (!found || found.getAttribute('href') !== cameFrom.href) return;
      link = found;
    }
    link.scrollIntoView({ block: 'center' });
    quiet = true;
    link.focus({ preventScroll: true });
    quiet = false;
    link.classList.add('src-return');  // where the reader was, until they go on
  };
  document.addEventListener('focusout', (event) => {
    if (event.target instanceof Element) event.target.classList.remove('src-return');
  });

  // "Source 1: <title>" for each marker, from its card's title (without the link's arrow).
  const nameMarkers = () => {
    for (const link of document.querySelectorAll(MARKERS)) {
      const title = cardOf(targetOf(link))?.querySelector('.src-title');
      const n = link.textContent.replace(/[^0-9]/g, '');
      const name = title ? title.textContent.replace(/\s*\u2197\s*$/, '').trim() : '';
      const label = name ? `Source ${n}: ${name}` : `Source ${n}`;
      if (link.getAttribute('aria-label') !== label) link.setAttribute('aria-label', label);
    }
  };
  // Gradio's own controls in plain words: the footer's images and the accordion's
  // arrow are decoration (they read "Settings Settings", "Use via API logo", "Answer
  // as JSON ▼"), and a slider's reset button names its slider.
  const nameControls = () => {
    for (const img of document.querySelectorAll('button.show-api img, button.settings img')) {
      if (img.getAttribute('alt') !== '') img.setAttribute('alt', '');
    }
    for (const icon of document.querySelectorAll('button.label-wrap .icon')) {
      if (icon.getAttribute('aria-hidden') !== 'true') icon.setAttribute('aria-hidden', 'true');
    }
    for (const reset of document.querySelectorAll('button.reset-button')) {
      const info = reset.closest('.block')?.querySelector('[data-testid="block-info"]');
      const name = info ? `Reset ${info.textContent.trim()} to its default` : 'Reset to the default';
      if (reset.getAttribute('aria-label') !== name) reset.setAttribute('aria-label', name);
    }
  };
  let naming = 0;
  new MutationObserver(() => {
    if (!naming) naming = requestAnimationFrame(() => { naming = 0; nameMarkers(); nameControls(); });
  }).observe(document.body, { childList: true, subtree: true, characterData: true });
  nameMarkers();
  nameControls();

  // The plain text of one message group: an answer's copy text, else what it shows.
  const plainText = (group) => {
    const copy = group.querySelector('.answer-copy');
    if (copy) return copy.textContent.trim();
    const shown = group.querySelector('.message-content') || group;
    return shown.innerText.trim();
  };
  const writeClipboard = (text, button) => {
    navigator.clipboard.writeText(text).then(() => {
      button.classList.add('copied');
      setTimeout(() => button.classList.remove('copied'), 1500);
    });
  };

  const preview = document.createElement('div');
  preview.id = 'marker-preview';
  preview.className = 'marker-preview';
  preview.setAttribute('role', 'tooltip');
  preview.hidden = true;
  document.body.appendChild(preview);
  const go = document.createElement('button');
  go.type = 'button';
  go.className = 'preview-go';
  go.textContent = 'Go to source';
  let pinned = null;  // the marker whose preview a tap holds open
  const hidePreview = () => {
    preview.hidden = true;
    pinned = null;
  };
  // pin: held open by a tap, with a button to the source, until a tap elsewhere.
  const showPreview = (link, pin = false) => {
    const target = targetOf(link);
    const card = cardOf(target);
    if (!card) return;
    const title = card.querySelector('.src-title');
    const mark = target.querySelector('mark') || card.querySelector('mark');
    const facts = card.querySelector('.src-facts');
    const support = target.closest('.src-card') && card.querySelector('.src-support');
    const line = (cls, text) => {
      const el = document.createElement('div');
      el.className = cls;
      el.textContent = text;
      return el;
    };
    preview.replaceChildren(
      line('preview-title', `${link.textContent.trim()} ${title ? title.textContent.trim() : ''}`),
      ...(facts && facts.textContent.trim() ? [line('preview-meta', facts.textContent.trim())] : []),
      ...(mark ? [line('preview-sentence', `\u201c${mark.textContent.trim()}\u201d`)] : []),
      ...(support ? [line('preview-support', support.textContent.trim())] : []),
      ...(pin ? [go] : []),
    );
    pinned = pin ? link : null;
    preview.classList.toggle('pinned', pin);
    preview.setAttribute('role', pin ? 'dialog' : 'tooltip');
    if (pin) preview.setAttribute('aria-label', 'Source preview');
    else preview.removeAttribute('aria-label');
    preview.hidden = false;
    const box = link.getBoundingClientRect();
    const width = Math.min(420, window.innerWidth - 16);
    preview.style.maxWidth = `${width}px`;
    preview.style.left = `${Math.max(8, Math.min(box.left, window.innerWidth - width - 8))}px`;
    const below = box.bottom + 6;
    const height = preview.offsetHeight;
    preview.style.top = `${below + height > window.innerHeight ? Math.max(8, box.top - height - 6) : below}px`;
  };
  const markerOf = (event) =>
    event.target instanceof Element ? event.target.closest(MARKERS) : null;

  const noHover = window.matchMedia('(hover: none)');
  let pointer = '';  // the latest pointer's kind: "mouse", "touch" or "pen"
  for (const type of ['pointerdown', 'pointermove']) {
    document.addEventListener(type, (event) => { pointer = event.pointerType; }, true);
  }
  const touch = () => pointer === 'touch' || (!pointer && noHover.matches);
  // A tap's click; a click from the keyboard (Enter) has detail 0 and goes at once.
  const tapped = (event) => event.detail > 0 && touch();

  // A tap also sends the mouse events it stands for: no hover preview from those.
  document.addEventListener('mouseover', (event) => {
    const link = markerOf(event);
    if (link && !pinned && !touch()) showPreview(link);
  });
  document.addEventListener('mouseout', (event) => {
    if (markerOf(event) && !pinned) hidePreview();
  });
  document.addEventListener('focusin', (event) => {
    const link = markerOf(event);
    if (link) {
      if (!pinned && !quiet) showPreview(link);
    } else if (!preview.contains(event.target)) {
      hidePreview();
    }
  });
  document.addEventListener('pointerdown', (event) => {  // a tap elsewhere closes it
    if (pinned && !preview.contains(event.target) && !markerOf(event)) hidePreview();
  }, true);
  document.addEventListener('keydown', (event) => { if (event.key === 'Escape') hidePreview(); });
  document.addEventListener('scroll', hidePreview, true);

  document.addEventListener('click', (event) => {
    const origin = event.target instanceof Element ? event.target : null;
    if (!origin) return;
    const link = origin.closest('a[href^="#src-"]');
    if (link) {
      event.preventDefault();
      if (link.closest('#chatbot') && tapped(event) && pinned !== link) {
        showPreview(link, true);  // the first tap previews; the second goes
        return;
      }
      hidePreview();
      focusSource(link);
      return;
    }
    if (origin.closest('.preview-go')) {
      const from = pinned;
      hidePreview();
      if (from) focusSource(from);
      return;
    }
    if (origin.closest('.src-back')) {
      returnToMarker();
      return;
    }
    const chatbot = origin.closest('#chatbot');
    const button = origin.closest('button');
    if (!chatbot || !button || !navigator.clipboard) return;
    const label = (button.getAttribute('aria-label') || button.title || '').toLowerCase();
    if (!label.includes('copy')) return;
    const row = button.closest('.message-row');
    let text;
    if (row) {
      text = plainText(row);
    } else {  // the toolbar's "copy all": every message, in order
      text = [...chatbot.querySelectorAll('.message-row')].map(plainText).filter(Boolean).join('\n\n');
    }
    event.preventDefault();
    event.stopImmediatePropagation();
    writeClipboard(text, button);
  }, true);
}
"""
JS = JS.replace("__STACKED_CSS__", json.dumps(style.STACKED_CONTAINER_CSS))
