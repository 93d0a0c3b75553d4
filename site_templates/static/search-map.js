/* ConvNet Playground, Semantic Search: the embedding map (UMAP of the current layer) and its legend.
 * The map is its own data file, requested only while the map is on screen; a layer or model change makes the
 * points glide to their new places. The legend stays usable with hundreds of categories: the selected image's
 * category first and highlighted, the results' categories next, a search box, and "Show all" for the rest.
 */
(() => {
  const PG = window.PG;
  const D = PG.data;
  const P = PG.search;
  const $ = PG.$;
  const el = PG.el;
  const LEGEND_SHORT = 16; // categories listed before "Show all"
  let map = null;
  let thumbs = null; // the images drawn over the map when zoomed in (search-map-thumbs.js)
  let visible = false;
  let shownKey = ""; // the map file whose coordinates are drawn
  let shownDs = "";
  let current = null; // the last ctx: {s, view, listing, row, upload}
  let legendAll = false;
  let pinned = -1; // the category kept spotlighted by a click in the legend
  let tipTimer = 0;
  // colour by search score: five bands, red (the layer serves the image badly) to green, as map "categories"
  const BANDS = ["0–19", "20–39", "40–59", "60–79", "80–100"];
  const BAND_COLORS = ["#d7301f", "#f08c3a", "#e2c044", "#7fbf4d", "#1a9850"];

  /* what the map draws: the view's map file, and the metric too when coloured by score */
  function drawKey(ctx) {
    return ctx.s.color === "score" ? `${D.mapKey(ctx.view)}|${ctx.view.metric}|score` : D.mapKey(ctx.view);
  }

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
    clearTimeout(tipTimer);
    const tip = $("map-tip");
    if (i < 0 || !pos || !current) {
      tip.hidden = true;
      return;
    }
    const lst = current.listing;
    const cls = lst.className(i);
    PG.paintThumb($("map-tip-img"), lst.thumb(i));
    const label = (file) => (cls ? `${cls} · ` : "") + (file ? P.baseName(file) : `#${i}`);
    const known = D.fileNow(lst, i);
    $("map-tip-text").textContent = label(known);
    if (!known) {
      // the file name shard is read only when the pointer rests on a point
      tipTimer = setTimeout(() => {
        D.file(lst, i).then(
          (f) => {
            if (map.hover === i) $("map-tip-text").textContent = label(f);
          },
          () => {}
        );
      }, 180);
    }
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

  function select() {
    const { s, row, upload } = current;
    const pt = upload && row.mapXY ? { x: row.mapXY[0], y: row.mapXY[1] } : null;
    map.setSelection(upload ? -1 : s.q, row.ids, pt);
  }

  function sync() {
    if (!map || !current) return;
    const { s } = current;
    if (shownDs && shownDs !== s.ds) {
      // never show another dataset's points
      map.setData([], [], null, null, false);
      shownKey = "";
      shownDs = "";
    }
    select();
    if (shownKey === drawKey(current)) applySelection();
    // whether the map is on screen is asked after every panel has drawn this view (the results above it
    // change the page's layout)
    requestAnimationFrame(load);
  }

  /* The lasso selection of the state: its images drawn in full, the rest faint; its outline on the layer it was
     drawn on (on another layer the same images are shown where that layer puts them). */
  function applySelection() {
    const { s, view } = current;
    const sel = P.parseSel(s.sel);
    if (!sel) {
      map.setMask(null);
      return;
    }
    D.selection(view, sel).then(
      (ids) => {
        if (current?.s.sel !== s.sel || drawKey(current) !== shownKey) return;
        map.setMask(ids, sel.layer === current.s.layer ? sel.poly : null);
      },
      () => map.setMask(null)
    );
  }

  function setLasso(on) {
    map.setLassoMode(on);
    $("map-lasso").setAttribute("aria-pressed", on ? "true" : "false");
    $("map-hint").hidden = !on;
  }

  function load() {
    if (!current) return;
    const { s, view, listing: lst } = current;
    const key = drawKey(current);
    if (key === shownKey || !onScreen()) return;
    const byScore = s.color === "score";
    shownKey = key;
    if (!map.n) {
      $("map-status").textContent = "Loading the map…";
      $("map-status").hidden = false;
    }
    Promise.all([D.map(view), byScore ? D.scores(view) : null]).then(
      ([xy, scores]) => {
        if (!current || drawKey(current) !== key) return;
        const animate = shownDs === s.ds;
        shownDs = s.ds;
        if (scores) {
          const band = Int32Array.from(scores, (v) => Math.min(4, Math.floor(v / 20)));
          map.setData(xy.x, xy.y, band, [], animate, BAND_COLORS);
        } else {
          map.setData(xy.x, xy.y, lst.labels, lst.classes, animate);
        }
        renderLegend();
        if (pinned >= 0) map.setFocusClass(pinned);
        select();
        applySelection();
        $("map-status").hidden = true;
        const m = D.model(s.model);
        $("map").setAttribute(
          "aria-label",
          `Embedding map of ${lst.n} images for ${m.display}, layer ${s.layer}. Arrow keys: go to the nearest image that way; Enter: search from it; Shift and arrows: pan; plus and minus: zoom.`
        );
      },
      () => {
        shownKey = "";
        $("map-status").textContent = "No map for this layer.";
        $("map-status").hidden = false;
      }
    );
  }

  /* ---- legend ---- */
  function legendItem(lst, c, queryClass) {
    const sw = el("span", { class: "swatch", "aria-hidden": "true" });
    sw.style.background = PG.classColor(c);
    const name = String(lst.classes[c]);
    const [a, b] = lst.classRange(c);
    const isQ = c === queryClass;
    const btn = el(
      "button",
      {
        type: "button",
        class: `legend-item${isQ ? " is-query" : ""}`,
        "aria-pressed": c === pinned ? "true" : "false",
        "data-c": c,
        title: `Highlight ${name} (${b - a} images)${isQ ? ": the selected image's category" : ""}`,
      },
      [
        sw,
        el("span", { class: "legend-name", text: name }),
        isQ ? el("span", { class: "sr-only", text: " (selected image)" }) : null,
      ]
    );
    return el("li", null, btn);
  }

  function renderLegend() {
    const ul = PG.clear($("legend"));
    const bar = $("legend-bar");
    if (!current?.listing.labeled) {
      bar.hidden = true;
      return;
    }
    if (current.s.color === "score") {
      // the five bands, with how many images fall in each (once the scores are drawn)
      bar.hidden = true;
      const counts = [0, 0, 0, 0, 0];
      if (map.palette) for (const c of map.cls) if (c >= 0) counts[c]++;
      BANDS.forEach((name, c) => {
        const sw = el("span", { class: "swatch", "aria-hidden": "true" });
        sw.style.background = BAND_COLORS[c];
        const btn = el(
          "button",
          {
            type: "button",
            class: "legend-item",
            "aria-pressed": c === pinned ? "true" : "false",
            "data-c": c,
            title: `Highlight the images whose search score is ${name}`,
          },
          [
            sw,
            el("span", { class: "legend-name", text: `score ${name}` }),
            el("span", { class: "muted", text: map.palette ? ` ${counts[c]}` : "" }),
          ]
        );
        ul.appendChild(el("li", null, btn));
      });
      ul.classList.add("is-all");
      return;
    }
    const { s, listing: lst, row, upload } = current;
    const nc = lst.classes.length;
    const filter = $("legend-filter").value.trim().toLowerCase();
    const queryClass = upload ? -1 : lst.label(s.q);
    bar.hidden = nc <= LEGEND_SHORT;
    let list;
    if (filter) {
      list = [];
      for (let c = 0; c < nc; c++) if (String(lst.classes[c]).toLowerCase().includes(filter)) list.push(c);
    } else if (legendAll || nc <= LEGEND_SHORT) {
      list = Array.from({ length: nc }, (_, c) => c);
    } else {
      // the selected image's category, the results' categories, the pinned one, then the first ones
      const seen = new Set();
      const add = (c) => {
        if (c !== null && c >= 0 && !seen.has(c) && seen.size < LEGEND_SHORT) seen.add(c);
      };
      add(queryClass);
      add(pinned);
      for (const id of row.ids) add(lst.label(id));
      for (let c = 0; c < nc && seen.size < LEGEND_SHORT; c++) add(c);
      list = [...seen];
    }
    for (const c of list) ul.appendChild(legendItem(lst, c, queryClass));
    if (filter && !list.length) ul.appendChild(el("li", { class: "muted legend-none", text: "No category matches." }));
    ul.classList.toggle("is-all", legendAll || !!filter);
    const toggle = $("legend-toggle");
    toggle.hidden = nc <= LEGEND_SHORT || !!filter;
    toggle.setAttribute("aria-expanded", legendAll ? "true" : "false");
    toggle.textContent = legendAll ? "Show fewer" : `Show all ${nc}`;
    $("legend-count").textContent = filter
      ? `${list.length} of ${nc} categories`
      : legendAll || nc <= LEGEND_SHORT
        ? `${nc} categories`
        : `${list.length} of ${nc} categories`;
  }

  function setupLegend() {
    const ul = $("legend");
    ul.addEventListener("mouseover", (ev) => {
      const b = ev.target.closest(".legend-item");
      if (b && pinned < 0) map.setFocusClass(+b.getAttribute("data-c"));
    });
    ul.addEventListener("mouseout", (ev) => {
      const b = ev.target.closest(".legend-item");
      if (b && !b.contains(ev.relatedTarget) && pinned < 0) map.setFocusClass(-1);
    });
    ul.addEventListener("click", (ev) => {
      const b = ev.target.closest(".legend-item");
      if (!b) return;
      const c = +b.getAttribute("data-c");
      pinned = pinned === c ? -1 : c;
      for (const o of ul.querySelectorAll("[aria-pressed]"))
        o.setAttribute("aria-pressed", +o.getAttribute("data-c") === pinned ? "true" : "false");
      map.setFocusClass(pinned);
    });
    $("legend-filter").addEventListener("input", renderLegend);
    $("legend-toggle").addEventListener("click", () => {
      legendAll = !legendAll;
      renderLegend();
    });
  }

  PG.searchMap = {
    init() {
      thumbs = new PG.MapThumbs($("map-thumbs"));
      map = new PG.Scatter($("map"), {
        onHover,
        // the page stays where it is: the answer shows under the map (search-map-results.js)
        onClick: (i) => PG.searchMapResults.search(i),
        onDrawn: () => map && thumbs.update(map, current && current.s.ds === shownDs ? current.listing : null),
        onKeyPoint: (i) => {
          const cls = current ? current.listing.className(i) : "";
          $("map-live").textContent = `${cls ? `${cls}, ` : ""}image ${i}. Enter: search from it.`;
        },
        onLasso: (poly) => {
          setLasso(false);
          P.set({ sel: P.selText(P.state().layer, poly) }, true);
        },
      });
      $("map-lasso").addEventListener("click", () => setLasso(!map.lassoMode));
      $("map-color").addEventListener("change", () => P.set({ color: $("map-color").value }, false));
      $("map").addEventListener("keydown", (ev) => {
        if (ev.key === "Escape" && map.lassoMode) setLasso(false);
      });
      $("map-zoom-in").addEventListener("click", () => map.zoomBy(1.5));
      $("map-zoom-out").addEventListener("click", () => map.zoomBy(1 / 1.5));
      $("map-reset").addEventListener("click", () => map.reset());
      setupLegend();
      new IntersectionObserver((entries) => {
        visible = entries.some((e) => e.isIntersecting);
        if (visible) sync();
      }).observe($("map-section"));
      P.panel({
        config(s) {
          $("map-color").value = s.color;
          $("map-color").querySelector('[value="score"]').disabled = !D.dataset(s.ds).labeled;
        },
        view(ctx) {
          const dsChanged = !current || current.s.ds !== ctx.s.ds;
          if (dsChanged || current.s.color !== ctx.s.color) {
            pinned = -1;
            legendAll = false;
            $("legend-filter").value = "";
            if (map) map.setFocusClass(-1);
          }
          current = ctx;
          renderLegend();
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
