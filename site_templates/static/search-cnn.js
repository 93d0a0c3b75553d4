/* ConvNet Playground, Semantic Search: search with your own image on a static copy of the site.
 *
 * With no `playground serve` behind the page, a visitor's image is turned into vectors in the browser: the
 * build's own extractor as ONNX, run by ONNX Runtime Web in a Web Worker (search-cnn-worker.js), then ranked here
 * against the view's shipped embeddings with the rankings' metrics (ties by smaller id), each neighbour's
 * similarity read off the view's calibration as `playground query` reads it
 * (precompute/browsersearch.py writes data/web/, contract.Browser*).
 *
 * Nothing is loaded until the first own image: then the runtime (~19 MB of base64), the model, and only the
 * chosen layer's embeddings; the compare chart loads the other layers one model at a time. Everything comes
 * through PG.load (<script> data files), which works from file:// where fetch() does not.
 */
(() => {
  const PG = window.PG;
  const VIEWS_KEPT = 8; // decoded view matrices kept
  const MAP_NEIGHBOURS = 5; // serve/query.py: an upload's map position from its 5 nearest images

  let INDEX = null;
  let worker = null;
  let runtime = null; // Promise: the worker has the runtime
  const models = Object.create(null); // model -> Promise: the worker has its session
  const views = new Map(); // view key -> Promise of {n, d, emb, norms}
  const waiting = new Map();
  let nextId = 1;
  const stats = { cold: null, loads: [] }; // tests and the README's figures read these

  function call(type, fields, transfer) {
    const id = nextId++;
    return new Promise((resolve, reject) => {
      waiting.set(id, { resolve, reject });
      worker.postMessage({ id, type, ...fields }, transfer || []);
    });
  }

  const bytes = PG.bytes;

  function text(b64) {
    return new TextDecoder().decode(bytes(b64));
  }

  function load(key) {
    const t = performance.now();
    return PG.load(key).then((f) => {
      PG.drop(key); // the decoded bytes are kept instead of the base64 text
      stats.loads.push({ key, chars: f.b64 ? f.b64.length : f.emb.length, ms: performance.now() - t });
      return f;
    });
  }

  function startWorker() {
    if (worker) return;
    const src = `(${PG.cnnWorker.toString()})()`;
    worker = new Worker(URL.createObjectURL(new Blob([src], { type: "text/javascript" })));
    worker.onmessage = (ev) => {
      const w = waiting.get(ev.data.id);
      if (!w) return;
      waiting.delete(ev.data.id);
      if (ev.data.ok) w.resolve(ev.data);
      else w.reject(new Error(ev.data.error));
    };
  }

  function startRuntime() {
    if (runtime) return runtime;
    startWorker();
    runtime = Promise.all(["ort", "glue", "wasm"].map((p) => load(`web/runtime/${p}`))).then(([o, g, w]) => {
      const wasm = bytes(w.b64).buffer;
      return call("init", { ort: text(o.b64), glue: text(g.b64), wasm }, [wasm]);
    });
    runtime.catch(() => {
      runtime = null;
    });
    return runtime;
  }

  function startModel(model) {
    if (!models[model]) {
      models[model] = startRuntime()
        .then(() => load(`web/model/${model}`))
        .then((f) => {
          const b = bytes(f.b64).buffer;
          return call("model", { name: model, bytes: b }, [b]);
        });
      models[model].catch(() => delete models[model]);
    }
    return models[model];
  }

  function viewData(v) {
    const key = `web/${v.ds}/${v.model}/${v.layer}/${v.pooling}`;
    let p = views.get(key);
    if (p) views.delete(key);
    else {
      p = load(key).then((f) => {
        const emb = new Float32Array(bytes(f.emb).buffer);
        return { n: f.n, d: f.d, emb, norms: null };
      });
      p.catch(() => views.delete(key));
    }
    views.set(key, p);
    while (views.size > VIEWS_KEPT) views.delete(views.keys().next().value);
    return p;
  }

  /* Distances from q to every row (float64 sums, the metrics of precompute/search.py). */
  function distances(q, V, metric, p) {
    const { n, d, emb } = V;
    const out = new Float64Array(n);
    if (metric === "cosine") {
      if (!V.norms) {
        V.norms = new Float64Array(n);
        for (let i = 0; i < n; i++) {
          let s = 0;
          for (let j = 0, o = i * d; j < d; j++, o++) s += emb[o] * emb[o];
          V.norms[i] = Math.sqrt(s);
        }
      }
      let qq = 0;
      for (let j = 0; j < d; j++) qq += q[j] * q[j];
      const qn = Math.sqrt(qq);
      for (let i = 0; i < n; i++) {
        let s = 0;
        for (let j = 0, o = i * d; j < d; j++, o++) s += q[j] * emb[o];
        const xn = V.norms[i];
        if (qn === 0 || xn === 0) out[i] = qn === 0 && xn === 0 ? 0 : 1;
        else out[i] = 1 - Math.max(-1, Math.min(1, s / (qn * xn)));
      }
      return out;
    }
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let j = 0, o = i * d; j < d; j++, o++) {
        const t = q[j] - emb[o];
        s += metric === "minkowski" ? Math.abs(t) ** p : t * t;
      }
      out[i] = metric === "euclidean" ? Math.sqrt(s) : metric === "minkowski" ? s ** (1 / p) : s;
    }
    return out;
  }

  function top(dist, k) {
    const ids = Array.from(dist.keys());
    ids.sort((a, b) => dist[a] - dist[b] || a - b);
    return ids.slice(0, k);
  }

  /* A row in the shape of search-data.js' rows (and of the server's answers). */
  function rankRow(vec, V, cal, view, k, lst, xy) {
    const dist = distances(vec, V, view.metric, INDEX.minkowski_p);
    const ids = top(dist, k);
    const d = ids.map((i) => dist[i]);
    const { near, sim } = PG.data.similarity(d, cal);
    let mapXY = null;
    if (xy) {
      let sx = 0;
      let sy = 0;
      let sw = 0;
      const eps = 1e-9 * Math.max(Math.max(...d), 1e-12);
      for (let i = 0; i < Math.min(MAP_NEIGHBOURS, ids.length); i++) {
        const w = 1 / (d[i] + eps);
        sx += w * xy.x[ids[i]];
        sy += w * xy.y[ids[i]];
        sw += w;
      }
      mapXY = [sx / sw, sy / sw];
    }
    return {
      k,
      ids,
      dist: d,
      near,
      sim,
      score: null,
      hits: null,
      exact: true,
      recall: null,
      labels: ids.map((i) => lst.label(i)),
      mapXY,
      layer: view.layer,
    };
  }

  /* An Error when the build left the view's pooling out (its embeddings would have made the site too large). */
  function leftOut(view) {
    const shipped = INDEX.poolings[view.ds] || [];
    if (shipped.includes(view.pooling)) return null;
    return new Error(
      `this copy of the site searches with your own image in ${shipped.join(", ")} pooling only (the ${view.pooling} embeddings were left out to keep it small): choose ${shipped.join(" or ")}, or use playground serve`
    );
  }

  /* The upload's vectors for a model (computed once per upload and model). */
  function vectors(upload, model) {
    upload.vectors = upload.vectors || Object.create(null);
    if (!upload.vectors[model]) {
      const m = INDEX.models.find((x) => x.model === model);
      const t0 = performance.now();
      upload.vectors[model] = startModel(model)
        .then(() => call("embed", { model, image: upload.file, size: m.size }))
        .then((r) => {
          if (stats.cold === null) stats.cold = performance.now() - t0;
          upload.fresh = { decode: r.decode_ms, embed: r.run_ms }; // reported by the first view that uses them
          const out = Object.create(null);
          m.outputs.forEach((name, i) => {
            out[name] = r.vectors[i];
          });
          return out;
        });
      upload.vectors[model].catch(() => delete upload.vectors[model]);
    }
    return upload.vectors[model];
  }

  PG.browserCnn = {
    init() {
      return PG.load("web/index").then(
        (idx) => {
          INDEX = idx;
          return idx;
        },
        () => null
      );
    },
    /* {available, why, datasets, models}: what the static own-image search can do here. */
    info: () => INDEX,
    hasModel: (model) => !!INDEX?.models.some((m) => m.model === model),
    query(view, upload) {
      if (!PG.browserCnn.hasModel(view.model))
        return Promise.reject(new Error(`${view.model} has no in-browser model in this build`));
      const left = leftOut(view);
      if (left) return Promise.reject(left);
      const t0 = performance.now();
      return Promise.all([
        vectors(upload, view.model),
        viewData(view),
        PG.data.calibration(view),
        PG.data.listing(view.ds),
        PG.data.map(view).catch(() => null),
      ]).then(([vecs, V, cal, lst, xy]) => {
        const t1 = performance.now();
        const row = rankRow(vecs[`${view.layer}/${view.pooling}`], V, cal, view, PG.data.k(), lst, xy);
        const fresh = upload.fresh || { decode: 0, embed: 0 };
        upload.fresh = null;
        row.timing = { ...fresh, search: performance.now() - t1, total: performance.now() - t0, browser: true };
        return row;
      });
    },
    /* Every model x layer with an in-browser model, one model at a time: [{model, layers, rows}]. */
    async compareUpload(view, upload, progress) {
      const left = leftOut(view);
      if (left) throw left;
      const out = [];
      const lst = await PG.data.listing(view.ds);
      const ms = PG.data.models().filter((m) => PG.browserCnn.hasModel(m.slug));
      for (const [i, m] of ms.entries()) {
        if (progress) progress(`Comparing every layer: ${m.display} (${i + 1} of ${ms.length})…`);
        const vecs = await vectors(upload, m.slug);
        const rows = [];
        for (const la of m.layers) {
          const v = { ...view, model: m.slug, layer: la.slug };
          const [V, cal] = await Promise.all([viewData(v), PG.data.calibration(v)]);
          rows.push(rankRow(vecs[`${la.slug}/${view.pooling}`], V, cal, v, PG.data.k(), lst, null));
        }
        out.push({ model: m.slug, layers: m.layers.map((l) => l.slug), rows });
      }
      if (progress) progress("");
      return out;
    },
    /* Tests: the pixels the network gets for an image (decode + alpha + resize, in the worker). */
    pixels(file, size) {
      startWorker();
      return call("pixels", { image: file, size });
    },
    stats: () => stats,
  };
})();
