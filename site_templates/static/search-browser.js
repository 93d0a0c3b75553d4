/* ConvNet Playground, Semantic Search: the dataset browser: every image of the dataset, All or By category;
 * the selected image is framed and the results carry their rank. Click one to search from it.
 *
 * Virtualised: whatever the dataset size, only the rows in (and just around) the visible part of the scroll
 * box exist in the DOM; cells have a fixed size and are placed absolutely over a spacer as tall as the whole
 * grid, and are reused as the box scrolls. "By category" is a list of sections (a title, then the category's
 * rows), virtualised the same way, with a search box to find a category among hundreds. Arrow keys move
 * between images (the grid scrolls to follow). A lasso on the map (state `sel`) narrows both views to the
 * images it selected.
 */
(() => {
  const PG = window.PG;
  const D = PG.data;
  const P = PG.search;
  const $ = PG.$;
  const el = PG.el;
  const GAP = 6;
  const HEAD = 34; // a category title's height
  const SEC_GAP = 12; // space after a category's cells
  const AHEAD = 3; // rows rendered above and below the visible ones

  let lst = null; // the listing
  let mode = "all";
  let cols = 1;
  let cell = 64;
  let sections = []; // cat view: {c, top, rows, first, count}
  let total = 0;
  let q = -1;
  let rank = new Map(); // result id -> rank (1-based)
  const live = new Map(); // id -> cell node, the ones in the DOM
  const heads = new Map(); // category -> title node
  const spare = [];
  let laidFor = "";
  let items = null; // the images shown, ascending ids (a map selection), or null: every image

  const count = () => (items ? items.length : lst.n);
  const idAt = (i) => (items ? items[i] : i);
  /* the position of image id among those shown, or -1 */
  function indexOf(id) {
    if (!items) return id >= 0 && id < lst.n ? id : -1;
    const i = lowerBound(id);
    return items[i] === id ? i : -1;
  }
  function lowerBound(id) {
    let lo = 0;
    let hi = items.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (items[mid] < id) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
  /* class c's images among those shown: [first, end) positions */
  function classSpan(c) {
    const [a, b] = lst.classRange(c);
    return items ? [lowerBound(a), lowerBound(b)] : [a, b];
  }
  let frame = 0;

  function grid() {
    return $("grid");
  }

  function minCell() {
    return window.matchMedia("(max-width: 560px)").matches ? 56 : 64;
  }

  /* Positions: All = rows of cols cells; By category = for each shown category a title and its rows. */
  function layout() {
    const g = grid();
    const w = Math.max(60, g.clientWidth - 4);
    cols = Math.max(1, Math.floor((w + GAP) / (minCell() + GAP)));
    cell = (w - GAP * (cols - 1)) / cols;
    const rowH = cell + GAP;
    sections = [];
    if (mode === "cat") {
      const filter = $("grid-filter").value.trim().toLowerCase();
      let top = 0;
      for (let c = 0; c < lst.classes.length; c++) {
        if (filter && !String(lst.classes[c]).toLowerCase().includes(filter)) continue;
        const [a, b] = classSpan(c);
        if (items && b === a) continue;
        const rows = Math.ceil((b - a) / cols);
        sections.push({ c, top, rows, first: a, count: b - a });
        top += HEAD + rows * rowH + SEC_GAP;
      }
      total = top;
      $("grid-count").textContent = filter
        ? `${sections.length} of ${lst.classes.length} categories`
        : `${lst.classes.length} categories`;
    } else {
      total = Math.ceil(count() / cols) * rowH;
      $("grid-count").textContent = `${lst.n.toLocaleString("en-US")} images`;
    }
    if (items)
      $("grid-count").textContent =
        `${items.length.toLocaleString("en-US")} of ${lst.n.toLocaleString("en-US")} images, selected on the map${mode === "cat" ? ` (${sections.length} categories)` : ""}`;
    $("sel-clear").hidden = !items;
    $("grid-space").style.height = `${Math.max(1, total)}px`;
    const none = items && !items.length;
    $("grid-empty").textContent = none ? "The lasso holds no image." : "No category matches.";
    $("grid-empty").hidden = !(none || (mode === "cat" && !sections.length));
  }

  /* Where image id is drawn: {x, y} in px inside the spacer (cat view: inside its category's section). */
  function place(id) {
    const rowH = cell + GAP;
    const at = indexOf(id);
    if (at < 0) return null;
    if (mode === "cat") {
      const c = lst.label(id);
      const sec = sections.find((s) => s.c === c);
      if (!sec) return null;
      const i = at - sec.first;
      return { x: (i % cols) * (cell + GAP), y: sec.top + HEAD + Math.floor(i / cols) * rowH };
    }
    return { x: (at % cols) * (cell + GAP), y: Math.floor(at / cols) * rowH };
  }

  function describe(node, id) {
    const cls = lst.className(id);
    node.setAttribute("data-id", id);
    node.title = cls ? `${cls} · #${id}` : `#${id}`;
    PG.paintThumb(node.firstChild, lst.thumb(id));
    mark(node, id);
  }

  function mark(node, id) {
    node.classList.toggle("is-query", id === q);
    const r = rank.get(id);
    node.classList.toggle("is-result", !!r);
    // the rank badge is visible text, so the name starts with it (axe: label-content-name-mismatch)
    const cls = lst.className(id);
    const what = `${cls ? `${cls}, ` : ""}image ${id}`;
    node.setAttribute("aria-label", `${r ? `Result ${r}: ` : ""}${what}: search from this image`);
    if (id === q) node.setAttribute("aria-current", "true");
    else node.removeAttribute("aria-current");
    let badge = node.querySelector(".cell-rank");
    if (r) {
      if (!badge) {
        badge = el("span", { class: "cell-rank", "aria-hidden": "true" });
        node.appendChild(badge);
      }
      badge.textContent = String(r);
    } else if (badge) {
      badge.remove();
    }
  }

  function takeCell() {
    return spare.pop() || el("button", { type: "button", class: "cell" }, el("span", { class: "thumb" }));
  }

  function head(sec) {
    let h = heads.get(sec.c);
    if (!h) {
      const sw = el("span", { class: "swatch", "aria-hidden": "true" });
      sw.style.background = PG.classColor(sec.c);
      h = el("h3", { class: "cat-title" }, [
        sw,
        el("span", { class: "cat-name", text: String(lst.classes[sec.c]) }),
        el("span", { class: "muted", text: ` ${sec.count}` }),
      ]);
      heads.set(sec.c, h);
    }
    h.style.top = `${sec.top}px`;
    return h;
  }

  /* The ids (and category titles) whose rows touch the visible window, then the DOM made to match. */
  function render() {
    frame = 0;
    if (!lst) return;
    const g = grid();
    const rowH = cell + GAP;
    const top = g.scrollTop - AHEAD * rowH;
    const bottom = g.scrollTop + g.clientHeight + AHEAD * rowH;
    const want = [];
    const wantHeads = [];
    if (mode === "cat") {
      for (const sec of sections) {
        const end = sec.top + HEAD + sec.rows * rowH;
        if (end < top || sec.top > bottom) continue;
        if (sec.top + HEAD > top) wantHeads.push(sec);
        const r0 = Math.max(0, Math.floor((top - sec.top - HEAD) / rowH));
        const r1 = Math.min(sec.rows - 1, Math.floor((bottom - sec.top - HEAD) / rowH));
        for (let r = r0; r <= r1; r++)
          for (let i = r * cols; i < Math.min(sec.count, (r + 1) * cols); i++) want.push(idAt(sec.first + i));
      }
    } else {
      const r0 = Math.max(0, Math.floor(top / rowH));
      const n = count();
      const r1 = Math.min(Math.ceil(n / cols) - 1, Math.floor(bottom / rowH));
      for (let r = r0; r <= r1; r++) for (let i = r * cols; i < Math.min(n, (r + 1) * cols); i++) want.push(idAt(i));
    }
    const space = $("grid-space");
    const keep = new Set(want);
    const focused = document.activeElement;
    for (const [id, node] of live) {
      if (keep.has(id) || node === focused) continue;
      node.remove();
      live.delete(id);
      spare.push(node);
    }
    for (const id of want) {
      let node = live.get(id);
      if (!node) {
        node = takeCell();
        describe(node, id);
        live.set(id, node);
        space.appendChild(node);
      }
      const p = place(id);
      node.style.transform = `translate(${p.x}px, ${p.y}px)`;
      node.style.width = `${cell}px`;
      node.style.height = `${cell}px`;
    }
    const keepHeads = new Set(wantHeads.map((s) => s.c));
    for (const [c, h] of heads) {
      if (!keepHeads.has(c)) {
        h.remove();
        heads.delete(c);
      }
    }
    for (const sec of wantHeads) {
      const h = head(sec);
      if (!h.parentNode) space.appendChild(h);
    }
  }

  function schedule() {
    if (!frame) frame = requestAnimationFrame(render);
  }

  function relayout() {
    for (const node of live.values()) {
      node.remove();
      spare.push(node);
    }
    live.clear();
    for (const h of heads.values()) h.remove();
    heads.clear();
    layout();
    render();
  }

  /* Scroll the grid so that image id (or, By category, its category's title) is in view. */
  function scrollTo(id, toSection) {
    const g = grid();
    const p = place(id);
    if (!p) return;
    if (toSection) {
      const sec = sections.find((s) => s.c === lst.label(id));
      g.scrollTop = sec ? sec.top : p.y;
    } else if (p.y < g.scrollTop || p.y + cell > g.scrollTop + g.clientHeight) {
      g.scrollTop = Math.max(0, p.y - (g.clientHeight - cell) / 2);
    }
    render();
  }

  function onKey(ev) {
    const node = ev.target.closest?.(".cell");
    if (!node || !lst) return;
    const id = +node.getAttribute("data-id");
    const at = indexOf(id);
    if (at < 0) return;
    let to = -1;
    if (ev.key === "ArrowRight") to = at + 1;
    else if (ev.key === "ArrowLeft") to = at - 1;
    else if (ev.key === "ArrowDown") to = at + cols;
    else if (ev.key === "ArrowUp") to = at - cols;
    else if (ev.key === "Home") to = 0;
    else if (ev.key === "End") to = count() - 1;
    else return;
    ev.preventDefault();
    if (mode === "cat") {
      // stay inside the category
      const [a, b] = classSpan(lst.label(id));
      const i = at - a;
      if (ev.key === "ArrowDown") to = a + Math.min(b - a - 1, i + cols);
      if (ev.key === "ArrowUp") to = a + Math.max(0, i - cols);
      if (ev.key === "Home") to = a;
      if (ev.key === "End") to = b - 1;
      to = Math.max(a, Math.min(b - 1, to));
    }
    to = idAt(Math.max(0, Math.min(count() - 1, to)));
    scrollTo(to, false);
    live.get(to)?.focus();
  }

  function renderHead(s) {
    const d = D.dataset(s.ds);
    $("browser-desc").textContent = d.description;
    const attr = PG.clear($("browser-attr"));
    const bits = [
      ["Source", d.source],
      ["Licence", d.licence],
      ["Attribution", d.attribution],
    ].filter((b) => b[1]);
    for (const b of bits) {
      attr.appendChild(
        el("span", { class: "attr-line" }, [
          el("span", { class: "muted", text: `${b[0]}: ` }),
          el("span", { text: b[1] }),
        ])
      );
    }
    $("browser-attr-box").hidden = !bits.length;
    if (!d.description && !bits.length) {
      // say where the words would come from instead of leaving the card blank
      $("browser-desc").textContent =
        `No description: the first line of a README.md or SOURCE.txt in the dataset's folder becomes one, and a manifest (datasets/${d.slug}.json) also gives its source and licence.`;
      $("browser-desc").classList.add("muted");
    } else {
      $("browser-desc").classList.remove("muted");
    }
  }

  PG.searchBrowser = {
    init() {
      PG.tabs([$("view-all"), $("view-cat")], (id) => P.set({ view: id === "view-cat" ? "cat" : "all" }, false));
      const g = grid();
      g.appendChild(el("div", { class: "grid-space", id: "grid-space" }));
      g.addEventListener("scroll", schedule, { passive: true });
      g.addEventListener("click", (ev) => {
        const c = ev.target.closest(".cell");
        // from the keyboard (Enter: a click with detail 0) the focus follows to the new query (else it stays on a
        // cell the reveal scrolled away)
        if (c) P.search(+c.getAttribute("data-id"), true, ev.detail === 0);
      });
      g.addEventListener("keydown", onKey);
      // hovering or focusing an image rings its point on the map
      const ring = (ev) => {
        const c = ev.target.closest?.(".cell");
        PG.searchMap.map().setExternalHover(c ? +c.getAttribute("data-id") : -1);
      };
      g.addEventListener("mouseover", ring);
      g.addEventListener("focusin", ring);
      g.addEventListener("mouseleave", () => PG.searchMap.map().setExternalHover(-1));
      g.addEventListener("focusout", () => PG.searchMap.map().setExternalHover(-1));
      $("sel-clear").addEventListener("click", () => P.set({ sel: "" }, true));
      $("grid-filter").addEventListener("input", () => {
        g.scrollTop = 0;
        relayout();
      });
      new ResizeObserver(() => {
        if (!lst) return;
        const w = g.clientWidth;
        if (w && w !== +g.getAttribute("data-w")) {
          g.setAttribute("data-w", String(w));
          relayout();
        }
      }).observe(g);
      P.panel({
        config(s) {
          PG.selectTab([$("view-all"), $("view-cat")], s.view === "cat" ? "view-cat" : "view-all");
          $("browser-name").textContent = D.dataset(s.ds).name;
        },
        view(ctx) {
          const sel = P.parseSel(ctx.s.sel);
          if (!sel) {
            show(ctx, null, "");
            return;
          }
          D.selection(ctx.view, sel).then(
            (ids) => {
              if (P.state().sel === ctx.s.sel && document.body.dataset.ready === String(ctx.token))
                show(ctx, ids, sel.text);
            },
            () => show(ctx, null, "")
          );
        },
      });
    },
    /* for tests: how many cells exist, and the layout */
    stats: () => ({ cells: live.size, cols, cell, total, sections: sections.length, shown: lst ? count() : 0 }),
  };

  function show(ctx, ids, selKey) {
    const { s, listing, row, upload } = ctx;
    const newMode = s.view === "cat" && listing.labeled ? "cat" : "all";
    const key = `${s.ds}/${newMode}/${selKey}`;
    q = upload ? -1 : s.q;
    rank = new Map(row.ids.map((id, r) => [id, r + 1]));
    $("grid-bar").classList.toggle("is-cat", newMode === "cat");
    $("grid-filter").hidden = newMode !== "cat";
    if (key !== laidFor) {
      const dsChanged = !lst || lst.slug !== listing.slug;
      lst = listing;
      items = ids;
      mode = newMode;
      laidFor = key;
      renderHead(s);
      if (dsChanged) $("grid-filter").value = "";
      grid().scrollTop = 0;
      relayout();
      if (mode === "cat" && q >= 0) scrollTo(q, true);
    } else {
      for (const [id, node] of live) mark(node, id);
    }
  }
})();
