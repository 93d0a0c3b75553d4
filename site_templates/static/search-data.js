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
 * Sizes: a view switch reads ONE rankings shard (the block of rank_block queries holding q: ids and distances as
 * typed arrays) and, once per view and metric, its calibration (the similarity of a distance); sqeuclidean
 * is read from euclidean's shard (the same order, distances squared). The map is its own file, read only when
 * asked for (the map panel asks only while it is on screen); file names come in shards of files_block ids, read
 * only for the images whose names are shown.
 */
(() => {
  const PG = window.PG;
  const API = /^[a-z0-9_-]+(\/[a-z0-9_-]+)*\/$/; // a relative path such as "api/": never another host
  const MAPS_KEPT = 4; // decoded maps kept (100,000 points: 800 KB each)
  const SHARDS_KEPT = 24; // decoded rankings shards kept (~60 KB each)
  const CALIBS_KEPT = 24; // decoded calibrations kept (16 KB each)
  const NOT_FINITE = 65535; // contract.RankShard: the uint16 step that marks a non-finite distance
  const BROWSER_MAX_UPLOAD = 50 * 2 ** 20; // an image searched in the browser is decoded there: bound its size

  let INDEX = null;
  let LB = null;
  let SERVE = null;
  let EX = null;
  let exPending = null;
  const listings = Object.create(null);
  const maps = new Map(); // map key -> Promise of {n, x, y}, most recently used last
  const shards = new Map(); // rankings key -> Promise of a decoded shard, most recently used last
  const calibs = new Map(); // calibration key -> Promise of {dist, frac}

  const bySlug = (list, slug) => list.find((x) => x.slug === slug);
  const block = (q, size) => Math.floor(q / size);
  const rankKey = (v, q) =>
    `${v.ds}/${v.model}/${v.layer}/${v.pooling}/${v.metric}/${block(q, INDEX.shards.rank_block)}`;
  const scoreFiles = new Map(); // decoded scores files, a few kept
  let lastSel = null; // {key, ids}: the last lasso selection computed
  const mapKey = (v) => `${v.ds}/${v.model}/${v.layer}/${v.pooling}/map`;
  const calibKey = (v) => `${v.ds}/${v.model}/${v.layer}/${v.pooling}/${v.metric}/calib`;
  /* sqeuclidean ranks as euclidean does: its rows are read from euclidean's shard when the build has it */
  const fromEuclidean = (v) => v.metric === "sqeuclidean" && INDEX.metrics.some((m) => m.slug === "euclidean");

  const bytesOf = PG.bytes;

  /* A Promise from `cache` under `key` (made by `make` when missing), the most recently used kept last. */
  function kept(cache, key, max, make) {
    let p = cache.get(key);
    if (p) cache.delete(key);
    else {
      p = make();
      p.catch(() => cache.delete(key));
    }
    cache.set(key, p);
    while (cache.size > max) cache.delete(cache.keys().next().value);
    return p;
  }

  /* A RankShard (contract.py) as typed arrays, decoded with the same float64 operations as
     precompute/sitefiles.py's decode_rankings: distance = dist_lo[row] + q * dist_step. */
  function decodeShard(r) {
    const n = r.rows * r.k;
    const raw = bytesOf(r.ids);
    const ids = new Uint32Array(n);
    for (let i = 0, o = 0; i < n; i++, o += r.id_bytes) {
      let v = 0;
      for (let b = r.id_bytes - 1; b >= 0; b--) v = v * 256 + raw[o + b];
      ids[i] = v;
    }
    const lo = new DataView(bytesOf(r.dist_lo).buffer);
    const step = new DataView(bytesOf(r.dist_step).buffer);
    const q = new DataView(bytesOf(r.dist).buffer);
    const dist = new Float64Array(n);
    const slack = new Float64Array(n); // what each stored distance may be off by (contract.RankShard)
    for (let i = 0; i < n; i++) {
      const s = q.getUint16(2 * i, true);
      const row = 4 * Math.floor(i / r.k);
      const l = lo.getFloat32(row, true);
      const st = step.getFloat32(row, true);
      dist[i] = s === NOT_FINITE ? Infinity : l + s * st;
      slack[i] = st / 2 + Math.abs(l) * 2 ** -24;
    }
    return {
      first: r.first,
      k: r.k,
      ids,
      dist,
      slack,
      exact: r.exact,
      recall: r.recall,
      squared: r.squared,
    };
  }

  function shard(key) {
    return kept(shards, key, SHARDS_KEPT, () =>
      PG.load(key).then((r) => {
        PG.drop(key); // the decoded arrays are kept instead of the base64 text
        return decodeShard(r);
      })
    );
  }

  /* numpy.interp(x, xp, fp, left=0, right=1) */
  function interp(x, xp, fp) {
    const n = xp.length;
    if (!n) return 1;
    if (x < xp[0]) return 0;
    if (x > xp[n - 1]) return 1;
    if (x === xp[n - 1]) return fp[n - 1];
    let lo = 0;
    let hi = n - 1;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (xp[mid] <= x) lo = mid;
      else hi = mid;
    }
    const slope = (fp[lo + 1] - fp[lo]) / (xp[lo + 1] - xp[lo]);
    const v = slope * (x - xp[lo]) + fp[lo];
    return Number.isFinite(v) ? v : fp[lo];
  }

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
    dataFormat: () => INDEX.build?.format ?? 1, // contract.DATA_FORMAT (absent: 1)
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

    /* The data files a view switch reads for query q (tests and the request budget): its rankings shard and its
       calibration. */
    viewKeys: (v, q) => [rankKey(fromEuclidean(v) ? { ...v, metric: "euclidean" } : v, q), calibKey(v)],
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
      const key = rankKey(fromEuclidean(view) ? { ...view, metric: "euclidean" } : view, q);
      const rows = shard(key).then((s) =>
        !fromEuclidean(view)
          ? { s, square: false }
          : s.squared
            ? { s, square: true }
            : shard(rankKey(view, q)).then((t) => ({ s: t, square: false }))
      );
      return Promise.all([rows, D.calibration(view), D.listing(view.ds)]).then(([{ s, square }, cal, lst]) => {
        const i = q - s.first;
        const ids = Array.from(s.ids.subarray(i * s.k, (i + 1) * s.k));
        const d0 = Array.from(s.dist.subarray(i * s.k, (i + 1) * s.k));
        const e0 = Array.from(s.slack.subarray(i * s.k, (i + 1) * s.k));
        // sqeuclidean from euclidean's row: d^2, off by at most 2 d e + e^2
        const dist = square ? d0.map((d) => d * d) : d0;
        const slack = square ? e0.map((e, j) => 2 * d0[j] * e + e * e) : e0;
        const { near, sim } = D.similarity(dist, cal, slack);
        // the search score and hits follow from the classes (search.search_scores: rank i weighs (k - i) / k)
        const own = lst.label(q);
        const labels = ids.map((id) => lst.label(id));
        return {
          k: s.k,
          ids,
          dist,
          near,
          sim,
          score: own === null ? null : PG.searchScore(labels, own),
          hits: own === null ? null : labels.filter((c) => c === own).length,
          exact: s.exact,
          recall: s.recall,
        };
      });
    },

    /* A row cut to its first k results (the visitor's k, at most the build's): the search score and hits of a
       dataset image at that k (search.search_scores' formula, rank i weighs (k - i) / k). */
    firstK(row, k, lst, q) {
      if (!(k < row.ids.length)) return row;
      const cut = Object.assign({}, row, { k });
      for (const f of ["ids", "dist", "near", "sim", "labels"]) if (Array.isArray(row[f])) cut[f] = row[f].slice(0, k);
      if (typeof row.score === "number") {
        const own = lst.label(q);
        const labels = cut.ids.map((id) => lst.label(id));
        cut.score = PG.searchScore(labels, own);
        cut.hits = labels.filter((c) => c === own).length;
      }
      return cut;
    },

    /* The view's similarity calibration under its metric (contract.CalibrationFile): Promise of {dist, frac},
       Float64Arrays of the knots and the share of pairs at most that far apart (count / pairs). */
    calibration(view) {
      const key = calibKey(view);
      return kept(calibs, key, CALIBS_KEPT, () =>
        PG.load(key).then((f) => {
          PG.drop(key);
          const d = new DataView(bytesOf(f.dist).buffer);
          const c = new DataView(bytesOf(f.count).buffer);
          const dist = new Float64Array(d.byteLength / 4);
          const frac = new Float64Array(dist.length);
          for (let i = 0; i < dist.length; i++) {
            dist[i] = d.getFloat32(4 * i, true);
            frac[i] = c.getUint32(4 * i, true) / f.pairs;
          }
          return { dist, frac, head: f.head };
        })
      );
    },

    /* {near (near_ppm), sim} of distances under a calibration: search.Calibration.similarity and
       search.near_ppm, in the same float64 operations. `slack` (optional): what each distance may be off by. */
    similarity(dist, cal, slack) {
      const sim = dist.map((x, i) => {
        const n = cal.dist.length;
        if (!n) return 1;
        // the last knot at or below x + slack: while it is one of the closest pairs, the exact count
        const y = Math.fround(x + (slack ? slack[i] : 0)); // at float32, the knots' precision
        let lo = -1;
        let hi = n;
        while (hi - lo > 1) {
          const mid = (lo + hi) >> 1;
          if (cal.dist[mid] <= y) lo = mid;
          else hi = mid;
        }
        if (lo < cal.head - 1) return 1 - (lo >= 0 ? cal.frac[lo] : 0);
        return 1 - interp(x, cal.dist, cal.frac);
      });
      const near = sim.map((v) => Math.ceil(Math.round((1 - v) * 1e6 * 1e6) / 1e6));
      return { near, sim };
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

    /* The images a lasso selected (state `sel`: {layer, poly} with poly [{x, y}] in map coordinates): the points
       of that layer's map (this dataset, model and pooling) inside the polygon, ascending ids. Promise. */
    selection(view, sel) {
      const v = { ...view, layer: sel.layer };
      const key = `${mapKey(v)}|${sel.text}`;
      if (lastSel && lastSel.key === key) return lastSel.ids;
      const ids = D.map(v).then((m) => PG.inPolygon(m.x, m.y, sel.poly));
      lastSel = { key, ids };
      ids.catch(() => {
        if (lastSel?.key === key) lastSel = null;
      });
      return ids;
    },

    /* Every image's search score at the view (contract.ScoresFile): Promise of a Uint8Array by image id, read
       only when the map is coloured by it. */
    scores(view) {
      const key = `${view.ds}/${view.model}/${view.layer}/${view.pooling}/${view.metric}/scores`;
      return kept(scoreFiles, key, 4, () =>
        PG.load(key).then((f) => {
          PG.drop(key);
          return bytesOf(f.score);
        })
      );
    },

    /* The view's per-class truth (contract.ClassesFile): Promise of the file, loaded when the "Per class" tab is
       open (one small file per view, whatever the number of images). */
    classes(view) {
      return PG.load(`${view.ds}/${view.model}/${view.layer}/${view.pooling}/${view.metric}/classes`);
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
