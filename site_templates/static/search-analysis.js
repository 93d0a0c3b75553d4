/* ConvNet Playground, Semantic Search: "Which model, which layer?": the leaderboard (mean search score,
 * precision@k or kNN accuracy of every model x layer on this dataset, pooling and metric, or the linear-probe
 * accuracy with its spread; optionally the best pooling of each layer) and the comparison for the selected
 * image (or an uploaded one), with each layer's probe accuracy beside its bar. "n/a" for unlabelled datasets.
 * A click on a cell or bar searches with that model, layer (and pooling) and brings the results into view.
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
  const KINDS = {
    score: { name: "Mean search score", fmt: (x) => x.toFixed(1), metric: true },
    precision: { name: "Mean precision", fmt: (x) => x.toFixed(2), metric: true },
    knn: { name: "kNN accuracy (%)", fmt: (x) => x.toFixed(1), metric: true },
    probe: { name: "Linear-probe accuracy (%)", fmt: (x) => x.toFixed(1), metric: false },
  };

  /* The value of every layer of a model: [{v, sd, pool}] for the current pooling, or the best pooling of
     each layer (lbp = best). */
  function cellsOf(s, kind, model) {
    const pools = s.lbp === "best" ? D.poolings().map((p) => p.slug) : [s.pool];
    const out = [];
    for (const pool of pools) {
      const view = Object.assign(P.viewOf(s), { pooling: pool });
      const v = D.leaderboard(kind, view, model.slug) || [];
      const sd = kind === "probe" ? D.leaderboard("probe_std", view, model.slug) || [] : [];
      model.layers.forEach((_, i) => {
        if (typeof v[i] !== "number") return;
        if (!out[i] || v[i] > out[i].v) out[i] = { v: v[i], sd: typeof sd[i] === "number" ? sd[i] : null, pool };
      });
    }
    return out;
  }

  function renderLeaderboard(s) {
    const table = PG.clear($("leaderboard"));
    const kind = s.lb;
    const K = KINDS[kind];
    const d = D.dataset(s.ds);
    const multi = D.poolings().length > 1;
    const best = multi && s.lbp === "best";
    const what =
      kind === "precision"
        ? `Mean precision@${D.k()}`
        : kind === "score"
          ? "Mean search score"
          : kind === "knn"
            ? `kNN accuracy (each image labelled by the majority of its ${D.k()} nearest neighbours)`
            : "Linear-probe accuracy (a linear classifier on the layer's embeddings, held-out folds; ± its spread)";
    const how = K.metric ? `, ${D.metric(s.metric).name} distance` : " (it does not depend on the distance metric)";
    const pool = multi ? (best ? ", the best pooling of each layer" : `, ${D.pooling(s.pool).name} pooling`) : "";
    $("lb-sub").textContent =
      `${what} over all ${d.n_images.toLocaleString("en-US")} images of ${d.name}${how}${pool}, for every model (rows) and layer (columns, shallow → deep). Click a cell to search with it.`;
    if (!d.labeled) {
      table.appendChild(
        el("caption", { text: "n/a: this dataset has no categories, so there are no scores or accuracies to compare." })
      );
      return;
    }
    const models = D.models();
    const rows = models.map((m) => ({ m, v: cellsOf(s, kind, m) }));
    const all = rows.flatMap((r) => r.v.filter(Boolean).map((c) => c.v));
    if (!all.length) {
      table.appendChild(el("caption", { text: "n/a: this measure was not computed for this build." }));
      return;
    }
    const lo = Math.min(...all);
    const hi = Math.max(...all);
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
      const nums = r.v.filter(Boolean).map((c) => c.v);
      const rowBest = nums.length ? Math.max(...nums) : null;
      const th = el("th", { scope: "row" }, [
        el("span", { text: r.m.display }),
        r.m.random ? PG.randomBadge(true) : null,
      ]);
      const tr = el("tr", { class: r.m.slug === s.model ? "is-current" : "" }, th);
      for (let c = 0; c < nCols; c++) {
        const cellv = r.v[c];
        const layer = r.m.layers[c];
        if (!cellv || !layer) {
          tr.appendChild(el("td", { class: "empty", text: layer ? "n/a" : "–" }));
          continue;
        }
        const x = cellv.v;
        const t = hi > lo ? (x - lo) / (hi - lo) : 0.5;
        const txt = K.fmt(x);
        const isBest = x === hi;
        const poolName = D.pooling(cellv.pool).name;
        const current = r.m.slug === s.model && layer.slug === s.layer && cellv.pool === s.pool;
        const sd = cellv.sd !== null ? ` ± ${cellv.sd.toFixed(1)}` : "";
        const b = el(
          "button",
          {
            type: "button",
            class: `heat-cell${x === rowBest ? " row-best" : ""}${isBest ? " all-best" : ""}${current ? " is-current" : ""}`,
            "aria-label": `${r.m.display}, layer ${c + 1} ${layer.name}${best ? `, ${poolName} pooling` : ""}: ${txt}${sd}${isBest ? ", best" : ""}`,
            title: `${layer.name}${best ? ` · ${poolName} pooling` : ""}${sd ? ` · spread${sd}` : ""}`,
            "data-pool": cellv.pool,
          },
          [
            isBest ? el("span", { class: "star", "aria-hidden": "true", text: "★" }) : null,
            el("span", { class: "heat-value", text: txt }),
            sd ? el("span", { class: "heat-sd", "aria-hidden": "true", text: sd.replace(" ± ", "±") }) : null,
            best ? el("span", { class: "heat-pool", "aria-hidden": "true", text: poolName }) : null,
          ]
        );
        const bg = cLo.map((v, i) => Math.round(v + (cHi[i] - v) * t));
        b.style.background = css(bg);
        b.style.color = css(inkFor(bg));
        const m = r.m.slug;
        const l = layer.slug;
        const pl = cellv.pool;
        b.addEventListener("click", () => {
          P.last = "layer";
          P.set({ model: m, layer: l, pool: pl }, true, { reveal: true });
        });
        const use = el("button", {
          type: "button",
          class: "use-layer-btn",
          "aria-haspopup": "dialog",
          "aria-label": `Use this layer: ${r.m.display}, ${layer.name}, ${poolName} pooling`,
          title: "Use this layer (export command, code)",
          text: "⤓",
        });
        use.addEventListener("click", () =>
          PG.exportDialog?.open({ ds: s.ds, model: m, layer: l, pool: pl, metric: s.metric }, use)
        );
        tr.appendChild(el("td", null, [b, use]));
      }
      tb.appendChild(tr);
    }
    table.appendChild(tb);
  }

  /* ---- compare: the selected image's score with every model and layer ---- */
  let compareFor = "";
  function renderCompare(ctx) {
    const { s, view, listing: lst, upload, row } = ctx;
    const box = $("compare");
    if (!lst.labeled) {
      PG.clear(box).appendChild(
        el("p", { class: "muted", text: "n/a: this dataset has no categories, so there are no scores to compare." })
      );
      $("cmp-sub").textContent = "";
      return;
    }
    if (upload) {
      const cat = PG.searchResults.uploadCategory(lst, row, upload);
      const key = `upload/${view.ds}/${view.pooling}/${view.metric}`;
      compareFor = key;
      upload.compares = upload.compares || Object.create(null);
      const wait = el("p", { class: "muted", text: "Searching every model and layer…" });
      const progress = (msg) => {
        if (msg) wait.textContent = msg;
      };
      if (!upload.compares[key]) upload.compares[key] = D.compareUpload(view, upload, progress);
      PG.clear(box).appendChild(wait);
      upload.compares[key].then(
        (models) => {
          if (key !== compareFor || P.state().tab !== "compare" || P.upload() !== upload) return;
          const rows = models.map((m) => ({
            model: m.model,
            layers: m.layers,
            scores: m.rows.map((r) => (cat ? PG.searchScore(r.ids.map(lst.label), cat.c) : null)),
          }));
          const name = cat ? String(lst.classes[cat.c]) : "";
          drawCompare(
            s,
            rows,
            `Search score of your image with every model and layer, scored as ${name}${cat?.guessed ? " (guessed from the results, the nearest counting most; choose another above)" : ""}, ${D.metric(s.metric).name} distance.`
          );
        },
        (err) => {
          if (key !== compareFor) return;
          delete upload.compares[key];
          PG.clear(box).appendChild(el("p", { class: "muted", text: `The comparison failed: ${err.message}` }));
        }
      );
      return;
    }
    const key = `${D.viewKeys(view, s.q)[0]}/${s.q}`;
    compareFor = key;
    D.compare(view, s.q).then(
      (rows) => {
        if (key !== compareFor || P.state().tab !== "compare") return;
        const cls = lst.className(s.q);
        drawCompare(
          s,
          rows,
          `Search score of this image (${cls || `#${s.q}`}) with every model and layer, ${D.metric(s.metric).name} distance.`
        );
      },
      () =>
        PG.clear(box).appendChild(el("p", { class: "muted", text: "The comparison was not built for this dataset." }))
    );
  }

  function drawCompare(s, rows, sub) {
    const box = PG.clear($("compare"));
    const view = P.viewOf(s);
    const anyProbe = rows.some((r) => (D.leaderboard("probe", view, r.model) || []).some((v) => typeof v === "number"));
    $("cmp-sub").textContent =
      `${sub} Bars: this image's search score (0-100)${s.k === D.k() ? "" : ` at k = ${D.k()}, the build's (the results above show ${s.k})`}, the best marked ★; click a bar to search with it.${anyProbe ? " The dashed line on each bar is the layer's linear-probe accuracy in % on the whole dataset (the same for every image), on the same 0-100 scale." : ""}`;
    const all = rows.flatMap((r) => r.scores.filter((v) => v !== null));
    const best = all.length ? Math.max(...all) : null;
    // one model: one wide, taller chart with its layers named under the bars (not a 220 px sparkline)
    const single = rows.length === 1;
    box.classList.toggle("is-single", single);
    for (const r of rows) {
      const m = D.model(r.model);
      const probe = D.leaderboard("probe", view, r.model) || [];
      const card = el("div", { class: `cmp-model${r.model === s.model ? " is-current" : ""}` });
      card.appendChild(
        el("h3", { class: "cmp-title" }, [el("span", { text: m.display }), m.random ? PG.randomBadge(true) : null])
      );
      const bars = el("div", { class: "cmp-bars", role: "group", "aria-label": `${m.display} search score by layer` });
      r.layers.forEach((ls, i) => {
        const v = r.scores[i];
        const ok = v !== null;
        const isBest = ok && v === best;
        const li = D.layerIndex(m, ls);
        const layer = m.layers[li];
        const pr = probe[li];
        const hasProbe = typeof pr === "number";
        const fill = el("span", { class: "cmp-fill" });
        fill.style.height = `${ok ? Math.max(1.5, v) : 0}%`;
        let tick = null;
        if (hasProbe) {
          tick = el("span", { class: "cmp-probe", "aria-hidden": "true" });
          tick.style.bottom = `${Math.max(0, Math.min(100, pr))}%`;
        }
        const probeText = hasProbe ? `, linear probe ${pr.toFixed(1)} %` : "";
        const b = el(
          "button",
          {
            type: "button",
            class: `cmp-bar${isBest ? " is-best" : ""}${r.model === s.model && ls === s.layer ? " is-current" : ""}`,
            "aria-label": `${m.display} layer ${i + 1} ${layer.name}: ${ok ? v.toFixed(1) : "no score"}${isBest ? ", best" : ""}${probeText}`,
            title: `${layer.name}: ${ok ? v.toFixed(1) : "–"}${probeText}`,
          },
          [fill, tick, isBest ? el("span", { class: "cmp-star", "aria-hidden": "true", text: "★" }) : null]
        );
        b.addEventListener("click", () => {
          P.last = "layer";
          P.set({ model: r.model, layer: ls }, true, { reveal: true });
        });
        bars.appendChild(b);
      });
      // the scale both marks share: 0-100 (the search score; the probe's accuracy in %)
      const axis = el("div", { class: "cmp-axis", "aria-hidden": "true" }, [
        el("span", { text: "100" }),
        el("span", { text: "50" }),
        el("span", { text: "0" }),
      ]);
      card.appendChild(el("div", { class: "cmp-plot" }, [axis, bars]));
      if (single) {
        const names = el("div", { class: "cmp-names", "aria-hidden": "true" });
        r.layers.forEach((ls, i) => {
          const layer = m.layers[D.layerIndex(m, ls)];
          // the name where it fits, else the layer's number (a phone)
          names.appendChild(
            el("span", { title: layer.name }, [
              el("span", { class: "cmp-name", text: layer.name }),
              el("span", { class: "cmp-num", text: `L${i + 1}` }),
            ])
          );
        });
        card.appendChild(names);
      }
      const vals = r.scores.filter((v) => v !== null);
      const mx = vals.length ? Math.max(...vals) : null;
      const probes = probe.filter((v) => typeof v === "number");
      card.appendChild(
        el("p", { class: "cmp-foot" }, [
          el("span", { text: single ? "" : "L1" }),
          el("span", {
            text: `${mx === null ? "–" : `best ${mx.toFixed(1)}`}${probes.length ? ` · probe ${Math.max(...probes).toFixed(1)} %` : ""}`,
            title: probes.length
              ? "the best search score of this image, and the best linear-probe accuracy of a layer"
              : "",
          }),
          el("span", { text: single ? "" : `L${r.layers.length}` }),
        ])
      );
      box.appendChild(card);
    }
  }

  PG.searchAnalysis = {
    init() {
      const tabs = [$("tab-leaderboard"), $("tab-compare"), $("tab-classes")];
      PG.tabs(tabs, (id) => P.set({ tab: id.slice(4) }, false));
      const kinds = { "lb-score": "score", "lb-prec": "precision", "lb-knn": "knn", "lb-probe": "probe" };
      for (const id of Object.keys(kinds)) $(id).addEventListener("click", () => P.set({ lb: kinds[id] }, false));
      $("lb-bestpool").hidden = D.poolings().length < 2;
      $("lb-bestpool").addEventListener("click", () =>
        P.set({ lbp: P.state().lbp === "best" ? "cur" : "best" }, false)
      );
      // the ramp follows the colour scheme
      window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => renderLeaderboard(P.state()));
      P.panel({
        config(s) {
          PG.selectTab(tabs, `tab-${s.tab}`);
          for (const id of Object.keys(kinds))
            $(id).setAttribute("aria-pressed", s.lb === kinds[id] ? "true" : "false");
          $("lb-bestpool").setAttribute("aria-pressed", s.lbp === "best" ? "true" : "false");
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
