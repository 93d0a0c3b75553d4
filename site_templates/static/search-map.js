/* ConvNet Playground, Semantic Search: the embedding map (UMAP of the current layer) and its legend.
 * The map's coordinates are requested only while the map is on screen; a layer or model change makes the
 * points glide to their new places.
 */
(() => {
  const PG = window.PG;
  const D = PG.data;
  const P = PG.search;
  const $ = PG.$;
  const el = PG.el;
  let map = null;
  let visible = false;
  let shownKey = ""; // the view whose coordinates are drawn
  let shownDs = "";
  let current = null; // the last ctx: {s, view, listing, row}

  function onScreen() {
    if (!visible) return false;
    const r = $("map-section").getBoundingClientRect(); // the observer's answer may predate the last layout
    return r.top < window.innerHeight && r.bottom > 0 && r.width > 0;
  }

  function clearHover() {
    for (const n of document.querySelectorAll(".is-maphover")) n.classList.remove("is-maphover");
  }

  function onHover(i, pos) {
    clearHover();
    const tip = $("map-tip");
    if (i < 0 || !pos || !current) {
      tip.hidden = true;
      return;
    }
    const { s, listing } = current;
    const rec = listing.images[i];
    const cls = P.className(listing, rec.label);
    $("map-tip-img").src = PG.thumbUrl(s.ds, i);
    $("map-tip-text").textContent = (cls ? `${cls} · ` : "") + P.fileName(rec);
    tip.hidden = false;
    const wrap = $("map-wrap").getBoundingClientRect();
    const tw = tip.offsetWidth;
    const th = tip.offsetHeight;
    let x = pos.x + 14;
    let y = pos.y - th - 10;
    if (x + tw > wrap.width - 4) x = pos.x - tw - 14;
    if (y < 4) y = pos.y + 14;
    tip.style.left = `${Math.max(4, x)}px`;
    tip.style.top = `${Math.max(4, Math.min(wrap.height - th - 4, y))}px`;
    for (const n of document.querySelectorAll(`.result[data-id="${i}"], .cell[data-id="${i}"]`))
      n.classList.add("is-maphover");
  }

  function sync() {
    if (!map || !current) return;
    const { s, view, listing, row } = current;
    map.setSelection(s.q, row.ids);
    if (shownDs && shownDs !== s.ds) {
      // never show another dataset's points
      map.setData([], [], [], false);
      map.setSelection(-1, []);
      shownKey = "";
      shownDs = "";
    }
    const key = D.viewKey(view);
    if (key === shownKey || !onScreen()) return;
    shownKey = key;
    D.map(view).then(
      (xy) => {
        if (!current || D.viewKey(current.view) !== key) return;
        const animate = shownDs === s.ds;
        shownDs = s.ds;
        const labels = listing.images.map((im) => (im.label === null ? -1 : im.label));
        map.setData(xy, labels, listing.classes, animate);
        map.setSelection(current.s.q, current.row.ids);
        $("map-status").hidden = true;
        const m = D.model(s.model);
        $("map").setAttribute(
          "aria-label",
          `Embedding map of ${listing.images.length} images for ${m.display}, layer ${s.layer}. Use the dataset grid to choose images with the keyboard.`
        );
      },
      () => {
        shownKey = "";
        $("map-status").textContent = "No map for this layer.";
        $("map-status").hidden = false;
      }
    );
  }

  function renderLegend(ctx) {
    const ul = PG.clear($("legend"));
    if (!P.labeled()) return;
    ctx.listing.classes.forEach((c, i) => {
      const sw = el("span", { class: "swatch", "aria-hidden": "true" });
      sw.style.background = PG.classColor(i);
      const b = el(
        "button",
        { type: "button", class: "legend-item", "aria-pressed": "false", title: `Highlight ${c}` },
        [sw, el("span", { text: String(c) })]
      );
      b.addEventListener("mouseenter", () => {
        if (!ul.querySelector("[aria-pressed=true]")) map.setFocusClass(i);
      });
      b.addEventListener("mouseleave", () => {
        if (!ul.querySelector("[aria-pressed=true]")) map.setFocusClass(-1);
      });
      b.addEventListener("click", () => {
        const on = b.getAttribute("aria-pressed") !== "true";
        for (const o of ul.querySelectorAll("[aria-pressed]")) o.setAttribute("aria-pressed", "false");
        b.setAttribute("aria-pressed", on ? "true" : "false");
        map.setFocusClass(on ? i : -1);
      });
      ul.appendChild(el("li", null, b));
    });
  }

  PG.searchMap = {
    init() {
      map = new PG.Scatter($("map"), { onHover, onClick: (i) => P.search(i, true) });
      $("map-zoom-in").addEventListener("click", () => map.zoomBy(1.5));
      $("map-zoom-out").addEventListener("click", () => map.zoomBy(1 / 1.5));
      $("map-reset").addEventListener("click", () => map.reset());
      new IntersectionObserver((entries) => {
        visible = entries.some((e) => e.isIntersecting);
        if (visible) sync();
      }).observe($("map-section"));
      P.panel({
        view(ctx) {
          const dsChanged = !current || current.s.ds !== ctx.s.ds;
          current = ctx;
          if (dsChanged) renderLegend(ctx);
          sync();
        },
      });
    },
    map: () => map,
    /* Hovering or focusing a result card or a grid image rings its point on the map. */
    hoverLink(node, id) {
      node.addEventListener("mouseenter", () => map.setExternalHover(id));
      node.addEventListener("mouseleave", () => map.setExternalHover(-1));
      node.addEventListener("focus", () => map.setExternalHover(id));
      node.addEventListener("blur", () => map.setExternalHover(-1));
    },
  };
})();
