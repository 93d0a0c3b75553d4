/* ConvNet Playground: the Model Explorer page.
 *
 * State in the URL hash: model, layer, ch (the enlarged channel), table (the full layer table is open).
 * Data: only through explorer-data.js (PG.exData).
 */
(() => {
  const PG = window.PG;
  const X = PG.exData;
  const $ = PG.$;
  const el = PG.el;
  let S = { model: "", layer: "", ch: null, table: false };
  let CH = null; // channels of the current layer: [{channel, image (null while pending), examples}]
  let CH_PENDING = false;
  let chKey = "";
  let seq = 0;

  const short = (v) => (v.length > 40 ? `${v.slice(0, 39)}…` : v);

  /* ------------------------------------------------------------------ state */
  /* The hash checked against the build: {state, problems} (sentences for the visitor). */
  function validate(h) {
    const problems = [];
    const s = {};
    const known = X.model(h.model);
    const m = known || X.models().find((x) => x.hasFv) || X.models()[0];
    if (h.model !== undefined && !known)
      problems.push(`“${short(h.model)}” is not a model in this build; showing ${m.display}.`);
    s.model = m.slug;
    const l = X.layer(m, h.layer) || m.layers[0];
    if (h.layer !== undefined && (h.model === undefined || known) && !X.layer(m, h.layer))
      problems.push(`“${short(h.layer)}” is not one of ${m.display}'s layers here; showing ${l.name}.`);
    s.layer = l.slug;
    s.ch = /^\d+$/.test(h.ch || "") ? Number.parseInt(h.ch, 10) : null;
    if (h.ch !== undefined && s.ch === null) problems.push(`“${short(h.ch)}” is not a channel number.`);
    s.table = h.table === "1";
    return { state: s, problems };
  }
  function fromHash() {
    const v = validate(PG.readHash());
    PG.notice(
      "link-notice",
      v.problems.length ? `This link asks for something this build does not have: ${v.problems.join(" ")}` : ""
    );
    return v;
  }
  function writeState(push) {
    PG.writeHash({ model: S.model, layer: S.layer, ch: S.ch === null ? "" : S.ch, table: S.table }, push);
  }
  function set(patch, push) {
    const prev = S;
    S = Object.assign({}, S, patch);
    if (patch.model && patch.model !== prev.model && !patch.layer) {
      const pm = X.model(prev.model);
      const nm = X.model(S.model);
      const pi = pm ? X.layerPos(pm, prev.layer) : 0;
      const frac = pm && pi >= 0 ? pi / Math.max(1, pm.layers.length - 1) : 0;
      S.layer = nm.layers[Math.round(frac * (nm.layers.length - 1))].slug;
    }
    if ((patch.model || patch.layer) && patch.ch === undefined && (prev.model !== S.model || prev.layer !== S.layer))
      S.ch = null;
    writeState(push);
    update(prev);
  }

  /* ----------------------------------------------------------------- render */
  function buildModelTiles() {
    const box = PG.clear($("ex-models"));
    for (const m of X.models()) {
      const l = m.layers[m.layers.length - 1];
      const img = PG.fvUrl(X.firstImage(m, l));
      box.appendChild(
        el(
          "button",
          { type: "button", role: "radio", class: "tile tile-model", "data-value": m.slug, "aria-checked": "false" },
          [
            img ? el("img", { class: "tile-fv", src: img, alt: "", loading: "lazy", width: 64, height: 64 }) : null,
            el("span", { class: "tile-title", text: m.display }),
            el("span", { class: "tile-meta", text: `${PG.fmtParams(m.params)} params` }),
            el("span", { class: "tile-meta", text: `${m.n_layers} layers · ${m.input_size} px` }),
            m.random ? PG.randomBadge(true) : null,
            m.quick ? el("span", { class: "badge badge-quick badge-small", text: "quick preview" }) : null,
            m.hasFv ? null : el("span", { class: "tile-meta", text: "not visualized" }),
          ]
        )
      );
    }
    box.addEventListener("click", (ev) => {
      const t = ev.target.closest("[role=radio]");
      if (t) pickModel(t.getAttribute("data-value"));
    });
    PG.radioGroup(box, pickModel);
  }
  function pickModel(v) {
    if (v !== S.model) set({ model: v }, true);
  }
  function pickLayer(v) {
    if (v !== S.layer) set({ layer: v }, true);
  }

  function buildLayerTiles() {
    const m = X.model(S.model);
    const box = PG.clear($("ex-layers"));
    box.appendChild(el("span", { class: "ex-rail", "aria-hidden": "true" }));
    m.layers.forEach((l, i) => {
      const img = PG.fvUrl(X.firstImage(m, l));
      box.appendChild(
        el(
          "button",
          {
            type: "button",
            role: "radio",
            class: "tile tile-layer",
            "data-value": l.slug,
            "aria-checked": "false",
            title: l.name,
            "aria-label": `Layer ${i + 1} of ${m.layers.length}: ${l.name}${l.pending ? " (pending, rendered by the next build)" : ""}`,
          },
          [
            img ? el("img", { class: "tile-fv", src: img, alt: "", loading: "lazy", width: 64, height: 64 }) : null,
            el("span", { class: "tile-title" }, [
              el("span", { class: "tile-step", text: `L${i + 1}` }),
              " ",
              el("span", { class: "tile-name", text: l.name }),
            ]),
            el("span", { class: "tile-meta", text: `${l.channels} ch · ${l.type}` }),
            l.pending
              ? el("span", {
                  class: "badge badge-pending badge-small",
                  text: "pending",
                  title: "Not rendered yet: a time budget stopped the build first; the next build renders it.",
                })
              : null,
          ]
        )
      );
    });
    // the depth track: where each selected layer sits among all layers of the model
    const track = PG.clear($("ex-depth"));
    track.appendChild(el("span", { class: "depth-line" }));
    const total = m.n_layers;
    for (const l of m.layers) {
      const dot = el("span", { class: "depth-dot", "data-value": l.slug });
      dot.style.left = `${((l.depth_index / Math.max(1, total - 1)) * 100).toFixed(2)}%`;
      track.appendChild(dot);
    }
    const a = el("span", { class: "depth-label", text: "input" });
    a.style.left = "0";
    const b = el("span", { class: "depth-label", text: `output (${total} layers)` });
    b.style.right = "0";
    track.appendChild(a);
    track.appendChild(b);
    $("ex-table-model").textContent = m.display;
  }

  function renderFacts() {
    const m = X.model(S.model);
    const i = X.layerPos(m, S.layer);
    const l = m.layers[i];
    const dl = el("dl", { class: "facts" });
    for (const it of [
      ["Layer", l.name],
      ["Selected layer", `${i + 1} of the ${m.layers.length} this site uses`],
      ["Type", l.type],
      ["Depth", `layer ${l.depth_index + 1} of all ${m.n_layers}`],
      ["Parameters", l.params.toLocaleString("en-US")],
      ["Channels", String(l.channels)],
      ["Output", PG.fmtShape(l.output_shape)],
      m.render_size ? ["Rendered at", `${m.render_size} px${m.steps ? `, ${m.steps} optimisation steps` : ""}`] : null,
      l.pending ? ["Visualizations", "pending, rendered by the next build"] : null,
    ]) {
      if (it) dl.appendChild(el("div", null, [el("dt", { text: it[0] }), el("dd", { text: it[1] })]));
    }
    PG.clear($("ex-layer-facts")).appendChild(dl);
    for (const d of $("ex-depth").querySelectorAll(".depth-dot"))
      d.setAttribute("aria-current", d.getAttribute("data-value") === S.layer ? "true" : "false");
  }

  function update(prev) {
    const token = ++seq;
    if (!prev || prev.model !== S.model) buildLayerTiles();
    PG.markRadios($("ex-models"), S.model);
    PG.markRadios($("ex-layers"), S.layer);
    renderFacts();
    const m = X.model(S.model);
    const l = X.layer(m, S.layer);
    const key = `${S.model}/${S.layer}`;
    const grid = $("channels");
    if (!m.hasFv) {
      CH = null;
      chKey = "";
      PG.clear(grid).appendChild(
        el("div", { class: "empty-state", role: "listitem" }, [
          el("p", { text: `No feature visualizations were built for ${m.display}.` }),
          el("p", null, [
            "Build them with ",
            el("code", { text: `playground featurevis --models ${m.slug}` }),
            " (or ",
            el("code", { text: "--quick" }),
            " for a fast preview), then render again.",
          ]),
        ])
      );
      $("ex-ch-sub").textContent = "";
      syncDialogs();
      document.body.setAttribute("data-ready", String(token));
      return;
    }
    const nv = l.visualized.length;
    const live = l.channels - l.dead;
    const how = nv < live ? `${nv} of its ${live} live channels, picked at random (seeded)` : `all ${nv} live channels`;
    const dead = l.dead > 0 ? `; ${l.dead} never fire on the datasets and are left out` : "";
    const pend = l.pending
      ? " Pending: the build stopped (time budget) before rendering this layer; it is rendered by the next build."
      : "";
    $("ex-ch-sub").textContent =
      `This layer has ${l.channels} channels. Shown: ${how}${dead}.${m.quick ? " Quick preview (fewer optimisation steps, smaller images)." : ""}${pend}`;
    const ready = chKey === key ? Promise.resolve({ pending: CH_PENDING, channels: CH }) : X.channels(S.model, S.layer);
    ready.then(
      (d) => {
        if (token !== seq) return;
        if (chKey !== key) {
          CH = d.channels;
          CH_PENDING = d.pending;
          chKey = key;
          renderChannels();
        }
        if (S.ch !== null && !CH.some((c) => c.channel === S.ch)) {
          // a link to a channel this layer does not show: say so, and drop it from the address
          PG.notice(
            "link-notice",
            `This link asks for something this build does not have: channel ${S.ch} is not among the ${CH.length} channels shown for ${l.name}.`
          );
          S = Object.assign({}, S, { ch: null });
          writeState(false);
        }
        syncDialogs();
        document.body.setAttribute("data-ready", String(token));
      },
      () => {
        if (token !== seq) return;
        PG.clear(grid).appendChild(
          el("div", { class: "empty-state", text: "This layer's visualizations are missing from the build." })
        );
      }
    );
  }

  function renderChannels() {
    const grid = PG.clear($("channels"));
    const m = X.model(S.model);
    const l = X.layer(m, S.layer);
    CH.forEach((c, i) => {
      const src = c.image ? PG.fvUrl(c.image) : "";
      const b = el(
        "button",
        {
          type: "button",
          class: "channel",
          "data-ch": c.channel,
          tabindex: i === 0 ? 0 : -1,
          "aria-label": `Channel ${c.channel} of ${l.channels} in ${l.name}${src ? "" : " (pending)"}: enlarge`,
        },
        [
          src
            ? el("img", {
                src,
                alt: `Feature visualization of channel ${c.channel} of layer ${l.name}`,
                width: 128,
                height: 128,
                loading: "lazy",
              })
            : el("span", { class: "channel-pending", text: "pending, rendered by the next build" }),
          el("span", { text: `channel ${c.channel}` }),
        ]
      );
      b.addEventListener("click", () => set({ ch: c.channel }, true));
      grid.appendChild(el("div", { role: "listitem", class: "channel-item" }, b));
    });
    grid.onkeydown = (ev) => {
      const items = Array.from(grid.querySelectorAll(".channel"));
      const i = items.indexOf(document.activeElement);
      if (i < 0) return;
      const cols = Math.max(1, Math.round(grid.clientWidth / (items[0].offsetWidth + 10)));
      const moves = {
        ArrowRight: i + 1,
        ArrowLeft: i - 1,
        ArrowDown: i + cols,
        ArrowUp: i - cols,
        Home: 0,
        End: items.length - 1,
      };
      if (!(ev.key in moves)) return;
      ev.preventDefault();
      const j = Math.max(0, Math.min(items.length - 1, moves[ev.key]));
      items[i].tabIndex = -1;
      items[j].tabIndex = 0;
      items[j].focus();
    };
  }

  /* ---------------------------------------------------------------- dialogs */
  function syncDialogs() {
    const dc = $("dlg-channel");
    const cur = CH && S.ch !== null ? CH.find((c) => c.channel === S.ch) : null;
    if (cur) {
      fillChannel(cur);
      if (!dc.open) dc.showModal();
    } else if (dc.open) {
      dc.close();
    }
    const dt = $("dlg-table");
    if (S.table) {
      fillTable();
      if (!dt.open && !dc.open) dt.showModal();
    } else if (dt.open) {
      dt.close();
    }
  }

  /* Search from a dataset example with this very model and layer when semantic search has them. */
  function exampleLink(ds, id) {
    const p = { ds, q: String(id) };
    if (X.searchable(S.model, S.layer)) {
      p.model = S.model;
      p.layer = S.layer;
    }
    return new URLSearchParams(p).toString();
  }

  function fillChannel(c) {
    const m = X.model(S.model);
    const l = X.layer(m, S.layer);
    const idx = CH.indexOf(c);
    $("dlg-channel-title").textContent = `${m.display} · ${l.name} · channel ${c.channel}`;
    const img = $("dlg-img");
    if (c.image) {
      img.src = PG.fvUrl(c.image);
      img.alt = `Feature visualization of channel ${c.channel} of layer ${l.name} in ${m.display}`;
    } else {
      img.removeAttribute("src");
      img.alt = "Not rendered yet: pending, rendered by the next build";
    }
    $("dlg-pos").textContent = `${idx + 1} of the ${CH.length} channels shown`;
    $("dlg-prev").disabled = idx <= 0;
    $("dlg-next").disabled = idx >= CH.length - 1;
    const facts = PG.clear($("dlg-facts"));
    for (const it of [
      ["Model", m.display],
      ["Layer", `${l.name} (${l.type})`],
      ["Channel", `number ${c.channel} of the layer's ${l.channels} (counting from 0)`],
      ["Depth", `layer ${l.depth_index + 1} of all ${m.n_layers}`],
    ]) {
      facts.appendChild(el("div", null, [el("dt", { text: it[0] }), el("dd", { text: it[1] })]));
    }
    const box = PG.clear($("dlg-examples"));
    if (!c.examples.length) box.appendChild(el("p", { class: "muted", text: "No dataset examples for this channel." }));
    for (const [ds, id] of c.examples) {
      if (!PG.isSlug(ds) || typeof id !== "number") continue;
      const cap = el("figcaption", { text: `${ds} #${id}` });
      const image = el("span", { class: "thumb", role: "img", "aria-label": `Dataset example ${ds} #${id}` });
      const link = el(
        "a",
        { href: `index.html#${exampleLink(ds, id)}`, "aria-label": `Search with ${ds} image ${id}` },
        image
      );
      box.appendChild(el("figure", { class: "example" }, [link, cap]));
      // the thumbnail and the category once the dataset file is loaded
      X.describe(ds, id).then(
        (d) => {
          PG.paintThumb(image, d.thumb);
          if (!d.category) return;
          cap.textContent = `${d.category} · ${d.dataset}`;
          image.setAttribute("aria-label", `Dataset example: ${d.category} (${d.dataset})`);
          link.setAttribute("aria-label", `Search with this ${d.category} image of ${d.dataset}`);
        },
        () => {}
      );
    }
  }

  function fillTable() {
    const m = X.model(S.model);
    $("dlg-table-title").textContent = `All layers of ${m.display}`;
    const t = PG.clear($("layer-table"));
    const sel = Object.create(null);
    m.layers.forEach((l, i) => {
      sel[l.name] = i + 1;
    });
    const rows = m.table;
    $("dlg-table-sub").textContent = rows
      ? `${rows.length} layers; the ${m.layers.length} highlighted ones are used by semantic search and visualized here.`
      : `The full layer table was not built; the ${m.layers.length} selected layers are listed.`;
    t.appendChild(
      el(
        "thead",
        null,
        el(
          "tr",
          null,
          ["#", "Layer", "Type", "Output", "Parameters", "Shown"].map((h) => el("th", { scope: "col", text: h }))
        )
      )
    );
    const tb = el("tbody");
    for (const r of rows || m.layers) {
      const shown = sel[r.name];
      const pos = rows ? r.index : r.depth_index;
      tb.appendChild(
        el("tr", { class: shown ? "is-selected" : "" }, [
          el("td", { class: "num", text: String(pos + 1) }),
          el("td", { text: r.name }),
          el("td", { text: r.type }),
          el("td", { text: PG.fmtShape(r.output_shape) }),
          el("td", { class: "num", text: r.params.toLocaleString("en-US") }),
          el("td", { text: shown ? `L${shown}` : "" }),
        ])
      );
    }
    t.appendChild(tb);
  }

  function stepChannel(d) {
    if (!CH || S.ch === null) return;
    const j = CH.findIndex((c) => c.channel === S.ch) + d;
    if (j >= 0 && j < CH.length) set({ ch: CH[j].channel }, false);
  }

  function setupDialogs() {
    const dc = $("dlg-channel");
    const dt = $("dlg-table");
    for (const d of [dc, dt]) {
      d.querySelector("[data-close]").addEventListener("click", () => d.close());
      d.addEventListener("click", (ev) => {
        if (ev.target === d) d.close(); // backdrop
      });
    }
    dc.addEventListener("close", () => {
      if (S.ch === null) return;
      const ch = S.ch;
      set({ ch: null }, false);
      document.querySelector(`.channel[data-ch="${ch}"]`)?.focus();
    });
    dt.addEventListener("close", () => {
      if (S.table) set({ table: false }, false);
      $("ex-table-open").focus();
    });
    dc.addEventListener("keydown", (ev) => {
      if (ev.key === "ArrowRight" || ev.key === "ArrowLeft") {
        ev.preventDefault();
        stepChannel(ev.key === "ArrowRight" ? 1 : -1);
      }
    });
    $("dlg-prev").addEventListener("click", () => stepChannel(-1));
    $("dlg-next").addEventListener("click", () => stepChannel(1));
    $("ex-table-open").addEventListener("click", () => set({ table: true }, false));
  }

  function init() {
    if (!X.models().length) {
      PG.error("No models were built yet: run `playground build`.");
      return;
    }
    const pending = X.pending();
    if (pending) {
      $("ex-pending").textContent =
        `${pending} layer${pending === 1 ? " is" : "s are"} not rendered yet: a time budget stopped the build first. They are marked “pending” and rendered by the next build.`;
      $("ex-pending").hidden = false;
    }
    buildModelTiles();
    const lbox = $("ex-layers");
    lbox.addEventListener("click", (ev) => {
      const t = ev.target.closest("[role=radio]");
      if (t) pickLayer(t.getAttribute("data-value"));
    });
    PG.radioGroup(lbox, pickLayer);
    setupDialogs();
    PG.followHash((always) => {
      const v = fromHash();
      const same = JSON.stringify(v.state) === JSON.stringify(S);
      const prev = S;
      S = v.state;
      if (v.problems.length) writeState(false); // the address bar shows what is shown
      if (!always && same) return;
      update(prev);
    });
    S = fromHash().state;
    writeState(false);
    update(null);
  }

  PG.page = {
    state: () => Object.assign({}, S),
    models: () => X.models(),
  };

  X.init().then(init, () =>
    PG.error("The site data (data/index.js) is missing: run `playground build`, then open build/site/explorer.html.")
  );
})();
