/* ConvNet Playground, Semantic Search: the configuration: chips (dataset · model · layer · pooling · metric),
 * the advanced panel's tile rows with their connectors, the layer details, and ←/→ stepping through the control
 * used last. The pooling row and chip appear only when the build has more than one pooling.
 */
(() => {
  const PG = window.PG;
  const D = PG.data;
  const P = PG.search;
  const $ = PG.$;
  const el = PG.el;
  const ROWS = ["dataset", "model", "layer", "pooling", "metric"];
  let layerImage = null; // (model, layer) -> feature visualization path, once explorer/index is loaded
  let layerTilesFor = "";
  let mosaics = false;

  const stateKey = (row) => (row === "dataset" ? "ds" : row === "pooling" ? "pool" : row);
  const pooled = () => D.poolings().length > 1;
  const rows = () => ROWS.filter((r) => r !== "pooling" || pooled());

  function chip(label, value, extra, row) {
    return el("button", { type: "button", class: "chip", "data-row": row, onclick: () => openAdvanced(row) }, [
      el("span", { class: "chip-label", text: label }),
      el("span", { class: "chip-value", text: value }),
      extra || null,
    ]);
  }

  function renderChips(s) {
    const m = D.model(s.model);
    const li = D.layerIndex(m, s.layer);
    const box = PG.clear($("config-chips"));
    box.appendChild(chip("Dataset", D.dataset(s.ds).name, null, "dataset"));
    box.appendChild(chip("Model", m.display, m.random ? PG.randomBadge(true) : null, "model"));
    box.appendChild(chip("Layer", `${li + 1}/${m.layers.length} · ${m.layers[li].name}`, null, "layer"));
    if (pooled()) box.appendChild(chip("Pooling", D.pooling(s.pool).name, null, "pooling"));
    box.appendChild(chip("Metric", D.metric(s.metric).name, null, "metric"));
  }

  function setLast(row) {
    P.last = row;
    $("kbd-target").textContent = row;
  }

  function openAdvanced(row) {
    if (!P.state().adv) P.set({ adv: true }, false);
    setLast(row);
    const sel = document.querySelector(`#tiles-${row} [aria-checked=true]`);
    if (sel) {
      sel.focus({ preventScroll: true });
      sel.scrollIntoView({ block: "nearest", inline: "nearest", behavior: PG.reducedMotion() ? "auto" : "smooth" });
    }
  }

  function pick(row, value) {
    setLast(row);
    if (P.state()[stateKey(row)] === value) return;
    const patch = {};
    patch[stateKey(row)] = value;
    P.set(patch, true);
  }

  /* Scroll a tile row sideways (never the page) so that its selected tile is in view. */
  function showSelected(box) {
    const sel = box.querySelector("[aria-checked=true]");
    if (!sel || box.scrollWidth <= box.clientWidth) return;
    const b = box.getBoundingClientRect();
    const r = sel.getBoundingClientRect();
    if (r.left >= b.left && r.right <= b.right) return;
    box.scrollLeft += r.left - b.left - (b.width - r.width) / 2;
  }

  function buildTiles() {
    const dBox = $("tiles-dataset");
    for (const d of D.datasets()) {
      const n = d.n_images;
      const mosaic = el("span", { class: "mosaic", "aria-hidden": "true", "data-ds": d.slug });
      for (let i = 0; i < 4; i++) mosaic.appendChild(el("span", { class: "thumb" }));
      const meta = `${n.toLocaleString("en-US")} images · ${d.labeled ? `${d.n_classes} categories` : "no categories"}`;
      dBox.appendChild(
        el(
          "button",
          { type: "button", role: "radio", class: "tile tile-dataset", "data-value": d.slug, "aria-checked": "false" },
          [mosaic, el("span", { class: "tile-title", text: d.name }), el("span", { class: "tile-meta", text: meta })]
        )
      );
    }
    const mBox = $("tiles-model");
    for (const m of D.models()) {
      mBox.appendChild(
        el(
          "button",
          { type: "button", role: "radio", class: "tile tile-model", "data-value": m.slug, "aria-checked": "false" },
          [
            el("span", { class: "tile-title", text: m.display }),
            el("span", { class: "tile-meta", text: `${PG.fmtParams(m.params)} params` }),
            el("span", { class: "tile-meta", text: `${m.n_layers} layers`, title: `input ${m.input_size} px` }),
            m.random ? PG.randomBadge(true) : null,
          ]
        )
      );
    }
    const choice = (box, list) => {
      for (const me of list) {
        box.appendChild(
          el(
            "button",
            {
              type: "button",
              role: "radio",
              class: "tile tile-metric",
              "data-value": me.slug,
              "aria-checked": "false",
              title: me.description,
            },
            [
              el("span", { class: "tile-title", text: me.name }),
              el("span", { class: "tile-meta tile-desc", text: me.description }),
            ]
          )
        );
      }
    };
    choice($("tiles-metric"), D.metrics());
    choice($("tiles-pooling"), D.poolings());
    document.querySelector(".adv-row[data-row=pooling]").hidden = !pooled();
    for (const row of ROWS) {
      const box = $(`tiles-${row}`);
      box.addEventListener("click", (ev) => {
        const t = ev.target.closest("[role=radio]");
        if (t) pick(row, t.getAttribute("data-value"));
      });
      box.addEventListener("focusin", () => setLast(row));
      box.addEventListener("scroll", () => requestAnimationFrame(drawConnectors), { passive: true });
      PG.radioGroup(box, (v) => pick(row, v));
    }
  }

  /* A small picture of depth when no feature visualization exists: finer grids deeper in the network. */
  function glyph(i, n) {
    const s = PG.svg("svg", { viewBox: "0 0 64 64", class: "tile-glyph", "aria-hidden": "true", focusable: "false" });
    const cells = 2 + Math.round((i / Math.max(1, n - 1)) * 6);
    const step = 64 / cells;
    for (let a = 0; a < cells; a++) {
      for (let b = 0; b < cells; b++) {
        if ((a + b + i) % 3 === 0) continue;
        const cls = `g${(a * 7 + b * 3 + i) % 3}`;
        s.appendChild(
          PG.svg("rect", { x: a * step + 1, y: b * step + 1, width: step - 2, height: step - 2, rx: 1.5, class: cls })
        );
      }
    }
    return s;
  }

  /* The dataset tiles' mosaics: four thumbnails spread over each dataset (its file holds the sprite geometry;
     read once the advanced panel is opened). */
  function paintMosaics() {
    if (mosaics) return;
    mosaics = true;
    for (const d of D.datasets()) {
      D.listing(d.slug).then(
        (lst) => {
          const cells = document.querySelectorAll(`#tiles-dataset .mosaic[data-ds="${d.slug}"] .thumb`);
          cells.forEach((c, i) => {
            PG.paintThumb(c, lst.thumb(Math.min(lst.n - 1, Math.floor((i / 4) * lst.n))));
          });
        },
        () => {}
      );
    }
  }

  function buildLayerTiles(s) {
    const model = D.model(s.model);
    const box = PG.clear($("tiles-layer"));
    const scores = D.leaderboard("score", P.viewOf(s), model.slug) || [];
    let best = -1;
    scores.forEach((v, i) => {
      if (typeof v === "number" && (best < 0 || v > scores[best])) best = i;
    });
    model.layers.forEach((l, i) => {
      const fv = layerImage ? PG.fvUrl(layerImage(model.slug, l.slug)) : "";
      const vis = fv
        ? el("img", { class: "tile-fv", src: fv, alt: "", loading: "lazy", width: 64, height: 64 })
        : glyph(i, model.layers.length);
      const v = scores[i];
      const has = typeof v === "number";
      const bar = el("span", { class: "tile-bar" }, el("span", { class: "tile-bar-fill" }));
      if (has) bar.firstChild.style.width = `${Math.max(0, Math.min(100, v))}%`;
      box.appendChild(
        el(
          "button",
          {
            type: "button",
            role: "radio",
            class: `tile tile-layer${i === best ? " is-best" : ""}`,
            "data-value": l.slug,
            "aria-checked": "false",
            "aria-label": `Layer ${i + 1} of ${model.layers.length}: ${l.name}${has ? `, mean search score ${v.toFixed(1)}` : ""}`,
            title: l.name,
          },
          [
            vis,
            el("span", { class: "tile-title" }, [
              el("span", { class: "tile-step", text: `L${i + 1}` }),
              " ",
              el("span", { class: "tile-name", text: l.name }),
            ]),
            el("span", { class: "tile-meta", text: `${l.channels} ch · ${l.type}` }),
            bar,
            el("span", { class: "tile-score", text: has ? (i === best ? "★ " : "") + v.toFixed(1) : "–" }),
          ]
        )
      );
    });
  }

  function renderLayerDetails(s) {
    const m = D.model(s.model);
    const li = D.layerIndex(m, s.layer);
    const l = m.layers[li];
    const view = P.viewOf(s);
    const at = (kind) => (D.leaderboard(kind, view, m.slug) || [])[li];
    const score = at("score");
    const prec = at("precision");
    const knn = at("knn");
    const probe = at("probe");
    const sd = at("probe_std");
    const num = (v) => typeof v === "number";
    const items = [
      ["Layer", l.name],
      ["Type", l.type],
      ["Depth", `layer ${l.depth_index + 1} of ${m.n_layers} (conv ${l.conv_index + 1} of ${l.n_conv})`],
      ["Parameters", l.params.toLocaleString("en-US")],
      ["Channels", String(l.channels)],
      ["Output", PG.fmtShape(l.output_shape)],
      [
        "Mean score here",
        num(score) ? score.toFixed(1) + (num(prec) ? `  ·  precision@${D.k()} ${prec.toFixed(2)}` : "") : "n/a",
      ],
      ["kNN accuracy", num(knn) ? `${knn.toFixed(1)} %` : "n/a"],
      ["Linear probe", num(probe) ? `${probe.toFixed(1)} %${num(sd) ? ` ± ${sd.toFixed(1)}` : ""}` : "n/a"],
    ];
    const dl = el("dl", { class: "facts" });
    for (const it of items) dl.appendChild(el("div", null, [el("dt", { text: it[0] }), el("dd", { text: it[1] })]));
    PG.clear($("layer-details")).appendChild(dl);
  }

  /* Curves from the chosen dataset to model to layer to metric, and on to the results. */
  function drawConnectors() {
    const svg = PG.clear($("connectors"));
    const panel = $("advanced");
    if (panel.hidden) return;
    const pr = panel.getBoundingClientRect();
    svg.setAttribute("width", pr.width);
    svg.setAttribute("height", pr.height);
    svg.setAttribute("viewBox", `0 0 ${pr.width} ${pr.height}`);
    const sel = rows().map((r) => {
      const t = document.querySelector(`#tiles-${r} [aria-checked=true]`);
      if (!t) return null;
      const rr = t.getBoundingClientRect();
      const box = t.parentNode.getBoundingClientRect();
      const cx = Math.max(box.left + 8, Math.min(box.right - 8, rr.left + rr.width / 2)) - pr.left;
      return { x: cx, top: rr.top - pr.top, bottom: rr.bottom - pr.top };
    });
    let d = "";
    for (let i = 0; i < sel.length - 1; i++) {
      const a = sel[i];
      const b = sel[i + 1];
      if (!a || !b) continue;
      const my = (a.bottom + b.top) / 2;
      d += `M${a.x} ${a.bottom + 2} C${a.x} ${my} ${b.x} ${my} ${b.x} ${b.top - 4} `;
    }
    const lastSel = sel[sel.length - 1];
    if (lastSel) {
      const ex = pr.width / 2;
      const ey = pr.height - 2;
      const m2 = (lastSel.bottom + ey) / 2;
      d += `M${lastSel.x} ${lastSel.bottom + 2} C${lastSel.x} ${m2} ${ex} ${m2} ${ex} ${ey}`;
    }
    svg.appendChild(PG.svg("path", { d, class: "connector" }));
    for (const s of sel)
      if (s) svg.appendChild(PG.svg("circle", { cx: s.x, cy: s.bottom + 2, r: 3.5, class: "connector-dot" }));
  }

  function ensureLayerImages() {
    if (layerImage) return;
    D.layerImages().then((f) => {
      if (!f || layerImage) return;
      layerImage = f;
      layerTilesFor = "";
      config(P.state(), P.state());
    });
  }

  /* Everything here depends on the configuration only: rendered at once, before the view's data loads. */
  function config(s) {
    renderChips(s);
    const key = `${s.ds}/${s.model}/${s.pool}/${s.metric}`;
    if (key !== layerTilesFor) {
      buildLayerTiles(s);
      layerTilesFor = key;
    }
    for (const row of ROWS) PG.markRadios($(`tiles-${row}`), s[stateKey(row)]);
    renderLayerDetails(s);
    $("kbd-target").textContent = P.last;
    $("advanced").hidden = !s.adv;
    $("adv-toggle").setAttribute("aria-expanded", s.adv ? "true" : "false");
    if (s.adv) {
      ensureLayerImages();
      paintMosaics();
      for (const row of ROWS) showSelected($(`tiles-${row}`));
      requestAnimationFrame(drawConnectors);
    }
  }

  /* ←/→ anywhere (outside controls that use arrows themselves) step through the control used last. */
  function step(dir) {
    const s = P.state();
    const row = P.last;
    let list;
    if (row === "dataset") list = D.datasets();
    else if (row === "model") list = D.models();
    else if (row === "metric") list = D.metrics();
    else if (row === "pooling") list = D.poolings();
    else list = D.model(s.model).layers;
    const slugs = list.map((x) => x.slug);
    const i = slugs.indexOf(s[stateKey(row)]) + dir;
    if (i >= 0 && i < slugs.length) pick(row, slugs[i]);
  }

  function onKey(ev) {
    if (ev.defaultPrevented || ev.altKey || ev.ctrlKey || ev.metaKey || ev.shiftKey) return;
    if (ev.key !== "ArrowLeft" && ev.key !== "ArrowRight") return;
    const t = ev.target;
    const own =
      "input, textarea, select, [contenteditable], [role=tablist], [role=radiogroup], canvas, dialog, .table-scroll, .tiles, .grid";
    if (t?.closest?.(own)) return;
    ev.preventDefault();
    step(ev.key === "ArrowRight" ? 1 : -1);
  }

  PG.searchConfig = {
    init() {
      buildTiles();
      $("adv-toggle").addEventListener("click", () => P.set({ adv: !P.state().adv }, false));
      document.addEventListener("keydown", onKey);
      window.addEventListener("resize", () => {
        if (P.state().adv) requestAnimationFrame(drawConnectors);
      });
      P.panel({ config });
    },
  };
})();
