"""The library table's script: the js_on_load of the status line above the table
(ui/library.py), so the library tab carries its own behaviour.

Gradio's Dataframe searches, filters and sorts in the browser, so what the table
shows is known only there. The script reads it from the table's own markup and:

- sorts by a column when its header is clicked (again: reverse order). Gradio sorts
  only from a header's ⋮ menu, and adds each sort to a multi-column sort there; the
  script clears the sort and picks "Sort ascending" or "descending" in that menu, so a
  header click sorts by that one column, as in a spreadsheet;
- writes "N of M papers shown" (N from the grid's aria-rowcount, M the status
  component's value: the library's size, kept by the server);
- when the search and column filters leave nothing, says so and offers a button that
  clears both;
- gives a cell cut short with an ellipsis (the hash-named Source file and Id
  columns, ui/style.py) its full value as a hover title.

Coupled to Gradio's Dataframe markup (gradio 6): th[data-heading] headers, their
.cell-menu-button and .sort-indicator, th.filtered, the .search-input box, the
.cell-menu items in this order: sort ascending, sort descending, clear sort, filter,
clear filters. The library browser tests fail when a Gradio upgrade changes them.
"""

STATUS_HTML = """
<p class="library-shown" aria-live="polite"></p>
<p class="library-empty" role="status" hidden>
  <span class="library-empty-text"></span>
  <button type="button" class="library-clear"></button>
</p>
"""

STATUS_CSS = """
.library-shown { margin: 0; font-size: .9rem; color: var(--body-text-color-subdued); }
.library-empty {
  margin: 6px 0 0 0; padding: 6px 10px; border-radius: 6px; font-size: .9rem;
  border: 1px solid var(--border-color-primary); background: var(--background-fill-secondary);
}
.library-clear {
  margin-left: 6px; padding: 1px 10px; border-radius: 999px; font-size: .85rem;
  border: 1px solid var(--border-color-primary); background: var(--background-fill-primary);
  color: var(--color-accent); cursor: pointer; font-family: inherit;
}
.library-clear:hover { text-decoration: underline; }
"""

JS = r"""
const MENU = { asc: 0, desc: 1, clearSort: 2, clearFilters: 4 };  // Gradio's header menu
const table = () => document.getElementById('library-table');
const frame = () => new Promise((resolve) => requestAnimationFrame(() => resolve()));
const plural = (n) => `${n.toLocaleString('en-US')} paper${n === 1 ? '' : 's'}`;
const openMenu = () => table()?.querySelector('.cell-menu, .filter-menu');
const searchBox = () => table()?.querySelector('.search-input');

// Open the ⋮ menu of header `th` and pick its item number `index`.
const pickFromMenu = async (th, index) => {
  th.querySelector('.cell-menu-button')?.click();
  for (let tries = 0; tries < 30; tries++) {
    const items = table()?.querySelectorAll('.cell-menu [role=menuitem]') || [];
    if (items.length > index) {
      items[index].click();
      await frame();
      return true;
    }
    await frame();
  }
  return false;
};

const clearSearchAndFilters = async () => {
  await frame();  // after the click that asked: Gradio closes menus on a click elsewhere
  const box = searchBox();
  if (box && box.value) {
    box.value = '';
    box.dispatchEvent(new Event('input', { bubbles: true }));
  }
  const filtered = table()?.querySelector('th.filtered[data-heading]');
  if (filtered) await pickFromMenu(filtered, MENU.clearFilters);  // clears every column's
};

// Show what the table shows; called after any change to the table or the total.
const render = () => {
  const grid = table()?.querySelector('[aria-rowcount]');
  const shown = element.querySelector('.library-shown');
  const empty = element.querySelector('.library-empty');
  if (!grid || !shown || !empty) return;
  const n = Math.max(Number(grid.getAttribute('aria-rowcount')) - 1, 0);  // less the header row
  const search = searchBox()?.value.trim() || '';
  const filters = [...table().querySelectorAll('th.filtered[data-heading]')].map((th) => th.title);
  // Unfiltered, the table holds the whole library, even before the server's total catches up.
  const total = search || filters.length ? Math.max(Number(props.value) || 0, n) : n;
  const line = `${n.toLocaleString('en-US')} of ${plural(total)} shown`;
  if (shown.textContent !== line) shown.textContent = line;

  let note = '';
  let action = '';
  if (n === 0 && total === 0) {
    note = 'The library is empty: add papers below.';
  } else if (n === 0) {
    const causes = [];
    if (search) causes.push(`the search “${search}”`);
    if (filters.length) {
      causes.push(`the filter${filters.length > 1 ? 's' : ''} on ${filters.join(', ')}`);
    }
    note = `No paper matches ${causes.join(' and ') || 'the search and filters'}.`;
    action = search && !filters.length ? 'Clear the search'
      : filters.length && !search ? 'Clear the filters' : 'Clear search and filters';
  }
  const text = empty.querySelector('.library-empty-text');
  const button = empty.querySelector('.library-clear');
  if (text.textContent !== note) text.textContent = note;
  if (button.textContent !== action) button.textContent = action;
  button.hidden = !action;
  empty.hidden = !note;

  // A value cut short by the ellipsis shows in full on hover.
  table().querySelectorAll('[role=gridcell] .cell-wrap > span').forEach((span) => {
    const cell = span.closest('[role=gridcell]');
    const full = span.scrollWidth > span.clientWidth + 1 ? span.textContent.trim() : '';
    if ((cell.getAttribute('title') || '') !== full) {
      if (full) cell.setAttribute('title', full);
      else cell.removeAttribute('title');
    }
  });
};

let queued = false;
const schedule = () => {
  if (queued) return;
  queued = true;
  requestAnimationFrame(() => { queued = false; render(); });
};

const observe = () => {
  const root = table();
  if (!root) return false;
  new MutationObserver(schedule).observe(root, {
    subtree: true, childList: true, characterData: true,
    attributes: true, attributeFilter: ['aria-rowcount', 'class', 'style'],
  });
  root.addEventListener('input', schedule);
  schedule();
  return true;
};
if (!observe()) {
  const waiting = new MutationObserver(() => { if (observe()) waiting.disconnect(); });
  waiting.observe(document.body, { childList: true, subtree: true });
}
watch('value', schedule);

element.addEventListener('click', async (event) => {
  if (!(event.target instanceof Element) || !event.target.closest('.library-clear')) return;
  await clearSearchAndFilters();
  schedule();
});

// A click on a header's name sorts; the ⋮ button and open menus keep Gradio's handling.
if (!window.ragLibrarySort) {
  window.ragLibrarySort = true;
  let busy = false;
  document.addEventListener('click', async (event) => {
    const origin = event.target instanceof Element ? event.target : null;
    const th = origin?.closest('#library-table th[data-heading]');
    if (!th || origin.closest('.cell-menu-button') || openMenu()) return;
    event.stopPropagation();
    if (busy) return;
    busy = true;
    try {
      const label = th.querySelector('.sort-indicator')?.getAttribute('aria-label') || '';
      if (table().querySelector('th .sort-indicator')) await pickFromMenu(th, MENU.clearSort);
      await pickFromMenu(th, label.includes('ascending') ? MENU.desc : MENU.asc);
    } finally {
      busy = false;
    }
  }, true);
}
"""
