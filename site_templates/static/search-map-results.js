/* ConvNet Playground, Semantic Search: the query and its nearest results under the embedding map. A click (or
 * Enter) on a point searches without taking the page to the results: the answer shows here, just above the points
 * it rings (scrolled into view if it is not), and "All results" goes up to the full list.
 */
(() => {
  const PG = window.PG;
  const P = PG.search;
  const $ = PG.$;
  const el = PG.el;
  const SHOWN = 10; // result thumbnails in the strip
  let fromMap = false; // the next view comes from a search on the map (or this strip)

  function thumbButton(lst, id, label, cls) {
    const btn = el("button", { type: "button", class: `map-res ${cls}`, "data-id": id, "aria-label": label }, [
      PG.paintThumb(el("span", { class: "thumb" }), lst.thumb(id)),
    ]);
    btn.addEventListener("click", () => PG.searchMapResults.search(id));
    PG.searchMap.hoverLink(btn, id);
    return btn;
  }

  function render(ctx) {
    const box = PG.clear($("map-results"));
    const { s, listing: lst, row, upload } = ctx;
    if (!row?.ids.length) {
      box.hidden = true;
      return;
    }
    box.hidden = false;
    const qcls = upload ? null : lst.className(s.q);
    const head = upload
      ? null
      : thumbButton(lst, s.q, `The query: ${qcls ? `${qcls}, ` : ""}image ${s.q}`, "map-res-q");
    const qlabel = upload ? null : lst.label(s.q);
    const hits = !upload && typeof row.hits === "number" ? row.hits : null; // the results panel's count (search-data.js)
    const says = [
      el("strong", { text: upload ? "Your image" : qcls || `#${s.q}` }),
      hits !== null ? el("span", { class: "muted", text: ` · ${hits} of ${row.ids.length} same category` }) : null,
    ];
    const list = el("ol", { class: "map-res-list", "aria-label": "Its nearest results" });
    row.ids.slice(0, SHOWN).forEach((id, r) => {
      const cls = lst.className(id);
      const same = hits !== null && lst.label(id) === qlabel;
      const label = `Result ${r + 1}: ${cls ? `${cls}, ` : ""}image ${id}${hits !== null ? (same ? ", same category" : ", different category") : ""}: search from it`;
      list.appendChild(el("li", null, thumbButton(lst, id, label, hits === null ? "" : same ? "is-hit" : "is-miss")));
    });
    const all = el("button", {
      type: "button",
      class: "btn btn-small map-res-all",
      text: `All ${row.ids.length} results ↑`,
    });
    all.addEventListener("click", () => {
      PG.reveal($("search"));
      $("results").focus({ preventScroll: true });
    });
    box.append(...[head].filter(Boolean), el("span", { class: "map-res-says" }, says), list, all);
    if (fromMap) {
      // a search from the map: the least scroll that shows this strip (above the map), so the map stays in view
      fromMap = false;
      box.scrollIntoView({ block: "nearest", behavior: PG.reducedMotion() ? "auto" : "smooth" });
    }
  }

  PG.searchMapResults = {
    init() {
      P.panel({ view: render });
    },
    /* Search from image id without scrolling to the results: the strip shows the answer. */
    search(id) {
      fromMap = id !== P.state().q;
      P.search(id, false);
    },
  };
})();
