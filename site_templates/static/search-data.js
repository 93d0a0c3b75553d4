/* ConvNet Playground, Semantic Search: the ONE place that knows the data files and the query API.
 *
 * Every other module of the page asks this one for what it needs, in the page's terms:
 *   a view = {ds, model, layer, pooling, metric}: the rankings row of query q, the map of the view, the
 *   leaderboard row of a model, the scores of every model x layer for one query; a dataset's listing
 *   (classes, labels, thumbnails) and its file names; with `playground serve`, the neighbours of an image
 *   of your own.
 * It reads exactly the shapes of precompute/contract.py (written by precompute/sitefiles.py and
 * siteimages.py) and of precompute/serve/schema.py (the API's answers); docs/architecture.md lists them.
 *
 * Sizes: a view switch reads ONE rankings shard (the block of rank_block queries holding q); the map is its own
 * file, read only when asked for (the map panel asks only while it is on screen); file names come in shards
 * of files_block ids, read only for the images whose names are shown.
 */
(() => {
  const PG = window.PG;
  const API = /^[a-z0-9_-]+(\/[a-z0-9_-]+)*\/$/; // a relative path such as "api/": never another host
  const MAPS_KEPT = 4; // decoded maps kept (100,000 points: 800 KB each)
  const BROWSER_MAX_UPLOAD = 50 * 2 ** 20; // an image searched in the browser is decoded there: bound its size

  let INDEX = null;
  let LB = null;
  let SERVE = null;
  let EX = null;
  let exPending = null;
  const listings = Object.create(null);
  const maps = new Map(); // map key -> Promise of {n, x, y}, most recently used last

  const bySlug = (list, slug) => list.find((x) => x.slug === slug);
  const block = (q, size) => Math.floor(q / size);
  const rankKey = (v, q) =>
    `${v.ds}/${v.model}/${v.layer}/${v.pooling}/${v.metric}/${block(q, INDEX.shards.rank_block)}`;
  const mapKey = (v) => `${v.ds}/${v.model}/${v.layer}/${v.pooling}/map`;

  /* A dataset file (contract.DatasetFile) in the page's terms. `labels` is one class index per image id
     (ids are sorted by class: class c owns ids class_start[c] .. class_start[c + 1] - 1), or null. */
  function makeListing(f) {
    let labels = null;
    if (f.class_start) {
      labels = new Int32Array(f.n).fill(-1);
      for (let c = 0; c < f.classes.length; c++) labels.fill(c, f.class_start[c], f.class_start[c + 1]);
    }
    const L = {
      slug: f.slug,
      name: f.name,
      n: f.n,
      classes: f.class_names || f.classes /* display names (--class-names) where the build has them */,
      classStart: f.class_start,
      labels,
      labeled: !!labels,
      hasDisplay: !!f.display,
      label: (id) => (labels && id >= 0 && id < f.n && labels[id] >= 0 ? labels[id] : null),
      className: (id) => {
        const c = L.label(id);
        return c === null ? "" : String(L.classes[c]);
      },
      /* ids of class c: [first, end) */
      classRange: (c) => [f.class_start[c], f.class_start[c + 1]],
      thumb: (id) => PG.spriteCell(f.thumbs, f.n, id),
      display: (id) => PG.displayUrl(f.display, id),
      filesKey: (id) => `datasets/${f.slug}/files/${block(id, f.files_block)}`,
    };
    return L;
  }

  function decodeMap(m) {
    const bin = atob(m.xy);
    const n = m.n;
    const x = new Float32Array(n);
    const y = new Float32Array(n);
    const inv = 1 / m.levels;
    for (let i = 0, b = 0; i < n; i++, b += 4) {
      x[i] = (bin.charCodeAt(b) | (bin.charCodeAt(b + 1) << 8)) * inv;
      y[i] = (bin.charCodeAt(b + 2) | (bin.charCodeAt(b + 3) << 8)) * inv;
    }
    return { n, x, y };
  }

  /* ---- the query API (playground serve) ---- */
  class ApiError extends Error {
    constructor(message, status, allowed) {
      super(message);
      this.status = status;
      this.allowed = allowed || null;
    }
  }
  function post(path, form) {
    return fetch(`${PG.root}${SERVE.api}${path}`, { method: "POST", body: form, credentials: "same-origin" }).then(
      (r) =>
        r.json().then(
          (body) => (r.ok ? body : Promise.reject(new ApiError(body.error, r.status, body.allowed))),
          () => Promise.reject(new ApiError(`the server answered ${r.status} ${r.statusText}`, r.status))
        ),
      () => Promise.reject(new ApiError("the server could not be reached (is `playground serve` still running?)", 0))
    );
  }
  function form(view, upload, fields) {
    const f = new FormData();
    f.append("image", upload.file, upload.name);
    for (const k of Object.keys(fields)) f.append(k, String(fields[k]));
    f.append("dataset", view.ds);
    f.append("pooling", view.pooling);
    f.append("metric", view.metric);
    f.append("k", String(INDEX.k));
    return f;
  }
  /* A LayerAnswer (serve/schema.py) as a row of the same shape as a rankings row. */
  function answerRow(a, k) {
    return {
      k,
      ids: a.ids,
      dist: a.dist,
      near: a.near_ppm,
      sim: a.sim,
      score: null,
      hits: null,
      exact: true,
      recall: null,
      labels: a.labels,
      mapXY: a.map_xy,
      layer: a.layer,
    };
  }

  const D = {
    /* index + leaderboard + the serve flag: everything the first render needs besides the per-view files. */
    init() {
      return Promise.all([
        PG.load("index"),
        PG.load("leaderboard").catch(() => null),
        PG.load("serve").catch(() => null),
        PG.browserCnn ? PG.browserCnn.init() : null,
      ]).then((r) => {
        INDEX = r[0];
        LB = r[1];
        SERVE = r[2];
        return D;
      });
    },

    /* ---- the build's catalogue (synchronous once init resolved) ---- */
    datasets: () => INDEX.datasets,
    models: () => INDEX.models.filter((m) => !m.explorer_only),
    metrics: () => INDEX.metrics,
    poolings: () => INDEX.poolings,
    k: () => INDEX.k,
    defaults: () => INDEX.defaults,
    dataset: (slug) => bySlug(INDEX.datasets, slug),
    model: (slug) => bySlug(D.models(), slug),
    metric: (slug) => bySlug(INDEX.metrics, slug),
    pooling: (slug) => bySlug(INDEX.poolings, slug),
    layerIndex: (model, slug) => model.layers.findIndex((l) => l.slug === slug),
    hasExplorer: () => document.documentElement.getAttribute("data-explorer") === "1",
    rankBlock: () => INDEX.shards.rank_block,
    compareBlock: () => INDEX.shards.compare_block,

    /* The data file a view switch reads for query q (tests and the request budget: one switch = one file). */
    viewKey: rankKey,
    mapKey,

    /* ---- per dataset ---- */
    /* Promise of the listing (makeListing above). */
    listing(ds) {
      if (!listings[ds]) listings[ds] = PG.load(`datasets/${ds}`).then(makeListing);
      return listings[ds];
    },
    /* Promise of the file name (path inside the dataset) of image id. */
    file(lst, id) {
      return PG.load(lst.filesKey(id)).then((s) => s.files[id - s.first]);
    },
    /* The file name when its shard is already loaded, else null (no request). */
    fileNow(lst, id) {
      const s = PG.get(lst.filesKey(id));
      return s ? s.files[id - s.first] : null;
    },

    /* ---- per view ---- */
    /* The rankings row of query q: {k, ids, dist (real distances), near (near_ppm), sim (fractions 0..1),
       score, hits, exact, recall}. */
    row(view, q) {
      return PG.load(rankKey(view, q)).then((r) => {
        const i = q - r.first;
        const near = r.near_ppm[i];
        return {
          k: r.k,
          ids: r.ids[i],
          dist: r.dist[i].map((d) => d * r.dist_scale),
          near,
          sim: near.map((p) => 1 - p / 1e6),
          score: r.score ? r.score[i] : null,
          hits: r.hits ? r.hits[i] : null,
          exact: r.exact,
          recall: r.recall,
        };
      });
    },

    /* The UMAP map of a view (every pooling and metric of a layer share it): Promise of {n, x, y} with x, y
       Float32Arrays in 0..1 by image id. Only the panel on screen asks for it. */
    map(view) {
      const key = mapKey(view);
      let p = maps.get(key);
      if (p) {
        maps.delete(key);
      } else {
        p = PG.load(key).then((m) => {
          PG.drop(key); // the decoded arrays are kept instead of the base64 text
          return decodeMap(m);
        });
        p.catch(() => maps.delete(key));
      }
      maps.set(key, p);
      while (maps.size > MAPS_KEPT) maps.delete(maps.keys().next().value);
      return p;
    },

    /* Leaderboard values per layer of one model, or null: kind "score" (mean search score 0-100), "precision"
       (mean precision@k 0-1), "knn" (kNN accuracy %) for the view's metric; "probe" / "probe_std" (linear-probe
       accuracy % and its spread) do not depend on the metric. */
    leaderboard(kind, view, model) {
      const t = LB ? LB[kind] : null;
      const byPool = t?.[view.ds]?.[view.pooling];
      const v = kind === "probe" || kind === "probe_std" ? byPool?.[model] : byPool?.[view.metric]?.[model];
      return Array.isArray(v) ? v : null;
    },

    /* Search score of query q for every model and layer: [{model, layers: [slug], scores: [number|null]}]. */
    compare(view, q) {
      const key = `${view.ds}/${view.pooling}/compare/${view.metric}/${block(q, INDEX.shards.compare_block)}`;
      return PG.load(key).then((c) => {
        const i = q - c.first;
        return c.models
          .filter((m) => D.model(m))
          .map((m) => ({
            model: m,
            layers: c.layers[m],
            scores: (c.score[m] || []).map((row) => (row && typeof row[i] === "number" ? row[i] : null)),
          }));
      });
    },

    /* ---- search with your own image: by `playground serve`, or in the browser (search-cnn.js) ---- */
    /* {live, mode, maxUpload, datasets, why}: mode "server" when served by `playground serve`; "browser" on a
       static copy whose build shipped the in-browser search (data/web/); else "off" (why: the build's reason). */
    serve() {
      if (SERVE?.live && API.test(SERVE.api) && typeof fetch === "function")
        return { live: true, mode: "server", maxUpload: SERVE.max_upload, datasets: SERVE.datasets, why: null };
      const b = PG.browserCnn?.info();
      const can = typeof Worker === "function" && typeof OffscreenCanvas === "function";
      if (b?.available && can)
        return { live: true, mode: "browser", maxUpload: BROWSER_MAX_UPLOAD, datasets: b.datasets, why: null };
      const why = b && !b.available ? b.why : b && !can ? "this browser has no Web Workers or OffscreenCanvas" : null;
      return { live: false, mode: "off", maxUpload: 0, datasets: [], why };
    },
    /* The neighbours of an uploaded image for a view: Promise of a row (the shape of row() plus labels and
       mapXY, the image's place on the view's map); rejects with an ApiError {message, status, allowed}. */
    query(view, upload) {
      if (D.serve().mode === "browser") return PG.browserCnn.query(view, upload);
      return post("query", form(view, upload, { model: view.model, layer: view.layer })).then((a) => {
        const layer = a.layers.find((l) => l.layer === view.layer) || a.layers[0];
        const row = answerRow(layer, a.k);
        row.timing = a.timing_ms;
        return row;
      });
    },
    /* Every model x layer for an uploaded image: Promise of [{model, layers: [slug], rows: [row]}]. */
    compareUpload(view, upload, progress) {
      if (D.serve().mode === "browser") return PG.browserCnn.compareUpload(view, upload, progress);
      return post("compare", form(view, upload, {})).then((c) =>
        c.models
          .filter((a) => D.model(a.model))
          .map((a) => ({
            model: a.model,
            layers: a.layers.map((l) => l.layer),
            rows: a.layers.map((l) => answerRow(l, a.k)),
          }))
      );
    },
    ApiError,

    /* ---- feature visualizations (explorer/index), for the layer tiles ---- */
    /* Resolves with a function (model, layer) -> "fv/<model>/<layer>/<c>.webp", the image of the layer's
       first visualized channel, or "" when there is none (or the layer is pending); resolves with null when
       the Model Explorer was not built. */
    layerImages() {
      if (!D.hasExplorer()) return Promise.resolve(null);
      if (!exPending) {
        exPending = PG.load("explorer/index").then(
          (ex) => {
            EX = ex;
            return (model, layer) => {
              const m = bySlug(EX.models, model);
              const l = m && bySlug(m.layers, layer);
              return l && !l.pending && l.visualized.length ? `${l.images}${l.visualized[0]}.webp` : "";
            };
          },
          () => null
        );
      }
      return exPending;
    },
  };

  PG.data = D;
})();
