/* ConvNet Playground, Semantic Search: "Use this layer". A small dialog with the exact `playground export`
 * command for a view (dataset, model, layer, pooling, metric), the Python snippet of the export's README
 * (rendered into the page by precompute/site.py from precompute/export.py: one source), and, when the page is
 * served by `playground serve`, a download of the export as a zip (GET api/export).
 *
 * Every name goes in with textContent, shell-quoted as Python's shlex.quote does; the download URL is built
 * with URLSearchParams. Keyboard: the buttons are buttons; the dialog is modal (focus moves in, Escape closes,
 * focus returns to the button that opened it).
 */
(() => {
  const PG = window.PG;
  const D = PG.data;
  const $ = PG.$;
  const dlg = $("dlg-export");
  if (!dlg) return;
  let opener = null;

  /* shlex.quote: safe characters pass, anything else in single quotes (a ' becomes '"'"'). */
  const SAFE = /^[\w@%+=:,./-]+$/;
  const quote = (s) => (s === "" ? "''" : SAFE.test(s) ? s : `'${s.replace(/'/g, `'"'"'`)}'`);
  /* export.default_folder: export-<ds>-<model>-<layer>-<pooling> (slugs already; gem:2.5 -> gemp2_5) */
  const folder = (v) => `export-${[v.ds, v.model, v.layer, v.pool.replace(":", "p").replace(".", "_")].join("-")}`;

  function command(v) {
    return (
      `playground export --dataset ${quote(v.ds)} --model ${quote(v.model)} --layer ${quote(v.layer)} ` +
      `--pooling ${quote(v.pool)} --metric ${quote(v.metric)} --to ${quote(folder(v))}`
    );
  }

  function snippet(v, m) {
    const tpl = dlg.getAttribute(v.metric === "cosine" ? "data-snippet-cosine" : "data-snippet-other") || "";
    return tpl
      .split("{SIZE}")
      .join(String(m.input_size))
      .split("{K}")
      .join(String(D.k ? D.k() : 15));
  }

  /* v: {ds, model, layer, pool, metric} (slugs, as the search state holds them) */
  function open(v, from) {
    const m = D.model(v.model);
    const d = D.dataset(v.ds);
    if (!m || !d) return;
    const li = m.layers.findIndex((la) => la.slug === v.layer);
    const layer = li >= 0 ? m.layers[li] : { name: v.layer };
    $("export-what").textContent =
      `${m.display}, layer ${layer.name}, ${D.pooling(v.pool)?.name || v.pool} pooling, ${D.metric(v.metric)?.name || v.metric} distance, on ${d.name}.`;
    $("export-cmd").textContent = command(v);
    $("export-snippet").textContent = snippet(v, m);
    const zip = $("export-zip");
    const live = D.serve().mode === "server"; // the zip is made by the server
    zip.hidden = !live;
    $("export-zip-off").hidden = live;
    if (live) {
      const q = new URLSearchParams({
        dataset: v.ds,
        model: v.model,
        layer: v.layer,
        pooling: v.pool,
        metric: v.metric,
      });
      zip.setAttribute("href", `${PG.root}api/export?${q.toString()}`);
      zip.setAttribute("download", `${folder(v)}.zip`);
    }
    opener = from || null;
    if (!dlg.open) dlg.showModal();
  }

  function copy(id, btn) {
    const text = $(id).textContent;
    const done = () => {
      btn.textContent = "Copied";
      setTimeout(() => {
        btn.textContent = "Copy";
      }, 1500);
    };
    if (navigator.clipboard) navigator.clipboard.writeText(text).then(done, () => {});
  }

  for (const b of dlg.querySelectorAll("[data-close]")) b.addEventListener("click", () => dlg.close());
  for (const b of dlg.querySelectorAll("[data-copy]"))
    b.addEventListener("click", () => copy(b.getAttribute("data-copy"), b));
  dlg.addEventListener("click", (ev) => {
    if (ev.target === dlg) dlg.close();
  });
  dlg.addEventListener("close", () => {
    if (opener?.isConnected) opener.focus();
    opener = null;
  });

  /* The results view's button: the view on screen. */
  const btn = $("use-layer");
  if (btn)
    btn.addEventListener("click", () => {
      const s = PG.search.state();
      open({ ds: s.ds, model: s.model, layer: s.layer, pool: s.pool, metric: s.metric }, btn);
    });

  PG.exportDialog = { open, command, quote };
})();
