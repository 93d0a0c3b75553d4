/* ConvNet Playground, Semantic Search: the selected image (query card with its search score) and its
 * results, most similar first. The query is an image of the dataset, or an image of the visitor's own
 * (search-upload.js): both are drawn the same way.
 */
(() => {
  const PG = window.PG;
  const D = PG.data;
  const P = PG.search;
  const $ = PG.$;
  const el = PG.el;

  /* The category an uploaded image is scored against: the one the visitor chose, else a vote of the results in
     which the result at rank r counts 1 / r (the nearest counts most: bananas at ranks 1-4 outvote arches at
     ranks 5-11, which a plain count would not). Ties: the category met first in the ranking. Returns
     {c, guessed} or null (unlabelled dataset). */
  function uploadCategory(lst, row, upload) {
    if (!lst.labeled) return null;
    if (upload.category !== null && upload.category !== undefined) return { c: upload.category, guessed: false };
    const votes = new Map(); // insertion order = first rank at which a category appears
    row.ids.forEach((id, r) => {
      const c = lst.label(id);
      if (c !== null) votes.set(c, (votes.get(c) || 0) + 1 / (r + 1));
    });
    let best = null;
    let total = 0;
    for (const [c, v] of votes) {
      total += v;
      if (best === null || v > votes.get(best) + 1e-12) best = c;
    }
    // confidence: the winner's share of the vote (1 when every result is of its category)
    return best === null ? null : { c: best, guessed: true, share: votes.get(best) / total };
  }

  /* Whether an uploaded image is unlike every image of the dataset at this view: even its closest match is
     farther apart than half of the dataset's own image pairs (near_ppm is the share of pairs at least as close). */
  const UNLIKE_PPM = 500000;
  function unlikeEvery(row) {
    const near = row.near?.[0];
    return typeof near === "number" && near > UNLIKE_PPM;
  }

  function showPicture(url, cell, alt) {
    const img = $("query-img");
    const thumb = $("query-thumb");
    if (url) {
      img.src = url;
      img.alt = alt;
      img.hidden = false;
      thumb.hidden = true;
    } else {
      img.removeAttribute("src");
      img.hidden = true;
      PG.paintThumb(thumb, cell);
      thumb.setAttribute("aria-label", alt);
      thumb.hidden = false;
    }
  }

  /* `guessed`: the winning share of the vote of a guessed category (0..1), else null. */
  function classLine(label, name, extra, guessed) {
    const qc = PG.clear($("query-class"));
    if (name) {
      const sw = el("span", { class: "swatch", "aria-hidden": "true" });
      sw.style.background = PG.classColor(label);
      qc.appendChild(sw);
      qc.appendChild(el("span", { text: name }));
      if (typeof guessed === "number")
        qc.appendChild(
          el("span", {
            class: "muted guess",
            text: ` · guessed, ${Math.round(100 * guessed)} % of the vote`,
            title: "The results vote, the one at rank r with weight 1/r; choose “Its category” above to change it.",
          })
        );
    } else {
      qc.appendChild(el("span", { class: "muted", text: extra || "no category" }));
    }
  }

  function showScore(score, hitsText, na) {
    const gauge = $("gauge");
    const val = $("gauge-value");
    if (typeof score === "number") {
      $("score-number").textContent = score.toFixed(1);
      val.style.strokeDasharray = `${Math.max(0.001, Math.min(100, score))} 100`;
      gauge.setAttribute("aria-label", `Search score ${score.toFixed(1)} out of 100`);
      PG.clear($("score-hits")).appendChild(el("strong", { text: hitsText }));
      $("score-hits").appendChild(document.createTextNode(" results in the same category"));
      $("score-block").classList.remove("is-na");
      gauge.className = `gauge ${score >= 66 ? "g-hi" : score >= 33 ? "g-mid" : "g-lo"}`;
    } else {
      $("score-number").textContent = "n/a";
      val.style.strokeDasharray = "0 100";
      gauge.setAttribute("aria-label", "No search score");
      $("score-hits").textContent = na;
      $("score-block").classList.add("is-na");
      gauge.className = "gauge";
    }
  }

  function renderQuery(ctx) {
    renderQueryCard(ctx);
    P.takeFocus();
  }

  function renderQueryCard(ctx) {
    const { s, listing: lst, row, upload, token } = ctx;
    const note = $("score-note");
    if (upload) {
      showPicture(upload.url, null, `Your image: ${upload.name}`);
      const cat = uploadCategory(lst, row, upload);
      const unlike = unlikeEvery(row);
      if (cat) classLine(cat.c, lst.classes[cat.c], "", cat.guessed ? cat.share : null);
      else classLine(null, "", "your image");
      if (cat && unlike) {
        showScore(null, "", "No score: your image is unlike every image of this dataset at this layer.");
        note.textContent = "";
      } else if (cat) {
        const hits = row.ids.filter((id) => lst.label(id) === cat.c).length;
        showScore(PG.searchScore(row.ids.map(lst.label), cat.c), `${hits} / ${row.ids.length}`, "");
        note.textContent = cat.guessed
          ? "Scored as the category that wins a vote of the results, the nearest counting most (rank r counts 1/r); choose your image's category above to score it as another."
          : "Scored as the category you chose above.";
      } else {
        showScore(null, "", "This dataset has no categories, so there is no score: judge the results by eye.");
        note.textContent = "";
      }
      $("query-unlike").hidden = !unlike;
      if (unlike)
        $("query-unlike").textContent =
          `Your image is unlike every image of ${lst.name} at this layer: even the closest result is farther apart than ${(Math.floor(row.near[0] / 1000) / 10).toFixed(1)} % of the dataset's own image pairs. The results${cat?.guessed ? " and the guessed category" : ""} say little about it.`;
      note.hidden = !note.textContent;
      $("query-file").textContent = `your image · ${upload.name}`;
      $("query-file").title = upload.name;
      $("query-eyebrow").textContent = "Your image";
      return;
    }
    $("query-eyebrow").textContent = "Selected image";
    note.hidden = true;
    $("query-unlike").hidden = true;
    const cls = lst.className(s.q);
    const describe = (file) => `Selected image: ${cls ? `category ${cls}, ` : ""}${file ? `file ${file}` : `#${s.q}`}`;
    showPicture(lst.display(s.q), lst.thumb(s.q), describe(""));
    classLine(lst.label(s.q), cls);
    const where = `#${s.q} of ${lst.n.toLocaleString("en-US")}`;
    const known = D.fileNow(lst, s.q);
    $("query-file").textContent = known ? `${P.baseName(known)}  ·  ${where}` : where;
    $("query-file").title = known || "";
    if (!known) {
      D.file(lst, s.q).then(
        (f) => {
          if (document.body.dataset.ready !== String(token) || P.state().q !== s.q || P.upload()) return;
          $("query-file").textContent = `${P.baseName(f)}  ·  ${where}`;
          $("query-file").title = f;
          const pic = $("query-img").hidden ? $("query-thumb") : $("query-img");
          pic.setAttribute(pic === $("query-img") ? "alt" : "aria-label", describe(f));
        },
        () => {}
      );
    }
    if (typeof row.score === "number") {
      showScore(row.score, `${row.hits} / ${row.ids.length}`, "");
    } else {
      showScore(null, "", "This dataset has no categories, so there is no score: judge the results by eye.");
    }
  }

  function renderResults(ctx) {
    const { s, listing: lst, row, prev, upload } = ctx;
    const ol = PG.clear($("results"));
    const cat = upload ? uploadCategory(lst, row, upload) : null;
    const qlabel = upload ? (cat && !cat.guessed ? cat.c : null) : lst.label(s.q);
    const marks = lst.labeled && qlabel !== null;
    const metricName = D.metric(s.metric).name;
    $("k-label").textContent = String(row.ids.length);
    row.ids.forEach((id, r) => {
      const cls = lst.className(id);
      const same = marks && lst.label(id) === qlabel;
      const near = row.near[r];
      const top = PG.fmtTop(near);
      const bar = el("span", { class: "sim-bar", "aria-hidden": "true" }, el("span", { class: "sim-fill" }));
      bar.firstChild.style.width = `${Math.max(2, PG.nearBar(near) * 100)}%`;
      const mark = marks
        ? el("span", {
            class: `mark ${same ? "mark-hit" : "mark-miss"}`,
            "aria-hidden": "true",
            text: same ? "✓" : "✗",
          })
        : null;
      const dist = PG.fmtDist(row.dist[r]);
      // The accessible name is the button's own text plus words only a screen reader hears, so that it holds
      // what is shown, in the order shown (axe: label-content-name-mismatch), and says what a sighted user infers
      // from the tick, the bar and the layout.
      const sr = (text) => el("span", { class: "sr-only", text });
      const kind = marks ? (same ? ", same category" : ", different category") : "";
      const thumb = PG.paintThumb(el("span", { class: "thumb" }), lst.thumb(id));
      const btn = el("button", { type: "button", class: "result", "data-id": id }, [
        el("span", { class: "result-img" }, [
          thumb,
          el("span", { class: "rank" }, [sr("Rank "), String(r + 1), sr(": ")]),
          mark,
        ]),
        el("span", { class: "result-class", text: cls || `#${id}` }),
        sr(`${cls ? "" : " (image)"}${kind}, `),
        bar,
        el("span", { class: "result-nums" }, [
          el("span", { class: "result-d", text: `d ${dist}`, title: `${metricName} distance` }),
          sr(", "),
          el("span", {
            class: "result-sim",
            text: top,
            title: `closer than ${PG.fmtSim(near)} of all image pairs of the dataset`,
          }),
          sr(`${typeof near === "number" ? " of all image pairs" : ""}. Search from this image.`),
        ]),
      ]);
      // Enter/Space (a click with detail 0): the focus moves to the new query (the button is redrawn, and the
      // focus would fall back to <body>)
      btn.addEventListener("click", (ev) => P.search(id, false, ev.detail === 0));
      PG.searchMap.hoverLink(btn, id);
      ol.appendChild(el("li", { class: same ? "is-hit" : marks ? "is-miss" : "" }, btn));
    });
    const m = D.model(s.model);
    const li = D.layerIndex(m, s.layer);
    const cfg = PG.clear($("results-config"));
    const pool = D.poolings().length > 1 ? ` · ${D.pooling(s.pool).name} pooling` : "";
    cfg.appendChild(
      document.createTextNode(
        `${m.display} · layer ${li + 1}/${m.layers.length} ${m.layers[li].name}${pool} · ${D.metric(s.metric).name} distance`
      )
    );
    if (m.random) cfg.appendChild(PG.randomBadge(false));
    if (!row.exact) {
      const rc = typeof row.recall === "number" ? ` · recall ${(row.recall * 100).toFixed(1)} %` : "";
      cfg.appendChild(
        el("span", {
          class: "badge badge-approx badge-small",
          id: "approx-badge",
          text: `≈ approximate${rc}`,
          title:
            "These neighbours come from an approximate nearest-neighbour search (the dataset is large). On a sample of queries it found this share of the exact top results.",
        })
      );
    }
    if (upload && row.timing) {
      const t = row.timing;
      cfg.appendChild(
        el("span", {
          class: "muted",
          text: `· ${t.browser ? "computed in your browser" : "answered"} in ${Math.round(t.decode + t.embed + t.search)} ms`,
        })
      );
    }
    const cfgChanged =
      prev &&
      (prev.ds !== s.ds ||
        prev.model !== s.model ||
        prev.layer !== s.layer ||
        prev.pool !== s.pool ||
        prev.metric !== s.metric);
    if (cfgChanged && !PG.reducedMotion()) {
      const p = $("search");
      p.classList.remove("flash");
      void p.offsetWidth;
      p.classList.add("flash");
    }
  }

  /* k: the results shown, 1 .. the build's k (the rankings keep that many per image) */
  function kChoices(K) {
    return [...new Set([1, 3, 5, 10, 15, 20, 30, 50, 100, K].filter((v) => v <= K))].sort((a, b) => a - b);
  }
  function showK(k) {
    for (const n of document.querySelectorAll(".k-now")) n.textContent = String(k);
    if ($("k-one")) $("k-one").textContent = (200 / (k + 1)).toFixed(1);
  }

  PG.searchResults = {
    init() {
      const pick = $("k-select");
      const K = D.k();
      for (const v of kChoices(K))
        pick.appendChild(el("option", { value: String(v), text: v === K ? `${v} (all kept)` : String(v) }));
      pick.title = `Results shown per search: the build kept ${K} per image`;
      pick.addEventListener("change", () => P.set({ k: Number(pick.value) }, false));
      P.panel({
        config(s) {
          if (![...pick.options].some((o) => o.value === String(s.k)))
            pick.appendChild(el("option", { value: String(s.k), text: String(s.k) }));
          pick.value = String(s.k);
          showK(s.k);
        },
        view(ctx) {
          renderQuery(ctx);
          renderResults(ctx);
        },
      });
    },
    uploadCategory,
    unlikeEvery,
  };
})();
