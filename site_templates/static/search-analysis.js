/* ConvNet Playground, Semantic Search: "Which model, which layer?": the leaderboard (mean search score or
 * precision@k of every model x layer on this dataset and metric) and the comparison for the selected image.
 * A click on a cell or bar searches with that model and layer and brings the results into view.
 */
(() => {
  const PG = window.PG;
  const D = PG.data;
  const P = PG.search;
  const $ = PG.$;
  const el = PG.el;

  /* ---- colours: a ramp between two theme colours (--heat-lo, --heat-hi), text in whichever ink reads
     best on the cell (WCAG contrast >= 4.5 everywhere on the ramp) ---- */
  function rgbOf(hex) {
    const h = hex.trim().replace("#", "");
    return [0, 2, 4].map((i) => Number.parseInt(h.slice(i, i + 2), 16));
  }
  function luminance(rgb) {
    const c = rgb.map((v) => {
      const x = v / 255;
      return x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  }
  function contrast(a, b) {
    const la = luminance(a);
    const lb = luminance(b);
    return (Math.max(la, lb) + 0.05) / (Math.min(la, lb) + 0.05);
  }
  const INKS = [
    [255, 255, 255],
    [27, 31, 36],
    [0, 0, 0],
  ];
  function inkFor(bg) {
    const best = INKS.slice(0, 2).sort((a, b) => contrast(b, bg) - contrast(a, bg))[0];
    return contrast(best, bg) >= 4.5 ? best : INKS[2];
  }
  function ramp() {
    const cs = getComputedStyle($("leaderboard"));
    return [rgbOf(cs.getPropertyValue("--heat-lo") || "#edf2ff"), rgbOf(cs.getPropertyValue("--heat-hi") || "#364fc7")];
  }
  const css = (rgb) => `rgb(${rgb.join(",")})`;

  /* ---- leaderboard ---- */
  function renderLeaderboard(s) {
    const table = PG.clear($("leaderboard"));
    const kind = s.lb;
    const d = D.dataset(s.ds);
    const view = P.viewOf(s);
    $("lb-sub").textContent =
      `${kind === "score" ? "Mean search score" : `Mean precision@${D.k()}`} over all ${d.n_images} images of ${d.name}, ${D.metric(s.metric).name} distance, for every model (rows) and layer (columns, shallow → deep). Click a cell to search with it.`;
    if (d.labeled === false) {
      table.appendChild(el("caption", { text: "This dataset has no categories, so there are no scores to compare." }));
      return;
    }
    const models = D.models();
    const rows = models.map((m) => ({ m, v: D.leaderboard(kind, view, m.slug) || [] }));
    const all = rows.flatMap((r) => r.v.filter((x) => typeof x === "number"));
    const lo = all.length ? Math.min(...all) : 0;
    const hi = all.length ? Math.max(...all) : 1;
    const nCols = Math.max(...models.map((m) => m.layers.length));
    const [cLo, cHi] = ramp();
    table.style.setProperty("--cols", String(nCols));
    const head = el("tr", null, [el("th", { scope: "col", class: "heat-corner", text: "Model" })]);
    for (let c = 0; c < nCols; c++) {
      head.appendChild(
        el("th", {
          scope: "col",
          text: `L${c + 1}`,
          title: c === 0 ? "first conv layer" : c === nCols - 1 ? "last conv layer" : "",
        })
      );
    }
    table.appendChild(el("caption", { class: "sr-only", text: `Leaderboard: ${$("lb-sub").textContent}` }));
    table.appendChild(el("thead", null, head));
    const tb = el("tbody");
    for (const r of rows) {
      const nums = r.v.filter((x) => typeof x === "number");
      const rowBest = nums.length ? Math.max(...nums) : null;
      const th = el("th", { scope: "row" }, [
        el("span", { text: r.m.display }),
        r.m.random ? PG.randomBadge(true) : null,
      ]);
      const tr = el("tr", { class: r.m.slug === s.model ? "is-current" : "" }, th);
      for (let c = 0; c < nCols; c++) {
        const x = r.v[c];
        const layer = r.m.layers[c];
        if (typeof x !== "number" || !layer) {
          tr.appendChild(el("td", { class: "empty", text: "–" }));
          continue;
        }
        const t = hi > lo ? (x - lo) / (hi - lo) : 0.5;
        const txt = kind === "score" ? x.toFixed(1) : x.toFixed(2);
        const isBest = x === hi;
        const current = r.m.slug === s.model && layer.slug === s.layer;
        const b = el(
          "button",
          {
            type: "button",
            class: `heat-cell${x === rowBest ? " row-best" : ""}${isBest ? " all-best" : ""}${current ? " is-current" : ""}`,
            "aria-label": `${r.m.display}, layer ${c + 1} ${layer.name}: ${txt}${isBest ? ", best" : ""}`,
            title: layer.name,
          },
          [isBest ? el("span", { class: "star", "aria-hidden": "true", text: "★" }) : null, txt]
        );
        const bg = cLo.map((v, i) => Math.round(v + (cHi[i] - v) * t));
        b.style.background = css(bg);
        b.style.color = css(inkFor(bg));
        const m = r.m.slug;
        const l = layer.slug;
        b.addEventListener("click", () => {
          P.last = "layer";
          P.set({ model: m, layer: l }, true, { reveal: true });
        });
        tr.appendChild(el("td", null, b));
      }
      tb.appendChild(tr);
    }
    table.appendChild(tb);
  }

  /* ---- compare: the selected image's score with every model and layer ---- */
  let compareFor = "";
  function renderCompare(ctx) {
    const { s, view, listing } = ctx;
    const box = $("compare");
    if (D.dataset(s.ds).labeled === false) {
      PG.clear(box).appendChild(
        el("p", { class: "muted", text: "This dataset has no categories, so there are no scores to compare." })
      );
      return;
    }
    const key = `${D.viewKey(view)}/${s.q}`;
    compareFor = key;
    D.compare(view, s.q).then(
      (rows) => {
        if (key === compareFor && P.state().tab === "compare") drawCompare(s, listing, rows);
      },
      () =>
        PG.clear(box).appendChild(el("p", { class: "muted", text: "The comparison was not built for this dataset." }))
    );
  }

  function drawCompare(s, listing, rows) {
    const box = PG.clear($("compare"));
    const rec = listing.images[s.q];
    $("cmp-sub").textContent =
      `Search score of this image (${P.className(listing, rec.label) || `#${s.q}`}) with every model and layer, ${D.metric(s.metric).name} distance. The best is marked ★; click a bar to search with it.`;
    const all = rows.flatMap((r) => r.scores.filter((v) => v !== null));
    const best = all.length ? Math.max(...all) : null;
    for (const r of rows) {
      const m = D.model(r.model);
      const card = el("div", { class: `cmp-model${r.model === s.model ? " is-current" : ""}` });
      card.appendChild(
        el("h3", { class: "cmp-title" }, [el("span", { text: m.display }), m.random ? PG.randomBadge(true) : null])
      );
      const bars = el("div", { class: "cmp-bars", role: "group", "aria-label": `${m.display} search score by layer` });
      r.layers.forEach((ls, i) => {
        const v = r.scores[i];
        const ok = v !== null;
        const isBest = ok && v === best;
        const layer = m.layers.find((l) => l.slug === ls);
        const fill = el("span", { class: "cmp-fill" });
        fill.style.height = `${ok ? Math.max(1.5, v) : 0}%`;
        const b = el(
          "button",
          {
            type: "button",
            class: `cmp-bar${isBest ? " is-best" : ""}${r.model === s.model && ls === s.layer ? " is-current" : ""}`,
            "aria-label": `${m.display} layer ${i + 1} ${layer.name}: ${ok ? v.toFixed(1) : "no score"}${isBest ? ", best" : ""}`,
            title: `${layer.name}: ${ok ? v.toFixed(1) : "–"}`,
          },
          [fill, isBest ? el("span", { class: "cmp-star", "aria-hidden": "true", text: "★" }) : null]
        );
        b.addEventListener("click", () => {
          P.last = "layer";
          P.set({ model: r.model, layer: ls }, true, { reveal: true });
        });
        bars.appendChild(b);
      });
      card.appendChild(bars);
      const vals = r.scores.filter((v) => v !== null);
      const mx = vals.length ? Math.max(...vals) : null;
      card.appendChild(
        el("p", { class: "cmp-foot" }, [
          el("span", { text: "L1" }),
          el("span", { text: mx === null ? "–" : `best ${mx.toFixed(1)}` }),
          el("span", { text: `L${r.layers.length}` }),
        ])
      );
      box.appendChild(card);
    }
  }

  PG.searchAnalysis = {
    init() {
      const tabs = [$("tab-leaderboard"), $("tab-compare")];
      PG.tabs(tabs, (id) => P.set({ tab: id === "tab-compare" ? "compare" : "leaderboard" }, false));
      $("lb-score").addEventListener("click", () => P.set({ lb: "score" }, false));
      $("lb-prec").addEventListener("click", () => P.set({ lb: "precision" }, false));
      // the ramp follows the colour scheme
      window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => renderLeaderboard(P.state()));
      P.panel({
        config(s) {
          PG.selectTab(tabs, s.tab === "compare" ? "tab-compare" : "tab-leaderboard");
          $("lb-score").setAttribute("aria-pressed", s.lb === "score" ? "true" : "false");
          $("lb-prec").setAttribute("aria-pressed", s.lb === "precision" ? "true" : "false");
          renderLeaderboard(s);
        },
        view(ctx) {
          if (ctx.s.tab === "compare") renderCompare(ctx);
        },
      });
    },
    contrast,
  };
})();
