/* ConvNet Playground, Model Explorer: the one place that knows its data files (data/index.js,
 * data/explorer/index.js and data/explorer/<model>/<layer>.js as precompute/featurevis/stage.py writes them;
 * docs/featurevis.md). It merges the search index's models with the explorer's into one shape:
 *   {slug, display, params, n_layers, input_size, random, quick, hasFv, table (every layer, or null),
 *    layers: [{slug, name, type, depth_index, params, channels, output_shape, visualized: [ids], dead}]}
 */
(() => {
  const PG = window.PG;
  let INDEX = null;
  let EX = null;
  let MODELS = [];

  const bySlug = (list, slug) => list.find((x) => x.slug === slug);

  function merge() {
    const out = [];
    for (const m of EX ? EX.models : []) {
      out.push({
        slug: m.slug,
        display: m.display,
        params: m.params,
        n_layers: m.n_layers,
        input_size: m.input_size,
        random: m.random,
        quick: m.quick,
        hasFv: true,
        table: m.layer_table,
        layers: m.layers,
      });
    }
    for (const m of INDEX.models) {
      if (bySlug(out, m.slug)) continue;
      out.push({
        slug: m.slug,
        display: m.display,
        params: m.params,
        n_layers: m.n_layers,
        input_size: m.input_size,
        random: m.random,
        quick: false,
        hasFv: false,
        table: null,
        layers: m.layers.map((l) => Object.assign({ visualized: [], dead: 0 }, l)),
      });
    }
    return out.filter((m) => m.layers.length);
  }

  PG.exData = {
    init() {
      const hasEx = document.documentElement.getAttribute("data-explorer") === "1";
      return PG.load("index").then((idx) => {
        INDEX = idx;
        const ex = hasEx ? PG.load("explorer/index").then((e) => e) : Promise.resolve(null);
        return ex.then((e) => {
          EX = e;
          MODELS = merge();
        });
      });
    },
    models: () => MODELS,
    model: (slug) => bySlug(MODELS, slug),
    layer: (m, slug) => bySlug(m.layers, slug),
    layerPos: (m, slug) => m.layers.findIndex((l) => l.slug === slug),
    quick: () => !!EX?.quick,
    /* The image of a layer's first visualized channel ("fv/..."), or "". */
    firstImage: (m, l) => (m.hasFv && l.visualized.length ? `${l.images}${l.visualized[0]}.webp` : ""),
    /* [{channel, image, examples: [[dataset slug, image id]]}] of one layer. */
    channels: (model, layer) => PG.load(`explorer/${model}/${layer}`).then((d) => d.channels),
    /* Does semantic search have this model and layer (to link a dataset example to a search with it)? */
    searchable: (model, layer) => {
      const m = INDEX.models.find((x) => x.slug === model && !x.explorer_only);
      return !!(m && bySlug(m.layers, layer));
    },
    /* The category of a dataset image, for the examples' captions: Promise of {category, dataset}. */
    describe: (ds, id) =>
      PG.load(`datasets/${ds}`).then((d) => {
        const rec = d.images[id];
        return { category: rec && rec.label !== null ? String(d.classes[rec.label]) : "", dataset: d.name };
      }),
  };
})();
