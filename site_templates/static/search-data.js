/* ConvNet Playground, Semantic Search: the ONE place that knows the data files.
 *
 * Every other module of the page asks this one for what it needs, in the page's terms:
 *   a view = {ds, model, layer, metric}: the rankings row of query q, the map coordinates, the leaderboard
 *   row of a model, the scores of every model x layer for one query; a dataset's labels and files.
 * It reads exactly the shapes the writers write (precompute/pipeline.py, precompute/featurevis/stage.py;
 * docs/architecture.md). When the data contract changes (rankings sharded by query block, the map in its
 * own file, sprite sheets, a pooling dimension), only this file changes.
 */
(() => {
  const PG = window.PG;
  const COMPARE_CHUNK = 64; // <ds>/compare/<metric>/<chunk>: queries 64*chunk .. 64*chunk+63

  let INDEX = null;
  let LB = null;
  let EX = null;
  let exPending = null;

  const bySlug = (list, slug) => list.find((x) => x.slug === slug);
  const rankingsKey = (v) => `${v.ds}/${v.model}/${v.layer}/${v.metric}`;

  const D = {
    /* index + leaderboard: everything the first render needs besides the per-view files. */
    init() {
      return Promise.all([PG.load("index"), PG.load("leaderboard").catch(() => null)]).then((r) => {
        INDEX = r[0];
        LB = r[1];
        return D;
      });
    },

    /* ---- the build's catalogue (synchronous once init resolved) ---- */
    datasets: () => INDEX.datasets,
    models: () => INDEX.models.filter((m) => !m.explorer_only),
    metrics: () => INDEX.metrics,
    k: () => INDEX.k,
    defaults: () => INDEX.defaults,
    dataset: (slug) => bySlug(INDEX.datasets, slug),
    model: (slug) => bySlug(D.models(), slug),
    metric: (slug) => bySlug(INDEX.metrics, slug),
    layerIndex: (model, slug) => model.layers.findIndex((l) => l.slug === slug),
    hasExplorer: () => document.documentElement.getAttribute("data-explorer") === "1",

    /* The view's file, for tests and the request budget: one switch = one file. */
    viewKey: rankingsKey,

    /* ---- per dataset ---- */
    /* {slug, name, classes: [..], images: [{id, file, label}]} */
    listing: (ds) => PG.load(`datasets/${ds}`),

    /* ---- per view ---- */
    /* The rankings row of query q: {ids, dist (real distances), sim (fractions 0..1), score, hits, k}. */
    row(view, q) {
      return PG.load(rankingsKey(view)).then((r) => {
        const scale = r.dist_scale;
        return {
          k: r.k,
          ids: r.ids[q] || [],
          dist: (r.dist[q] || []).map((d) => d * scale),
          sim: (r.sim[q] || []).map((s) => s / 100), // the writer stores integer percent
          score: r.score ? r.score[q] : null,
          hits: r.hits ? r.hits[q] : null,
        };
      });
    },

    /* UMAP coordinates of every image of the dataset, [[x, y] in 0..1] by image id (today inside the
       rankings file, so a switch with the map on screen is still one request). */
    map: (view) => PG.load(rankingsKey(view)).then((r) => r.xy),

    /* Mean search score ("score") or precision@k ("precision") per layer of one model, or null. */
    leaderboard(kind, view, model) {
      const v = LB?.[kind]?.[view.ds]?.[view.metric]?.[model];
      return Array.isArray(v) ? v : null;
    },

    /* Search score of query q for every model and layer: [{model, layers: [slug], scores: [number|null]}]. */
    compare(view, q) {
      const chunk = Math.floor(q / COMPARE_CHUNK);
      return PG.load(`${view.ds}/compare/${view.metric}/${chunk}`).then((c) => {
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

    /* ---- feature visualizations (explorer/index), for the layer tiles ---- */
    /* Resolves with a function (model, layer) -> "fv/<model>/<layer>/<c>.webp", the image of the layer's
       first visualized channel, or "" when there is none; resolves with null when the Model Explorer was not built. */
    layerImages() {
      if (!D.hasExplorer()) return Promise.resolve(null);
      if (!exPending) {
        exPending = PG.load("explorer/index").then(
          (ex) => {
            EX = ex;
            return (model, layer) => {
              const m = bySlug(EX.models, model);
              const l = m && bySlug(m.layers, layer);
              return l?.visualized.length ? `${l.images}${l.visualized[0]}.webp` : "";
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
