"""The app's one script, run once on page load (launch(js=...)).

Citation links. A [n] marker is a link to "#src-<turn>-<n>-<k>", the sentence that
supports its claim in the source card. Gradio pages carry <base href="./">, so
the browser resolves a bare fragment against the base URL, not the page's: on
"/?__theme=dark" a plain fragment link loads "/" and wipes the chat. The script
handles those clicks instead: it scrolls the card into view, marks the card and
the sentence with .src-focus, and writes the fragment into the address bar
without loading anything.

Hover preview. Pointing at a marker (or focusing it with the keyboard) shows a
small card over the chat: the paper's number and title, its authors and year,
the sentence that supports the marker's claim, and its support score, read from
the source card the marker links to (text only, so nothing in an abstract can become markup).
It goes on leaving the marker, scrolling, or Escape.

Copy. The chatbot's copy buttons would copy the messages' internal markup (the
marker links, the notes' HTML). Each answer's notes carry the answer as plain
text with its references (ui/copytext.py) in a hidden element; the copy buttons
put that on the clipboard instead, and "copy all" the whole conversation so.
"""

JS = r"""
() => {
  if (window.ragScriptLoaded) return;  // once per page, however often load fires
  window.ragScriptLoaded = true;
  const focusSource = (id) => {
    const target = document.getElementById(id);
    if (!target) return false;
    const card = target.closest('.src-card') || target;
    document.querySelectorAll('.src-focus').forEach((el) => el.classList.remove('src-focus'));
    card.classList.add('src-focus');
    target.classList.add('src-focus');
    card.scrollIntoView({ block: 'start' });
    if (target !== card) target.scrollIntoView({ block: 'nearest' });  // a tall card
    return true;
  };

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
  const hidePreview = () => { preview.hidden = true; };
  const showPreview = (link) => {
    const target = document.getElementById(decodeURIComponent(link.getAttribute('href').slice(1)));
    const card = target && (target.closest('.src-card') || target);
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
    );
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
    event.target instanceof Element ? event.target.closest('#chatbot a[href^="#src-"]') : null;
  document.addEventListener('mouseover', (event) => {
    const link = markerOf(event);
    if (link) showPreview(link);
  });
  document.addEventListener('mouseout', (event) => { if (markerOf(event)) hidePreview(); });
  document.addEventListener('focusin', (event) => {
    const link = markerOf(event);
    if (link) showPreview(link); else hidePreview();
  });
  document.addEventListener('keydown', (event) => { if (event.key === 'Escape') hidePreview(); });
  document.addEventListener('scroll', hidePreview, true);

  document.addEventListener('click', (event) => {
    const origin = event.target instanceof Element ? event.target : null;
    if (!origin) return;
    const link = origin.closest('a[href^="#src-"]');
    if (link) {
      event.preventDefault();
      const fragment = link.getAttribute('href');
      if (focusSource(decodeURIComponent(fragment.slice(1)))) {
        history.replaceState(history.state, '', location.pathname + location.search + fragment);
      }
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
