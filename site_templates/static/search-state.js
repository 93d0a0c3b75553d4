/* ConvNet Playground, Semantic Search: the page state and its router.
 *
 * State (all of it in the URL hash but an uploaded image): ds, model, layer, pool (pooling), metric, q (query
 * image id), k (results shown: 1 .. the build's k), adv (advanced panel), view (dataset browser: all | cat), tab
 * (leaderboard | compare | classes), lb (score | precision | knn | probe), lbp (leaderboard: cur | best pooling per
 * layer), cls (per-class table: worst | name), sel (a lasso on the map: "<layer>:x1,y1,x2,y2,..." in thousandths of
 * the map of that layer; the dataset grid shows the images inside it), color (the map's colours: class | score).
 * An uploaded image (search with your own image, `playground serve` only) replaces q while it is active; it is
 * not in the URL (it never leaves the page but to the local server).
 * The panels (search-config.js, search-results.js, search-map.js, search-browser.js, search-analysis.js,
 * search-upload.js) register with `PG.search.panel({config, view})`: `config(s, prev)` runs at once on every
 * change (it needs only the catalogue), `view(ctx)` once the view's data is loaded, with
 * ctx = {s, view, listing, row, prev, token, upload} (see search-data.js for listing and row).
 */
(() => {
  const PG = window.PG;
  const D = PG.data;
  const panels = [];
  const LB_KINDS = ["score", "precision", "knn", "probe"];
  const DEFAULT = {
    ds: "",
    model: "",
    layer: "",
    pool: "",
    metric: "",
    q: 0,
    k: 0,
    adv: false,
    view: "all",
    tab: "leaderboard",
    lb: "score",
    lbp: "cur",
    cls: "worst",
    sel: "",
    color: "class",
  };
  // names people write for the settings (the hash says ds=, pool=, q=), suggested when a link uses them
  const ALIASES = { dataset: "ds", pooling: "pool", image: "q", query: "q", distance: "metric" };
  let S = Object.assign({}, DEFAULT);
  let upload = null; // {file, name, url, category}: an image of the visitor's own, while it is the query
  let seq = 0;
  let revealNext = false;
  let focusNext = false; // a keyboard search: the query card takes the focus once drawn
  let listing = null;
  let lastRow = null;

  /* "<layer>:x1,y1,..." (thousandths) -> {layer, poly: [{x, y}] in 0..1, text}, or null when malformed. */
  function parseSel(text) {
    const m = /^([a-z0-9_.-]{1,80}):(\d{1,4}(?:,\d{1,4}){5,255})$/.exec(String(text || ""));
    if (!m) return null;
    const v = m[2].split(",").map(Number);
    if (v.length % 2 || v.some((x) => x > 1000)) return null;
    const poly = [];
    for (let i = 0; i < v.length; i += 2) poly.push({ x: v[i] / 1000, y: v[i + 1] / 1000 });
    return { layer: m[1], poly, text };
  }
  /* A lasso drawn on layer `layer` ([{x, y}] in map coordinates) as the state's `sel`: at most 64 vertices. */
  function selText(layer, poly) {
    const step = Math.max(1, Math.ceil(poly.length / 64));
    const q = (x) => Math.max(0, Math.min(1000, Math.round(x * 1000)));
    const pts = poly.filter((_, i) => i % step === 0).flatMap((p) => [q(p.x), q(p.y)]);
    return `${layer}:${pts.join(",")}`;
  }

  const viewOf = (s) => ({ ds: s.ds, model: s.model, layer: s.layer, pooling: s.pool, metric: s.metric });
  const short = (v) => (v.length > 40 ? `${v.slice(0, 39)}…` : v);

  /* The hash, checked against the build. Returns {state, problems}: problems are sentences for the visitor,
     one per value the build does not have (the state then holds what is shown instead). */
  function validate(h) {
    const problems = [];
    const defaults = D.defaults();
    const s = {};
    const d = D.dataset(h.ds) || D.dataset(defaults.dataset) || D.datasets()[0];
    if (h.ds !== undefined && !D.dataset(h.ds))
      problems.push(`dataset “${short(h.ds)}” is not in this build; showing ${d.name}.`);
    s.ds = d.slug;
    const m = D.model(h.model) || D.model(defaults.model) || D.models()[0];
    if (h.model !== undefined && !D.model(h.model))
      problems.push(`“${short(h.model)}” is not a model in this build; showing ${m.display}.`);
    s.model = m.slug;
    let li = D.layerIndex(m, h.layer);
    const layerBad = h.layer !== undefined && li < 0;
    if (li < 0 && m.slug === defaults.model) li = D.layerIndex(m, defaults.layer);
    if (li < 0) li = m.layers.length - 1;
    s.layer = m.layers[li].slug;
    if (layerBad && (h.model === undefined || D.model(h.model)))
      problems.push(`“${short(h.layer)}” is not one of ${m.display}'s layers here; showing ${m.layers[li].name}.`);
    const po = D.pooling(h.pool) || D.pooling(defaults.pooling) || D.poolings()[0];
    if (h.pool !== undefined && !D.pooling(h.pool))
      problems.push(`“${short(h.pool)}” is not a pooling in this build; showing ${po.name}.`);
    s.pool = po.slug;
    const me = D.metric(h.metric) || D.metric(defaults.metric) || D.metrics()[0];
    if (h.metric !== undefined && !D.metric(h.metric))
      problems.push(`“${short(h.metric)}” is not a distance metric in this build; showing ${me.name}.`);
    s.metric = me.slug;
    const q = /^\d+$/.test(h.q || "") ? Number.parseInt(h.q, 10) : Number.NaN;
    s.q = q < d.n_images ? q : 0;
    if (h.q !== undefined && !(q < d.n_images))
      problems.push(`image “${short(h.q)}” is not in ${d.name} (${d.n_images} images); showing image 0.`);
    s.adv = h.adv === "1";
    s.view = h.view === "cat" ? "cat" : "all";
    s.tab = ["compare", "classes"].includes(h.tab) ? h.tab : "leaderboard";
    s.cls = h.cls === "name" ? "name" : "worst";
    s.color = h.color === "score" && d.labeled ? "score" : "class";
    s.sel = "";
    if (h.sel !== undefined) {
      const sel = parseSel(h.sel);
      if (sel && D.layerIndex(m, sel.layer) >= 0) s.sel = h.sel;
      else
        problems.push(
          `the map selection “${short(h.sel)}” is not a lasso on one of ${m.display}'s layers; it was left out.`
        );
    }
    const K = D.k();
    const k = /^\d+$/.test(h.k || "") ? Number.parseInt(h.k, 10) : Number.NaN;
    s.k = k >= 1 && k <= K ? k : K;
    if (h.k !== undefined && !(k >= 1 && k <= K))
      problems.push(`k=${short(h.k)} is not between 1 and ${K} (the results this build kept per image); showing ${K}.`);
    s.lb = LB_KINDS.includes(h.lb) ? h.lb : "score";
    s.lbp = h.lbp === "best" ? "best" : "cur";
    for (const k of Object.keys(h)) {
      if (k in DEFAULT) continue;
      const hint = ALIASES[k] ? ` (did you mean “${ALIASES[k]}=”?)` : "";
      problems.push(`“${short(k)}” is not a setting of this page${hint}; it was left out.`);
    }
    return { state: s, problems };
  }

  function writeState(push) {
    const one = D.poolings().length === 1;
    PG.writeHash(
      {
        ds: S.ds,
        model: S.model,
        layer: S.layer,
        pool: one ? "" : S.pool,
        metric: S.metric,
        q: S.q,
        k: S.k === D.k() ? "" : S.k,
        adv: S.adv,
        view: S.view === "cat" ? "cat" : "",
        tab: S.tab === "leaderboard" ? "" : S.tab,
        lb: S.lb === "score" ? "" : S.lb,
        lbp: S.lbp === "best" ? "best" : "",
        cls: S.cls === "name" ? "name" : "",
        sel: S.sel,
        color: S.color === "score" ? "score" : "",
      },
      push
    );
  }

  /* Follow the hash: a link names values the build lacks -> a visible message, and the address bar is
     corrected (replaceState) to what is shown. */
  function fromHash() {
    const v = validate(PG.readHash());
    PG.notice(
      "link-notice",
      v.problems.length ? `This link asks for something this build does not have: ${v.problems.join(" ")}` : ""
    );
    return v;
  }

  /* An uploaded image's row for a view: asked of the server once per view (kept on the upload). */
  function uploadRow(view, up) {
    const key = `${view.ds}/${view.model}/${view.layer}/${view.pooling}/${view.metric}`;
    up.rows = up.rows || Object.create(null);
    if (!up.rows[key]) {
      up.rows[key] = D.query(view, up);
      up.rows[key].catch(() => delete up.rows[key]);
    }
    return up.rows[key];
  }

  function update(prev) {
    const token = ++seq;
    if (upload && !D.serve().datasets.includes(S.ds)) {
      PG.searchUpload?.failed(new Error(`${D.dataset(S.ds).name} cannot be searched with your own image`));
      upload = null;
    }
    for (const p of panels) p.config?.(S, prev);
    document.body.setAttribute("aria-busy", "true");
    const s = S;
    const up = upload;
    const view = viewOf(s);
    Promise.all([D.listing(s.ds), up ? uploadRow(view, up) : D.row(view, s.q)])
      .then(([lst, full]) => {
        if (token !== seq) return;
        const row = D.firstK(full, s.k, lst, s.q);
        listing = lst;
        lastRow = row;
        const ctx = { s, view, listing: lst, row, prev, token, upload: up };
        for (const p of panels) p.view?.(ctx);
        document.body.removeAttribute("aria-busy");
        document.body.setAttribute("data-ready", String(token));
        if (revealNext) PG.reveal(PG.$("search"));
        revealNext = false;
      })
      .catch((err) => {
        if (token !== seq) return;
        document.body.removeAttribute("aria-busy");
        if (up) {
          // the server refused the image (or is gone): say so where it was dropped, and show the previous upload
          // again, or the dataset's image
          upload = PG.searchUpload?.failed(err) || null;
          revealNext = false; // the error line stays in view
          update(prev);
          return;
        }
        PG.error(
          `Could not load the results for this view (${err.message}). Was it built? See “About this build” on the About page.`
        );
      });
  }

  const page = {
    viewOf,
    parseSel,
    selText,
    /* Register a panel: {config(s, prev), view(ctx)}. */
    panel(p) {
      panels.push(p);
    },
    state: () => Object.assign({}, S),
    view: () => viewOf(S),
    listing: () => listing,
    row: () => lastRow,
    upload: () => upload,
    /* The control that ←/→ step through: dataset | model | layer | pooling | metric. */
    last: "layer",

    /* Change part of the state; `push` adds a history entry (searches, configuration), else it replaces.
       `opts.reveal`: scroll the results into view once they are rendered (a click elsewhere on the page). */
    set(patch, push, opts) {
      const prev = S;
      S = Object.assign({}, S, patch);
      if (patch.model && patch.model !== prev.model && !patch.layer) {
        // keep the same position along the depth when the model changes
        const pm = D.model(prev.model);
        const nm = D.model(S.model);
        const pi = pm ? D.layerIndex(pm, prev.layer) : -1;
        const frac = pm && pi >= 0 ? pi / Math.max(1, pm.layers.length - 1) : 1;
        S.layer = nm.layers[Math.round(frac * (nm.layers.length - 1))].slug;
      }
      if (patch.ds && patch.ds !== prev.ds && patch.q === undefined) S.q = 0;
      // a lasso belongs to the map of one dataset, model and pooling (any layer of it)
      if (patch.sel === undefined && (S.ds !== prev.ds || S.model !== prev.model || S.pool !== prev.pool)) S.sel = "";
      if (opts?.reveal) revealNext = true;
      writeState(push);
      update(prev);
    },

    /* Search from image `id`; `reveal`: bring the results into view (clicks in the map, grid, compare...);
       `focus`: move the keyboard focus to the query card once it shows the new image (keyboard activation). */
    search(id, reveal, focus) {
      if (focus) focusNext = true;
      if (id === S.q && !upload) {
        if (reveal) PG.reveal(PG.$("search"));
        if (focus) page.takeFocus();
        return;
      }
      upload = null;
      page.set({ q: id }, true, { reveal });
    },

    /* Give the focus to the query card if a keyboard search asked for it (called when the query is drawn). */
    takeFocus() {
      if (!focusNext) return;
      focusNext = false;
      PG.$("query-card").focus({ preventScroll: true });
    },

    /* Search with an image of the visitor's own ({file, name, url, category}), or null to go back to the
       dataset's image q. */
    setUpload(u, opts) {
      upload = u;
      if (opts?.reveal) revealNext = true;
      update(S);
    },

    start() {
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
    },
  };

  page.baseName = (f) => {
    const s = String(f || "");
    return s.slice(s.lastIndexOf("/") + 1);
  };

  PG.search = page;
})();
