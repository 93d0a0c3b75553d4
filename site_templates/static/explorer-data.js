/* ConvNet Playground, Model Explorer: the one place that knows its data files (data/index.js,
 * data/explorer/index.js, data/explorer/<model>/<layer>.js as precompute/featurevis/stage.py writes them, and
 * data/datasets/<ds>.js for the dataset examples; precompute/contract.py, docs/featurevis.md). It merges the
 * search index's models with the explorer's into one shape:
 *   {slug, display, params, n_layers, input_size, render_size, steps (or null), random, quick, hasFv,
 *    table (every layer, or null),
 *    layers: [{slug, name, type, depth_index, params, channels, output_shape, visualized: [ids], dead, pending}]}
 * A pending layer was not rendered yet (a time budget stopped the build first): the next build renders it.
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
        render_size: m.render_size,
        steps: m.steps,
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
        render_size: null,
        steps: null,
        random: m.random,
        quick: false,
        hasFv: false,
        table: null,
        layers: m.layers.map((l) => Object.assign({ visualized: [], dead: 0, pending: false }, l)),
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
    /* Layers not rendered yet in the whole explorer (0 when complete). */
    pending: () => (EX ? EX.pending : 0),
    /* The image of a layer's first visualized channel ("fv/..."), or "" (none, or pending). */
    firstImage: (m, l) => (m.hasFv && !l.pending && l.visualized.length ? `${l.images}${l.visualized[0]}.webp` : ""),
    /* {pending, channels: [{channel, image (null while pending), examples: [[dataset slug, image id]]}]} */
    channels: (model, layer) =>
      PG.load(`explorer/${model}/${layer}`).then((d) => ({ pending: d.pending, channels: d.channels })),
    /* Does semantic search have this model and layer (to link a dataset example to a search with it)? */
    searchable: (model, layer) => {
      const m = INDEX.models.find((x) => x.slug === model && !x.explorer_only);
      return !!(m && bySlug(m.layers, layer));
    },
    /* A dataset image for the examples: Promise of {category, dataset, thumb (a sprite cell)}. Ids are sorted
       by class: class c owns ids class_start[c] .. class_start[c + 1] - 1. */
    describe: (ds, id) =>
      PG.load(`datasets/${ds}`).then((d) => {
        let category = "";
        if (d.class_start && id >= 0 && id < d.n) {
          let c = 0;
          while (c + 1 < d.classes.length && d.class_start[c + 1] <= id) c++;
          category = String((d.class_names || d.classes)[c]);
        }
        return { category, dataset: d.name, thumb: PG.spriteCell(d.thumbs, d.n, id) };
      }),
  };
})();
