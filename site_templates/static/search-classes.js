/* ConvNet Playground, Semantic Search: "Per class", which categories a layer serves well and which it gets wrong.
 * One small file per view (contract.ClassesFile, loaded when this tab is open): per category its images' mean
 * search score and precision@k as queries, the same score at every layer of the model (mini bars, this layer
 * outlined), the categories that took most of its results, and its worst image; then the view's worst queries.
 * Sorted worst first or by name (cls=name in the URL), filterable; a category or a worst image searches with it.
 */
(() => {
  const PG = window.PG;
  const D = PG.data;
  const P = PG.search;
  const $ = PG.$;
  const el = PG.el;
  const ROWS = 25; // rows shown before "Show all"
  let showAll = false;
  let filter = "";
  let last = null; // {key, file} of the table drawn

  const fmtPct = (share) => (share < 0.005 ? "<1 %" : `${Math.round(100 * share)} %`);

  function layerBars(file, classIndex, model, current) {
    const scores = file.by_layer.map((l) => (Array.isArray(l) ? l[classIndex] : null));
    const label = model.layers
      .map((_l, i) => `L${i + 1} ${typeof scores[i] === "number" ? scores[i].toFixed(1) : "n/a"}`)
      .join(", ");
    const box = el("span", { class: "cls-layers", role: "img", "aria-label": `Score at each layer: ${label}` });
    scores.forEach((v, i) => {
      const bar = el("span", { class: `cls-bar${i === current ? " is-current" : ""}` });
      bar.style.height = `${typeof v === "number" ? Math.max(4, v) : 0}%`;
      box.appendChild(
        el("span", { class: "cls-slot", title: `L${i + 1}: ${typeof v === "number" ? v.toFixed(1) : "n/a"}` }, bar)
      );
    });
    return box;
  }

  function renderTable(s, lst, file) {
    const table = PG.clear($("classes"));
    const model = D.model(s.model);
    const current = D.layerIndex(model, s.layer);
    const k = file.k;
    const needle = filter.trim().toLowerCase();
    let rows = lst.classes.map((name, c) => ({ c, name: String(name), score: file.score[c] }));
    rows = rows.filter((r) => typeof r.score === "number");
    if (s.cls === "name") rows.sort((a, b) => a.name.localeCompare(b.name) || a.c - b.c);
    else rows.sort((a, b) => a.score - b.score || a.c - b.c);
    const matching = needle ? rows.filter((r) => r.name.toLowerCase().includes(needle)) : rows;
    const shown = showAll || needle ? matching : matching.slice(0, ROWS);
    table.appendChild(
      el("caption", {
        class: "sr-only",
        text: `Search score per category at ${model.display} ${model.layers[current].name}, ${s.cls === "name" ? "by name" : "worst first"}`,
      })
    );
    table.appendChild(
      el(
        "thead",
        null,
        // on a phone the table keeps four columns: the size and the confusions go under the category's name
        el("tr", null, [
          el("th", { scope: "col", text: "Category" }),
          el("th", { scope: "col", class: "num cls-wide", text: "Images" }),
          el("th", { scope: "col", class: "num", text: "Score" }),
          el("th", { scope: "col", class: "num" }, [
            el("span", { class: "cls-wide", text: `Precision@${k}` }),
            el("abbr", { class: "cls-narrow", title: `Precision@${k}`, text: `P@${k}` }),
          ]),
          el("th", { scope: "col" }, [
            el("span", { class: "cls-wide", text: "Score at " }),
            `L1–L${model.layers.length}`,
          ]),
          el("th", { scope: "col", class: "cls-wide", text: "Most of its other results are" }),
        ])
      )
    );
    const body = el("tbody");
    for (const r of shown) {
      const [a, b] = lst.classRange(r.c);
      const worst = file.worst_query[r.c];
      const name =
        typeof worst === "number"
          ? el("button", {
              type: "button",
              class: "linkish",
              "data-id": worst,
              text: r.name,
              title: `Search with its lowest-scoring image (#${worst})`,
              "aria-label": `${r.name}: search with its lowest-scoring image`,
            })
          : el("span", { text: r.name });
      const confused = file.confused[r.c] || [];
      const others = confused.length
        ? confused.map(([d, m]) => `${lst.classes[d]} ${fmtPct(m / ((b - a) * k))}`).join(", ")
        : "—";
      body.appendChild(
        el("tr", null, [
          el("th", { scope: "row" }, [
            name,
            el("span", {
              class: "cls-narrow cls-sub",
              text: `${(b - a).toLocaleString("en-US")} images${confused.length ? ` · mostly ${others}` : ""}`,
            }),
          ]),
          el("td", { class: "num cls-wide", text: (b - a).toLocaleString("en-US") }),
          el("td", { class: "num", text: r.score.toFixed(1) }),
          el("td", { class: "num", text: file.precision[r.c].toFixed(2) }),
          el("td", null, layerBars(file, r.c, model, current)),
          el("td", { class: "cls-confused cls-wide", text: others }),
        ])
      );
    }
    table.appendChild(body);
    const more = $("cls-more");
    more.hidden = showAll || !!needle || matching.length <= ROWS;
    more.textContent = `Show all ${matching.length.toLocaleString("en-US")} categories`;
    $("cls-count").textContent = needle
      ? `${matching.length} of ${rows.length} categories`
      : `${shown.length} of ${rows.length} categories`;
  }

  function renderWorst(lst, file) {
    const ol = PG.clear($("worst"));
    file.worst.forEach((id, i) => {
      const cls = lst.className(id);
      const score = file.worst_score[i];
      ol.appendChild(
        el(
          "li",
          null,
          el(
            "button",
            {
              type: "button",
              class: "worst",
              "data-id": id,
            },
            // named by its own text (axe: label-content-name-mismatch), with words only a screen reader hears
            [
              PG.paintThumb(el("span", { class: "thumb" }), lst.thumb(id)),
              el("span", { class: "worst-class", text: cls || `#${id}` }),
              el("span", { class: "sr-only", text: ", search score " }),
              el("span", { class: "worst-score", text: score.toFixed(1) }),
              el("span", { class: "sr-only", text: ": search with it" }),
            ]
          )
        )
      );
    });
  }

  function render(ctx) {
    const { s, view, listing: lst } = ctx;
    const model = D.model(s.model);
    const layer = model.layers[D.layerIndex(model, s.layer)];
    const where = `${model.display} ${layer.name}, ${D.metric(s.metric).name} distance${D.poolings().length > 1 ? `, ${D.pooling(s.pool).name} pooling` : ""}`;
    if (!lst.labeled) {
      $("cls-sub").textContent = "n/a: this dataset has no categories, so there is nothing to score per category.";
      PG.clear($("classes"));
      PG.clear($("worst"));
      $("cls-tools").hidden = true;
      $("worst-box").hidden = true;
      return;
    }
    $("cls-tools").hidden = false;
    $("worst-box").hidden = false;
    const key = `${view.ds}/${view.model}/${view.layer}/${view.pooling}/${view.metric}`;
    D.classes(view).then(
      (file) => {
        if (P.view().ds !== view.ds || JSON.stringify(P.view()) !== JSON.stringify(view)) return;
        last = { key, file, lst };
        $("cls-sub").textContent =
          `How well ${where} serves each category of ${lst.name}: the mean search score and precision@${file.k} of its images as queries, worst first or by name. The bars: the same score at every layer of ${model.display}, this one outlined. Click a category to search with its lowest-scoring image.`;
        $("worst-sub").textContent =
          `The ${file.worst.length} images whose ${file.k} results share their category least at this layer (search score, lowest first). Click one to see its results.`;
        renderTable(P.state(), lst, file);
        renderWorst(lst, file);
      },
      (err) => {
        $("cls-sub").textContent = `The per-category file of this view could not be loaded (${err.message}).`;
      }
    );
  }

  PG.searchClasses = {
    init() {
      const sorts = { "cls-worst": "worst", "cls-name": "name" };
      for (const id of Object.keys(sorts)) $(id).addEventListener("click", () => P.set({ cls: sorts[id] }, false));
      $("cls-more").addEventListener("click", () => {
        showAll = true;
        if (last) renderTable(P.state(), last.lst, last.file);
      });
      $("cls-filter").addEventListener("input", () => {
        filter = $("cls-filter").value;
        if (last) renderTable(P.state(), last.lst, last.file);
      });
      for (const box of [$("classes"), $("worst")]) {
        box.addEventListener("click", (ev) => {
          const b = ev.target.closest("button[data-id]");
          if (b) P.search(Number(b.dataset.id), true, ev.detail === 0);
        });
      }
      P.panel({
        config(s, prev) {
          for (const id of Object.keys(sorts))
            $(id).setAttribute("aria-pressed", (s.cls || "worst") === sorts[id] ? "true" : "false");
          if (prev && prev.ds !== s.ds) {
            showAll = false;
            filter = "";
            $("cls-filter").value = "";
          }
        },
        view(ctx) {
          if (ctx.s.tab === "classes") render(ctx);
        },
      });
    },
  };
})();
