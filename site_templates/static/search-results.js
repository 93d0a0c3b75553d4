/* ConvNet Playground, Semantic Search: the selected image (query card with its search score) and its
 * results, most similar first.
 */
(() => {
  const PG = window.PG;
  const D = PG.data;
  const P = PG.search;
  const $ = PG.$;
  const el = PG.el;

  function renderQuery(ctx) {
    const { s, listing, row } = ctx;
    const rec = listing.images[s.q];
    const cls = P.className(listing, rec?.label);
    const img = $("query-img");
    img.src = PG.imageUrl(s.ds, s.q);
    img.alt = `Selected image: ${cls ? `category ${cls}, ` : ""}file ${P.fileName(rec)}`;
    const qc = PG.clear($("query-class"));
    if (cls) {
      const sw = el("span", { class: "swatch", "aria-hidden": "true" });
      sw.style.background = PG.classColor(rec.label);
      qc.appendChild(sw);
      qc.appendChild(el("span", { text: cls }));
    } else {
      qc.appendChild(el("span", { class: "muted", text: "no category" }));
    }
    $("query-file").textContent = `${P.fileName(rec)}  ·  #${s.q} of ${listing.images.length}`;
    $("query-file").title = rec ? String(rec.file) : "";

    const gauge = $("gauge");
    const val = $("gauge-value");
    if (typeof row.score === "number") {
      const score = row.score;
      $("score-number").textContent = score.toFixed(1);
      val.style.strokeDasharray = `${Math.max(0.001, Math.min(100, score))} 100`;
      gauge.setAttribute("aria-label", `Search score ${score.toFixed(1)} out of 100`);
      PG.clear($("score-hits")).appendChild(el("strong", { text: `${row.hits} / ${row.ids.length}` }));
      $("score-hits").appendChild(document.createTextNode(" results in the same category"));
      $("score-block").classList.remove("is-na");
      gauge.className = `gauge ${score >= 66 ? "g-hi" : score >= 33 ? "g-mid" : "g-lo"}`;
    } else {
      $("score-number").textContent = "n/a";
      val.style.strokeDasharray = "0 100";
      gauge.setAttribute("aria-label", "No search score: this dataset has no categories");
      $("score-hits").textContent = "This dataset has no categories, so there is no score: judge the results by eye.";
      $("score-block").classList.add("is-na");
      gauge.className = "gauge";
    }
  }

  function renderResults(ctx) {
    const { s, listing, row, prev } = ctx;
    const ol = PG.clear($("results"));
    const qrec = listing.images[s.q];
    const lab = P.labeled();
    $("k-label").textContent = String(row.ids.length);
    row.ids.forEach((id, r) => {
      const rec = listing.images[id];
      const cls = P.className(listing, rec?.label);
      const same = lab && rec.label !== null && rec.label === qrec.label;
      const pct = Math.round(row.sim[r] * 100);
      const bar = el("span", { class: "sim-bar", "aria-hidden": "true" }, el("span", { class: "sim-fill" }));
      bar.firstChild.style.width = `${Math.max(2, Math.min(100, pct))}%`;
      const mark = lab
        ? el("span", {
            class: `mark ${same ? "mark-hit" : "mark-miss"}`,
            "aria-hidden": "true",
            text: same ? "✓" : "✗",
          })
        : null;
      const label = `Rank ${r + 1}: ${cls || `image ${id}`}${lab ? (same ? ", same category" : ", different category") : ""}, similarity ${pct}%. Search from this image.`;
      const btn = el(
        "button",
        { type: "button", class: "result", "data-id": id, "aria-label": label, title: String(rec.file) },
        [
          el("span", { class: "result-img" }, [
            el("img", {
              src: PG.thumbUrl(s.ds, id),
              alt: "",
              width: 128,
              height: 128,
              loading: r < 10 ? "eager" : "lazy",
              decoding: "async",
            }),
            el("span", { class: "rank", text: String(r + 1) }),
            mark,
          ]),
          el("span", { class: "result-class", text: cls || `#${id}` }),
          bar,
          el("span", { class: "result-nums" }, [
            el("span", { text: `sim ${pct}%` }),
            el("span", { text: `d ${PG.fmtDist(row.dist[r])}` }),
          ]),
        ]
      );
      btn.addEventListener("click", () => P.search(id, false));
      PG.searchMap.hoverLink(btn, id);
      ol.appendChild(el("li", { class: same ? "is-hit" : lab ? "is-miss" : "" }, btn));
    });
    const m = D.model(s.model);
    const li = D.layerIndex(m, s.layer);
    const cfg = PG.clear($("results-config"));
    cfg.appendChild(
      document.createTextNode(
        `${m.display} · layer ${li + 1}/${m.layers.length} ${m.layers[li].name} · ${D.metric(s.metric).name} distance`
      )
    );
    if (m.random) cfg.appendChild(PG.randomBadge(false));
    const cfgChanged =
      prev && (prev.ds !== s.ds || prev.model !== s.model || prev.layer !== s.layer || prev.metric !== s.metric);
    if (cfgChanged && !PG.reducedMotion()) {
      const p = $("search");
      p.classList.remove("flash");
      void p.offsetWidth;
      p.classList.add("flash");
    }
  }

  PG.searchResults = {
    init() {
      P.panel({
        view(ctx) {
          renderQuery(ctx);
          renderResults(ctx);
        },
      });
    },
  };
})();
