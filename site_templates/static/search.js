/* ConvNet Playground: the Semantic Search page.
 *
 * State (all of it in the URL hash): ds, model, layer, metric, q (query image id), adv (advanced panel),
 * view (dataset browser: all | cat), tab (leaderboard | compare), lb (score | precision).
 * Data: index, leaderboard (first view), datasets/<ds>, <ds>/<model>/<layer>/<metric> (one file per
 * switch: rankings, scores and the UMAP map), <ds>/compare/<metric>/<chunk> (only while
 * the compare tab is open), explorer/index (only while the advanced panel is open, for layer tiles).
 */
(function () {
  "use strict";
  var PG = window.PG;
  var $ = PG.$;
  var el = PG.el;

  var INDEX = null;
  var LB = null;
  var EX = null; // explorer index (feature visualizations), when built
  var DS = null; // current datasets/<ds> file
  var RANK = null; // current rankings file
  var RANK_FOR = ""; // "<ds>/<model>/<layer>" the current rankings file (and its map) belongs to
  var MODELS = [];
  var S = { ds: "", model: "", layer: "", metric: "", q: 0, adv: false, view: "all", tab: "leaderboard", lb: "score" };
  var last = "layer"; // the control ←/→ steps through
  var seq = 0;
  var map = null;
  var mapVisible = false;
  var mapKey = "";
  var mapDs = "";
  var gridShown = 0;
  var GRID_CHUNK = 300;
  var CAT_CHUNK = 60;
  var catOpen = Object.create(null);

  /* ---------------------------------------------------------------- lookups */
  function dsInfo(slug) {
    return INDEX.datasets.filter(function (d) {
      return d.slug === slug;
    })[0];
  }
  function modelInfo(slug) {
    return MODELS.filter(function (m) {
      return m.slug === slug;
    })[0];
  }
  function layerIndex(model, slug) {
    for (var i = 0; i < model.layers.length; i++) if (model.layers[i].slug === slug) return i;
    return -1;
  }
  function metricInfo(slug) {
    return INDEX.metrics.filter(function (m) {
      return m.slug === slug;
    })[0];
  }
  function lbValues(kind, ds, metric, model) {
    if (!LB) return null;
    var root = LB.score && typeof LB.score === "object" && !Array.isArray(LB.score) && (kind === "score" || LB.precision) ? LB[kind] : null;
    if (!root) root = kind === "score" ? LB : LB.precision; // the contract's original shape
    var v = root && root[ds] && root[ds][metric] && root[ds][metric][model];
    return Array.isArray(v) ? v : null;
  }
  function className(label) {
    if (label === null || label === undefined || !DS) return "";
    var c = DS.classes[label];
    return c === undefined ? "" : String(c);
  }
  function imageRec(id) {
    return DS && DS.images[id];
  }
  function fileName(rec) {
    if (!rec) return "";
    var f = String(rec.file || "");
    var i = f.lastIndexOf("/");
    return i >= 0 ? f.slice(i + 1) : f;
  }
  function labeled() {
    var d = dsInfo(S.ds);
    return d && d.labeled !== false;
  }

  /* ------------------------------------------------------------------ state */
  function validate(h) {
    var s = {};
    var d = dsInfo(h.ds) || dsInfo(INDEX.defaults && INDEX.defaults.dataset) || INDEX.datasets[0];
    s.ds = d.slug;
    var m = modelInfo(h.model) || modelInfo(INDEX.defaults && INDEX.defaults.model) || MODELS[0];
    s.model = m.slug;
    var li = layerIndex(m, h.layer);
    if (li < 0 && INDEX.defaults && m.slug === INDEX.defaults.model) li = layerIndex(m, INDEX.defaults.layer);
    if (li < 0) li = m.layers.length - 1;
    s.layer = m.layers[li].slug;
    var me = metricInfo(h.metric) || metricInfo(INDEX.defaults && INDEX.defaults.metric) || INDEX.metrics[0];
    s.metric = me.slug;
    var q = parseInt(h.q, 10);
    s.q = isFinite(q) && q >= 0 && q < d.n_images ? q : 0;
    s.adv = h.adv === "1";
    s.view = h.view === "cat" ? "cat" : "all";
    s.tab = h.tab === "compare" ? "compare" : "leaderboard";
    s.lb = h.lb === "precision" ? "precision" : "score";
    return s;
  }

  function writeState(push) {
    PG.writeHash(
      {
        ds: S.ds,
        model: S.model,
        layer: S.layer,
        metric: S.metric,
        q: S.q,
        adv: S.adv,
        view: S.view === "cat" ? "cat" : "",
        tab: S.tab === "compare" ? "compare" : "",
        lb: S.lb === "precision" ? "precision" : "",
      },
      push
    );
  }

  /* Change part of the state; `push` adds a history entry (searches, config), else it replaces. */
  function set(patch, push) {
    var prev = S;
    S = Object.assign({}, S, patch);
    if (patch.model && patch.model !== prev.model && !patch.layer) {
      // keep the same position along depth when the model changes
      var pm = modelInfo(prev.model);
      var nm = modelInfo(S.model);
      var pi = pm ? layerIndex(pm, prev.layer) : -1;
      var frac = pm && pi >= 0 ? pi / Math.max(1, pm.layers.length - 1) : 1;
      S.layer = nm.layers[Math.round(frac * (nm.layers.length - 1))].slug;
    }
    if (patch.ds && patch.ds !== prev.ds && patch.q === undefined) S.q = 0;
    writeState(push);
    update(prev);
  }

  /* ----------------------------------------------------------------- update */
  function update(prev) {
    var token = ++seq;
    var cfgChanged = !prev || prev.ds !== S.ds || prev.model !== S.model || prev.layer !== S.layer || prev.metric !== S.metric;
    renderStatic(prev);
    document.body.setAttribute("aria-busy", "true");
    var rankFor = S.ds + "/" + S.model + "/" + S.layer;
    Promise.all([PG.load("datasets/" + S.ds), PG.load(S.ds + "/" + S.model + "/" + S.layer + "/" + S.metric)])
      .then(function (res) {
        if (token !== seq) return;
        var dsChanged = !DS || DS.slug !== res[0].slug || (prev && prev.ds !== S.ds);
        DS = res[0];
        RANK = res[1];
        RANK_FOR = rankFor;
        if (RANK.simScale === undefined) detectSimScale(RANK);
        if (S.q >= DS.images.length) S.q = 0;
        if (dsChanged || !$("grid").firstChild || (prev && prev.view !== S.view)) renderBrowser();
        renderQuery();
        renderResults(cfgChanged && prev);
        markGrid();
        renderLegend();
        ensureMap();
        renderLeaderboard();
        if (S.tab === "compare") renderCompare();
        document.body.removeAttribute("aria-busy");
        document.body.setAttribute("data-ready", String(token));
      })
      .catch(function (err) {
        if (token !== seq) return;
        document.body.removeAttribute("aria-busy");
        PG.error("Could not load the results for this view (" + err.message + "). Was it built? See the notes at the top of the page.");
      });
  }

  /* Parts that depend on the configuration only (no per-view data). */
  function renderStatic(prev) {
    renderChips();
    var model = modelInfo(S.model);
    PG.markRadios($("tiles-dataset"), S.ds);
    if (!prev || prev.model !== S.model) PG.markRadios($("tiles-model"), S.model);
    else PG.markRadios($("tiles-model"), S.model);
    if (!prev || prev.model !== S.model || prev.ds !== S.ds || prev.metric !== S.metric || !$("tiles-layer").firstChild) buildLayerTiles(model);
    PG.markRadios($("tiles-layer"), S.layer);
    PG.markRadios($("tiles-metric"), S.metric);
    renderLayerDetails();
    $("kbd-target").textContent = last === "dataset" ? "dataset" : last === "model" ? "model" : last === "metric" ? "metric" : "layer";
    $("advanced").hidden = !S.adv;
    $("adv-toggle").setAttribute("aria-expanded", S.adv ? "true" : "false");
    PG.selectTab([$("view-all"), $("view-cat")], S.view === "cat" ? "view-cat" : "view-all");
    PG.selectTab([$("tab-leaderboard"), $("tab-compare")], S.tab === "compare" ? "tab-compare" : "tab-leaderboard");
    $("lb-score").setAttribute("aria-pressed", S.lb === "score" ? "true" : "false");
    $("lb-prec").setAttribute("aria-pressed", S.lb === "precision" ? "true" : "false");
    if (S.adv) {
      ensureExplorer();
      requestAnimationFrame(drawConnectors);
    }
    var d = dsInfo(S.ds);
    $("browser-name").textContent = d ? d.name : "";
    var showMap = true;
    $("map-section").hidden = !showMap;
  }

  /* ------------------------------------------------------------- config UI */
  function chip(label, value, extra, row) {
    return el("button", { type: "button", class: "chip", "data-row": row, onclick: function () {
      openAdvanced(row);
    } }, [el("span", { class: "chip-label", text: label }), el("span", { class: "chip-value", text: value }), extra || null]);
  }

  function renderChips() {
    var d = dsInfo(S.ds);
    var m = modelInfo(S.model);
    var li = layerIndex(m, S.layer);
    var me = metricInfo(S.metric);
    var box = PG.clear($("config-chips"));
    box.appendChild(chip("Dataset", d.name, null, "dataset"));
    box.appendChild(chip("Model", m.display || m.name, m.random ? PG.randomBadge(true) : null, "model"));
    box.appendChild(chip("Layer", (li + 1) + "/" + m.layers.length + " · " + m.layers[li].name, null, "layer"));
    box.appendChild(chip("Metric", me.name, null, "metric"));
  }

  function openAdvanced(row) {
    if (!S.adv) set({ adv: true }, false);
    last = row;
    var sel = document.querySelector("#tiles-" + row + " [aria-checked=true]");
    if (sel) {
      sel.focus({ preventScroll: true });
      sel.scrollIntoView({ block: "nearest", inline: "nearest", behavior: PG.reducedMotion() ? "auto" : "smooth" });
    }
    $("kbd-target").textContent = row;
  }

  function pick(row, value) {
    last = row;
    var patch = {};
    patch[row === "dataset" ? "ds" : row] = value;
    if (S[row === "dataset" ? "ds" : row] === value) return;
    set(patch, true);
  }

  function buildConfigTiles() {
    var dBox = $("tiles-dataset");
    INDEX.datasets.forEach(function (d) {
      var n = d.n_images || 0;
      var mosaic = el("span", { class: "mosaic", "aria-hidden": "true" });
      [0, 0.25, 0.5, 0.75].forEach(function (f) {
        var id = Math.min(n - 1, Math.floor(f * n));
        if (id >= 0) mosaic.appendChild(el("img", { src: PG.thumbUrl(d.slug, id), alt: "", loading: "lazy", width: 64, height: 64 }));
      });
      var meta = n + " images · " + (d.labeled === false ? "no categories" : (d.classes || []).length + " categories");
      dBox.appendChild(
        el("button", { type: "button", role: "radio", class: "tile tile-dataset", "data-value": d.slug, "aria-checked": "false" }, [
          mosaic,
          el("span", { class: "tile-title", text: d.name }),
          el("span", { class: "tile-meta", text: meta }),
        ])
      );
    });
    var mBox = $("tiles-model");
    MODELS.forEach(function (m) {
      mBox.appendChild(
        el("button", { type: "button", role: "radio", class: "tile tile-model", "data-value": m.slug, "aria-checked": "false" }, [
          el("span", { class: "tile-title", text: m.display || m.name }),
          el("span", { class: "tile-meta", text: PG.fmtParams(m.params) + " params" }),
          el("span", { class: "tile-meta", text: m.n_layers + " layers", title: "input " + m.input_size + " px" }),
          m.random ? PG.randomBadge(true) : null,
        ])
      );
    });
    var xBox = $("tiles-metric");
    INDEX.metrics.forEach(function (me) {
      xBox.appendChild(
        el("button", { type: "button", role: "radio", class: "tile tile-metric", "data-value": me.slug, "aria-checked": "false", title: me.description || "" }, [
          el("span", { class: "tile-title", text: me.name }),
          el("span", { class: "tile-meta tile-desc", text: me.description || "" }),
        ])
      );
    });
    [["dataset", dBox], ["model", mBox], ["layer", $("tiles-layer")], ["metric", xBox]].forEach(function (p) {
      var row = p[0];
      var box = p[1];
      box.addEventListener("click", function (ev) {
        var t = ev.target.closest("[role=radio]");
        if (t) pick(row, t.getAttribute("data-value"));
      });
      box.addEventListener("focusin", function () {
        last = row;
        $("kbd-target").textContent = row;
      });
      box.addEventListener("scroll", function () {
        requestAnimationFrame(drawConnectors);
      }, { passive: true });
      PG.radioGroup(box, function (v) {
        pick(row, v);
      });
    });
  }

  function fvImageFor(model, layer) {
    if (!EX) return "";
    var ms = Array.isArray(EX.models) ? EX.models : [];
    var m = ms.filter(function (x) {
      return x.slug === model;
    })[0];
    if (!m || !Array.isArray(m.layers)) return "";
    var l = m.layers.filter(function (x) {
      return x.slug === layer;
    })[0];
    if (!l) return "";
    var chans = l.channels_shown || l.visualized || l.shown || l.channels_visualized;
    if (Array.isArray(l.channels) && l.channels.length && typeof l.channels[0] === "object") {
      return l.channels[0].image || "";
    }
    if (Array.isArray(chans) && chans.length) {
      var c = typeof chans[0] === "object" ? chans[0].channel : chans[0];
      if (typeof chans[0] === "object" && chans[0].image) return chans[0].image;
      return "fv/" + model + "/" + layer + "/" + c + ".webp";
    }
    return "";
  }

  function buildLayerTiles(model) {
    var box = PG.clear($("tiles-layer"));
    var scores = lbValues("score", S.ds, S.metric, model.slug) || [];
    var best = -1;
    scores.forEach(function (v, i) {
      if (typeof v === "number" && (best < 0 || v > scores[best])) best = i;
    });
    model.layers.forEach(function (l, i) {
      var fv = PG.fvUrl(fvImageFor(model.slug, l.slug));
      var vis = fv
        ? el("img", { class: "tile-fv", src: fv, alt: "", loading: "lazy", width: 64, height: 64 })
        : glyph(i, model.layers.length, l.channels);
      var v = scores[i];
      var bar = el("span", { class: "tile-bar" }, el("span", { class: "tile-bar-fill" }));
      if (typeof v === "number") bar.firstChild.style.width = Math.max(0, Math.min(100, v)) + "%";
      box.appendChild(
        el("button", {
          type: "button", role: "radio", class: "tile tile-layer" + (i === best ? " is-best" : ""), "data-value": l.slug, "aria-checked": "false",
          "aria-label": "Layer " + (i + 1) + " of " + model.layers.length + ": " + l.name + (typeof v === "number" ? ", mean search score " + v.toFixed(1) : ""),
          title: l.name,
        }, [
          vis,
          el("span", { class: "tile-title" }, [el("span", { class: "tile-step", text: "L" + (i + 1) }), " ", el("span", { class: "tile-name", text: l.name })]),
          el("span", { class: "tile-meta", text: (l.channels || "?") + " ch · " + (l.type || "") }),
          bar,
          el("span", { class: "tile-score", text: typeof v === "number" ? (i === best ? "★ " : "") + v.toFixed(1) : "–" }),
        ])
      );
    });
  }

  /* A small picture of depth when no feature visualization exists: finer grids deeper in the network. */
  function glyph(i, n, channels) {
    var s = PG.svg("svg", { viewBox: "0 0 64 64", class: "tile-glyph", "aria-hidden": "true", focusable: "false" });
    var cells = 2 + Math.round((i / Math.max(1, n - 1)) * 6);
    var step = 64 / cells;
    for (var a = 0; a < cells; a++) {
      for (var b = 0; b < cells; b++) {
        if ((a + b + i) % 3 === 0) continue;
        s.appendChild(PG.svg("rect", { x: a * step + 1, y: b * step + 1, width: step - 2, height: step - 2, rx: 1.5, class: "g" + ((a * 7 + b * 3 + i) % 3) }));
      }
    }
    return s;
  }

  function renderLayerDetails() {
    var m = modelInfo(S.model);
    var li = layerIndex(m, S.layer);
    var l = m.layers[li];
    var box = PG.clear($("layer-details"));
    var score = (lbValues("score", S.ds, S.metric, m.slug) || [])[li];
    var prec = (lbValues("precision", S.ds, S.metric, m.slug) || [])[li];
    var items = [
      ["Layer", l.name],
      ["Type", l.type || "?"],
      ["Depth", "layer " + ((l.depth_index === undefined ? 0 : l.depth_index) + 1) + " of " + m.n_layers + (l.n_conv ? " (conv " + ((l.conv_index || 0) + 1) + " of " + l.n_conv + ")" : "")],
      ["Parameters", typeof l.params === "number" ? l.params.toLocaleString("en-US") : "?"],
      ["Channels", String(l.channels || "?")],
      ["Output", PG.fmtShape(l.output_shape)],
      ["Mean score here", typeof score === "number" ? score.toFixed(1) + (typeof prec === "number" ? "  ·  precision@" + INDEX.k + " " + prec.toFixed(2) : "") : "–"],
    ];
    var dl = el("dl", { class: "facts" });
    items.forEach(function (it) {
      dl.appendChild(el("div", null, [el("dt", { text: it[0] }), el("dd", { text: it[1] })]));
    });
    box.appendChild(dl);
  }

  function ensureExplorer() {
    var has = INDEX.featurevis === true || document.documentElement.getAttribute("data-explorer") === "1";
    if (!has || EX || ensureExplorer.pending) return;
    ensureExplorer.pending = true;
    PG.load("explorer/index").then(function (ex) {
      EX = ex;
      buildLayerTiles(modelInfo(S.model));
      PG.markRadios($("tiles-layer"), S.layer);
      drawConnectors();
    }, function () {
      /* no feature visualizations: the tiles keep their glyphs */
    });
  }

  /* Curves from the chosen dataset to model to layer to metric, and on to the results. */
  function drawConnectors() {
    var svg = $("connectors");
    PG.clear(svg);
    var panel = $("advanced");
    if (panel.hidden) return;
    var pr = panel.getBoundingClientRect();
    svg.setAttribute("width", pr.width);
    svg.setAttribute("height", pr.height);
    svg.setAttribute("viewBox", "0 0 " + pr.width + " " + pr.height);
    var sel = ["dataset", "model", "layer", "metric"].map(function (r) {
      var t = document.querySelector("#tiles-" + r + " [aria-checked=true]");
      if (!t) return null;
      var rr = t.getBoundingClientRect();
      var box = t.parentNode.getBoundingClientRect();
      var cx = Math.max(box.left + 8, Math.min(box.right - 8, rr.left + rr.width / 2)) - pr.left;
      return { x: cx, top: rr.top - pr.top, bottom: rr.bottom - pr.top };
    });
    var d = "";
    for (var i = 0; i < sel.length - 1; i++) {
      var a = sel[i];
      var b = sel[i + 1];
      if (!a || !b) continue;
      var my = (a.bottom + b.top) / 2;
      d += "M" + a.x + " " + (a.bottom + 2) + " C" + a.x + " " + my + " " + b.x + " " + my + " " + b.x + " " + (b.top - 4) + " ";
    }
    var lastSel = sel[3];
    if (lastSel) {
      var ex = pr.width / 2;
      var ey = pr.height - 2;
      var m2 = (lastSel.bottom + ey) / 2;
      d += "M" + lastSel.x + " " + (lastSel.bottom + 2) + " C" + lastSel.x + " " + m2 + " " + ex + " " + m2 + " " + ex + " " + ey;
    }
    svg.appendChild(PG.svg("path", { d: d, class: "connector" }));
    sel.forEach(function (s) {
      if (s) svg.appendChild(PG.svg("circle", { cx: s.x, cy: s.bottom + 2, r: 3.5, class: "connector-dot" }));
    });
  }

  /* --------------------------------------------------------- search views */
  function renderQuery() {
    var rec = imageRec(S.q);
    var img = $("query-img");
    var cls = className(rec && rec.label);
    img.src = PG.imageUrl(S.ds, S.q);
    img.alt = "Selected image: " + (cls ? "category " + cls + ", " : "") + "file " + fileName(rec);
    var qc = PG.clear($("query-class"));
    if (cls) {
      qc.appendChild(el("span", { class: "swatch", "aria-hidden": "true" }));
      qc.lastChild.style.background = PG.classColor(rec.label);
      qc.appendChild(el("span", { text: cls }));
    } else {
      qc.appendChild(el("span", { class: "muted", text: "no category" }));
    }
    $("query-file").textContent = fileName(rec) + "  ·  #" + S.q + " of " + DS.images.length;
    $("query-file").title = rec ? String(rec.file) : "";

    var score = RANK.score && RANK.score[S.q];
    var hits = RANK.hits && RANK.hits[S.q];
    var k = RANK.k || INDEX.k;
    var gauge = $("gauge");
    var val = $("gauge-value");
    if (typeof score === "number") {
      $("score-number").textContent = score.toFixed(1);
      val.style.strokeDasharray = Math.max(0.001, Math.min(100, score)) + " 100";
      gauge.setAttribute("aria-label", "Search score " + score.toFixed(1) + " out of 100");
      var h = typeof hits === "number" ? hits : 0;
      PG.clear($("score-hits")).appendChild(el("strong", { text: h + " / " + k }));
      $("score-hits").appendChild(document.createTextNode(" results in the same category"));
      $("score-block").classList.remove("is-na");
      gauge.className = "gauge " + (score >= 66 ? "g-hi" : score >= 33 ? "g-mid" : "g-lo");
    } else {
      $("score-number").textContent = "n/a";
      val.style.strokeDasharray = "0 100";
      gauge.setAttribute("aria-label", "No search score: this dataset has no categories");
      $("score-hits").textContent = "This dataset has no categories, so there is no score: judge the results by eye.";
      $("score-block").classList.add("is-na");
      gauge.className = "gauge";
    }
  }

  function renderResults(flash) {
    var ol = PG.clear($("results"));
    var ids = RANK.ids[S.q] || [];
    var sims = ((RANK.sim && RANK.sim[S.q]) || []).map(simFraction);
    var scale = typeof RANK.dist_scale === "number" ? RANK.dist_scale : 1; // distance = int * dist_scale
    var dists = ((RANK.dist && RANK.dist[S.q]) || []).map(function (d) {
      return d * scale;
    });
    var qrec = imageRec(S.q);
    var lab = labeled();
    $("k-label").textContent = String(ids.length);
    ids.forEach(function (id, r) {
      var rec = imageRec(id);
      var cls = className(rec && rec.label);
      var same = lab && qrec && rec && rec.label !== null && rec.label === qrec.label;
      var sim = sims[r];
      var bar = el("span", { class: "sim-bar", "aria-hidden": "true" }, el("span", { class: "sim-fill" }));
      if (typeof sim === "number") bar.firstChild.style.width = Math.max(2, Math.min(100, sim * 100)) + "%";
      var mark = lab
        ? el("span", { class: "mark " + (same ? "mark-hit" : "mark-miss"), "aria-hidden": "true", text: same ? "✓" : "✗" })
        : null;
      var label = "Rank " + (r + 1) + ": " + (cls ? cls : "image " + id) + (lab ? (same ? ", same category" : ", different category") : "") +
        (typeof sim === "number" ? ", similarity " + Math.round(sim * 100) + "%" : "") + ". Search from this image.";
      var btn = el("button", { type: "button", class: "result", "data-id": id, "aria-label": label, title: rec ? String(rec.file) : "" }, [
        el("span", { class: "result-img" }, [
          el("img", { src: PG.thumbUrl(S.ds, id), alt: "", width: 128, height: 128, loading: r < 10 ? "eager" : "lazy", decoding: "async" }),
          el("span", { class: "rank", text: String(r + 1) }),
          mark,
        ]),
        el("span", { class: "result-class", text: cls || "#" + id }),
        bar,
        el("span", { class: "result-nums" }, [
          el("span", { text: "sim " + (typeof sim === "number" ? Math.round(sim * 100) + "%" : "–") }),
          el("span", { text: "d " + PG.fmtDist(dists[r]) }),
        ]),
      ]);
      btn.addEventListener("click", function () {
        search(id, true);
      });
      hoverLink(btn, id);
      ol.appendChild(el("li", { class: same ? "is-hit" : lab ? "is-miss" : "" }, btn));
    });
    var m = modelInfo(S.model);
    var li = layerIndex(m, S.layer);
    var cfg = PG.clear($("results-config"));
    cfg.appendChild(document.createTextNode((m.display || m.name) + " · layer " + (li + 1) + "/" + m.layers.length + " " + m.layers[li].name + " · " + metricInfo(S.metric).name + " distance"));
    if (m.random) cfg.appendChild(PG.randomBadge(false));
    if (flash && !PG.reducedMotion()) {
      var p = $("search");
      p.classList.remove("flash");
      void p.offsetWidth;
      p.classList.add("flash");
    }
  }

  /* Similarities are integer percent (0..100) in the data contract; fractions (0..1) are accepted too. */
  function simFraction(v) {
    if (typeof v !== "number") return null;
    return RANK.simScale === 1 ? v : v / 100;
  }
  function detectSimScale(rank) {
    var frac = false;
    (rank.sim || []).some(function (row) {
      return (row || []).some(function (v) {
        if (typeof v === "number" && v % 1 !== 0) frac = true;
        return frac;
      });
    });
    rank.simScale = frac ? 1 : 100;
  }

  function search(id, push, scroll) {
    if (id === S.q) return;
    set({ q: id }, push);
    if (scroll) {
      var r = $("search").getBoundingClientRect();
      if (r.top < 0 || r.top > window.innerHeight * 0.6) $("search").scrollIntoView({ behavior: PG.reducedMotion() ? "auto" : "smooth", block: "start" });
    }
  }

  function hoverLink(node, id) {
    node.addEventListener("mouseenter", function () {
      if (map) map.setExternalHover(id);
    });
    node.addEventListener("mouseleave", function () {
      if (map) map.setExternalHover(-1);
    });
    node.addEventListener("focus", function () {
      if (map) map.setExternalHover(id);
    });
    node.addEventListener("blur", function () {
      if (map) map.setExternalHover(-1);
    });
  }

  /* --------------------------------------------------------- dataset browser */
  function gridCell(id) {
    var rec = imageRec(id);
    var cls = className(rec && rec.label);
    var b = el("button", { type: "button", class: "cell", "data-id": id, "aria-label": (cls ? cls + ", " : "") + fileName(rec) + ": search from this image", title: (cls ? cls + " / " : "") + fileName(rec) }, [
      el("img", { src: PG.thumbUrl(S.ds, id), alt: "", width: 128, height: 128, loading: "lazy", decoding: "async" }),
    ]);
    hoverLink(b, id);
    return b;
  }

  function renderBrowser() {
    var d = dsInfo(S.ds);
    $("browser-desc").textContent = d.description || "";
    var attr = PG.clear($("browser-attr"));
    var bits = [];
    if (d.source) bits.push(["Source", d.source]);
    if (d.licence) bits.push(["Licence", d.licence]);
    if (d.attribution) bits.push(["Attribution", d.attribution]);
    bits.forEach(function (b, i) {
      attr.appendChild(el("span", { class: "attr-line" }, [el("span", { class: "muted", text: b[0] + ": " }), el("span", { text: b[1] })]));
    });
    $("browser-attr-box").hidden = !bits.length;
    var g = PG.clear($("grid"));
    g.className = "grid" + (S.view === "cat" ? " grid-cats" : "");
    gridShown = 0;
    if (S.view === "cat" && d.labeled !== false && DS.classes.length) {
      var by = DS.classes.map(function () {
        return [];
      });
      var none = [];
      DS.images.forEach(function (im) {
        if (im.label === null || im.label === undefined || !by[im.label]) none.push(im.id);
        else by[im.label].push(im.id);
      });
      by.forEach(function (ids, c) {
        renderCategory(g, String(DS.classes[c]), c, ids);
      });
      if (none.length) renderCategory(g, "no category", -1, none);
      $("grid-more").hidden = true;
    } else {
      var cells = el("div", { class: "cells" });
      g.appendChild(cells);
      moreGrid();
    }
  }

  function renderCategory(g, name, c, ids) {
    var sec = el("section", { class: "cat" });
    var sw = el("span", { class: "swatch", "aria-hidden": "true" });
    sw.style.background = PG.classColor(c);
    sec.appendChild(el("h3", { class: "cat-title" }, [sw, el("span", { text: name }), el("span", { class: "muted", text: " " + ids.length })]));
    var cells = el("div", { class: "cells" });
    var key = S.ds + "/" + c;
    var lim = catOpen[key] ? ids.length : CAT_CHUNK;
    ids.slice(0, lim).forEach(function (id) {
      cells.appendChild(gridCell(id));
    });
    sec.appendChild(cells);
    if (ids.length > lim) {
      sec.appendChild(el("button", { type: "button", class: "btn more", text: "Show all " + ids.length, onclick: function () {
        catOpen[key] = true;
        renderBrowser();
        markGrid();
      } }));
    }
    g.appendChild(sec);
  }

  function moreGrid() {
    var cells = $("grid").querySelector(".cells");
    var n = DS.images.length;
    var to = Math.min(n, gridShown + GRID_CHUNK);
    for (var i = gridShown; i < to; i++) cells.appendChild(gridCell(DS.images[i].id));
    gridShown = to;
    var more = $("grid-more");
    more.hidden = gridShown >= n;
    more.textContent = "Show more (" + (n - gridShown) + " left)";
  }

  function markGrid() {
    var ids = RANK.ids[S.q] || [];
    var rank = Object.create(null);
    ids.forEach(function (id, r) {
      rank[id] = r + 1;
    });
    $("grid").querySelectorAll(".cell").forEach(function (c) {
      var id = +c.getAttribute("data-id");
      c.classList.toggle("is-query", id === S.q);
      c.classList.toggle("is-result", !!rank[id]);
      if (id === S.q) c.setAttribute("aria-current", "true");
      else c.removeAttribute("aria-current");
      var badge = c.querySelector(".cell-rank");
      if (rank[id]) {
        if (!badge) c.appendChild((badge = el("span", { class: "cell-rank", "aria-hidden": "true" })));
        badge.textContent = String(rank[id]);
      } else if (badge) {
        badge.remove();
      }
    });
  }

  /* ---------------------------------------------------------------- map */
  function setupMap() {
    var tip = $("map-tip");
    map = new PG.Scatter($("map"), {
      onHover: function (i, pos) {
        document.querySelectorAll(".is-maphover").forEach(function (n) {
          n.classList.remove("is-maphover");
        });
        if (i < 0 || !pos || !DS) {
          tip.hidden = true;
          return;
        }
        var rec = imageRec(i);
        var cls = className(rec && rec.label);
        $("map-tip-img").src = PG.thumbUrl(S.ds, i);
        $("map-tip-text").textContent = (cls ? cls + " · " : "") + fileName(rec);
        tip.hidden = false;
        var wrap = $("map-wrap").getBoundingClientRect();
        var tw = tip.offsetWidth;
        var th = tip.offsetHeight;
        var x = pos.x + 14;
        var y = pos.y - th - 10;
        if (x + tw > wrap.width - 4) x = pos.x - tw - 14;
        if (y < 4) y = pos.y + 14;
        tip.style.left = Math.max(4, x) + "px";
        tip.style.top = Math.max(4, Math.min(wrap.height - th - 4, y)) + "px";
        document.querySelectorAll('.result[data-id="' + i + '"], .cell[data-id="' + i + '"]').forEach(function (n) {
          n.classList.add("is-maphover");
        });
      },
      onClick: function (i) {
        search(i, true, false);
      },
    });
    $("map-zoom-in").addEventListener("click", function () {
      map.zoomBy(1.5);
    });
    $("map-zoom-out").addEventListener("click", function () {
      map.zoomBy(1 / 1.5);
    });
    $("map-reset").addEventListener("click", function () {
      map.reset();
    });
    if (window.IntersectionObserver) {
      new IntersectionObserver(function (entries) {
        mapVisible = entries.some(function (e) {
          return e.isIntersecting;
        });
        if (mapVisible) ensureMap();
      }, { rootMargin: "0px" }).observe($("map-section"));
    } else {
      mapVisible = true;
    }
  }

  function mapOnScreen() {
    if (!mapVisible) return false;
    var r = $("map-section").getBoundingClientRect(); // the observer's answer may predate the last layout
    return r.top < window.innerHeight && r.bottom > 0 && r.width > 0;
  }

  /* The UMAP coordinates travel inside the rankings file, so a switch is one request whether or not the map
     is on screen; the map is only drawn (and animated) while it is visible. */
  function ensureMap() {
    if (!map || !DS || !RANK) return;
    map.setSelection(S.q, RANK.ids[S.q] || []);
    var key = RANK_FOR; // not S: the state may already point at a file that is still loading
    var status = $("map-status");
    if (mapDs && mapDs !== DS.slug) {
      // never show another dataset's points
      map.setData([], [], [], false);
      map.setSelection(-1, []);
      mapKey = "";
      mapDs = "";
    }
    if (key === mapKey || !mapOnScreen()) return;
    if (!RANK.xy) {
      status.textContent = "No map for this layer.";
      status.hidden = false;
      return;
    }
    var animate = mapDs === DS.slug && !!mapKey;
    mapKey = key;
    mapDs = DS.slug;
    var labels = DS.images.map(function (im) {
      return im.label === null || im.label === undefined ? -1 : im.label;
    });
    map.setData(RANK.xy, labels, DS.classes, animate);
    map.setSelection(S.q, RANK.ids[S.q] || []);
    status.hidden = true;
    var m = modelInfo(S.model);
    $("map").setAttribute("aria-label", "Embedding map of " + DS.images.length + " images for " + (m.display || m.name) + ", layer " + S.layer + ". Use the dataset grid to choose images with the keyboard.");
  }

  function renderLegend() {
    var ul = PG.clear($("legend"));
    if (!DS || !labeled()) return;
    var counts = DS.classes.map(function () {
      return 0;
    });
    DS.images.forEach(function (im) {
      if (im.label !== null && im.label !== undefined && counts[im.label] !== undefined) counts[im.label]++;
    });
    DS.classes.forEach(function (c, i) {
      var sw = el("span", { class: "swatch", "aria-hidden": "true" });
      sw.style.background = PG.classColor(i);
      var b = el("button", { type: "button", class: "legend-item", "aria-pressed": "false", title: "Highlight " + c }, [sw, el("span", { text: String(c) })]);
      b.addEventListener("mouseenter", function () {
        if (map && b.getAttribute("aria-pressed") !== "true" && !ul.querySelector("[aria-pressed=true]")) map.setFocusClass(i);
      });
      b.addEventListener("mouseleave", function () {
        if (map && !ul.querySelector("[aria-pressed=true]")) map.setFocusClass(-1);
      });
      b.addEventListener("click", function () {
        var on = b.getAttribute("aria-pressed") !== "true";
        ul.querySelectorAll("[aria-pressed]").forEach(function (o) {
          o.setAttribute("aria-pressed", "false");
        });
        b.setAttribute("aria-pressed", on ? "true" : "false");
        if (map) map.setFocusClass(on ? i : -1);
      });
      ul.appendChild(el("li", null, b));
    });
  }

  /* ------------------------------------------------------------ leaderboard */
  function heatColor(t) {
    // light grey-blue -> deep indigo, perceptually even enough for 0..1
    var a = [237, 242, 255];
    var b = [54, 79, 199];
    return "rgb(" + a.map(function (v, i) {
      return Math.round(v + (b[i] - v) * t);
    }).join(",") + ")";
  }

  function renderLeaderboard() {
    var table = PG.clear($("leaderboard"));
    var kind = S.lb;
    var d = dsInfo(S.ds);
    var me = metricInfo(S.metric);
    $("lb-sub").textContent =
      (kind === "score" ? "Mean search score" : "Mean precision@" + INDEX.k) + " over all " + d.n_images + " images of " + d.name + ", " + me.name + " distance, for every model (rows) and layer (columns, shallow → deep). Click a cell to search with it.";
    if (d.labeled === false) {
      table.appendChild(el("caption", { text: "This dataset has no categories, so there are no scores to compare." }));
      return;
    }
    var rows = MODELS.map(function (m) {
      return { m: m, v: lbValues(kind, S.ds, S.metric, m.slug) || [] };
    });
    var all = [];
    rows.forEach(function (r) {
      r.v.forEach(function (x) {
        if (typeof x === "number") all.push(x);
      });
    });
    var lo = Math.min.apply(null, all.length ? all : [0]);
    var hi = Math.max.apply(null, all.length ? all : [1]);
    var nCols = Math.max.apply(null, MODELS.map(function (m) {
      return m.layers.length;
    }));
    var bestAll = hi;
    var head = el("tr", null, [el("th", { scope: "col", text: "Model" })]);
    for (var c = 0; c < nCols; c++) head.appendChild(el("th", { scope: "col", text: "L" + (c + 1), title: c === 0 ? "first conv layer" : c === nCols - 1 ? "last conv layer" : "" }));
    table.appendChild(el("caption", { class: "sr-only", text: "Leaderboard: " + $("lb-sub").textContent }));
    table.appendChild(el("thead", null, head));
    var tb = el("tbody");
    rows.forEach(function (r) {
      var rowBest = -Infinity;
      r.v.forEach(function (x) {
        if (typeof x === "number" && x > rowBest) rowBest = x;
      });
      var th = el("th", { scope: "row" }, [el("span", { text: r.m.display || r.m.name }), r.m.random ? PG.randomBadge(true) : null]);
      var tr = el("tr", { class: r.m.slug === S.model ? "is-current" : "" }, th);
      for (var c = 0; c < nCols; c++) {
        var x = r.v[c];
        var layer = r.m.layers[c];
        if (typeof x !== "number" || !layer) {
          tr.appendChild(el("td", { class: "empty", text: "–" }));
          continue;
        }
        var t = hi > lo ? (x - lo) / (hi - lo) : 0.5;
        var txt = kind === "score" ? x.toFixed(1) : x.toFixed(2);
        var isBest = x === bestAll;
        var b = el("button", {
          type: "button",
          class: "heat-cell" + (x === rowBest ? " row-best" : "") + (isBest ? " all-best" : "") + (r.m.slug === S.model && layer.slug === S.layer ? " is-current" : ""),
          "aria-label": (r.m.display || r.m.name) + ", layer " + (c + 1) + " " + layer.name + ": " + txt + (isBest ? ", best" : ""),
          title: layer.name,
        }, [isBest ? el("span", { class: "star", "aria-hidden": "true", text: "★" }) : null, txt]);
        b.style.background = heatColor(t);
        b.style.color = t > 0.55 ? "#fff" : "#1b1f24";
        (function (m, l) {
          b.addEventListener("click", function () {
            last = "layer";
            set({ model: m, layer: l }, true);
          });
        })(r.m.slug, layer.slug);
        tr.appendChild(el("td", null, b));
      }
      tb.appendChild(tr);
    });
    table.appendChild(tb);
  }

  /* -------------------------------------------------------------- compare */
  function renderCompare() {
    var box = $("compare");
    var key = compareKey();
    var d = dsInfo(S.ds);
    if (d.labeled === false) {
      PG.clear(box).appendChild(el("p", { class: "muted", text: "This dataset has no categories, so there are no scores to compare." }));
      return;
    }
    PG.load(key).then(function (cmp) {
      if (key !== compareKey() || S.tab !== "compare") return;
      drawCompare(cmp);
    }, function () {
      PG.clear(box).appendChild(el("p", { class: "muted", text: "The comparison was not built for this dataset." }));
    });
  }

  /* <ds>/compare/<metric>/<chunk>: the scores of queries 64*chunk .. 64*chunk+63 for every model x layer. */
  var COMPARE_CHUNK = 64;
  function compareKey() {
    return S.ds + "/compare/" + S.metric + "/" + Math.floor(S.q / COMPARE_CHUNK);
  }

  function drawCompare(cmp) {
    var box = PG.clear($("compare"));
    var q = S.q - (typeof cmp.first === "number" ? cmp.first : 0);
    var rec = imageRec(S.q);
    $("cmp-sub").textContent = "Search score of this image (" + (className(rec && rec.label) || "#" + S.q) + ") with every model and layer, " + metricInfo(S.metric).name + " distance. The best is marked ★; click a bar to search with it.";
    var best = -1;
    var models = (cmp.models || []).filter(function (m) {
      return modelInfo(m);
    });
    models.forEach(function (m) {
      (cmp.score[m] || []).forEach(function (arr) {
        var v = arr && arr[q];
        if (typeof v === "number" && v > best) best = v;
      });
    });
    models.forEach(function (ms) {
      var m = modelInfo(ms);
      var per = cmp.score[ms] || [];
      var slugs = (cmp.layers && cmp.layers[ms]) || m.layers.map(function (l) {
        return l.slug;
      });
      var card = el("div", { class: "cmp-model" + (ms === S.model ? " is-current" : "") });
      card.appendChild(el("h3", { class: "cmp-title" }, [el("span", { text: m.display || m.name }), m.random ? PG.randomBadge(true) : null]));
      var bars = el("div", { class: "cmp-bars", role: "group", "aria-label": (m.display || m.name) + " search score by layer" });
      slugs.forEach(function (ls, i) {
        var v = per[i] && per[i][q];
        var ok = typeof v === "number";
        var isBest = ok && v === best;
        var layer = m.layers.filter(function (l) {
          return l.slug === ls;
        })[0];
        var fill = el("span", { class: "cmp-fill" });
        fill.style.height = (ok ? Math.max(1.5, v) : 0) + "%";
        var b = el("button", {
          type: "button",
          class: "cmp-bar" + (isBest ? " is-best" : "") + (ms === S.model && ls === S.layer ? " is-current" : ""),
          "aria-label": (m.display || m.name) + " layer " + (i + 1) + (layer ? " " + layer.name : "") + ": " + (ok ? v.toFixed(1) : "no score") + (isBest ? ", best" : ""),
          title: (layer ? layer.name : ls) + ": " + (ok ? v.toFixed(1) : "–"),
        }, [fill, isBest ? el("span", { class: "cmp-star", "aria-hidden": "true", text: "★" }) : null]);
        b.addEventListener("click", function () {
          last = "layer";
          set({ model: ms, layer: ls }, true);
        });
        bars.appendChild(b);
      });
      card.appendChild(bars);
      var vals = per.map(function (a) {
        return a && a[q];
      }).filter(function (v) {
        return typeof v === "number";
      });
      var mx = vals.length ? Math.max.apply(null, vals) : null;
      card.appendChild(el("p", { class: "cmp-foot" }, [el("span", { text: "L1" }), el("span", { text: mx === null ? "–" : "best " + mx.toFixed(1) }), el("span", { text: "L" + slugs.length })]));
      box.appendChild(card);
    });
  }

  /* ------------------------------------------------------------- keyboard */
  function step(dir) {
    var list;
    var cur;
    if (last === "dataset") {
      list = INDEX.datasets.map(function (d) {
        return d.slug;
      });
      cur = S.ds;
    } else if (last === "model") {
      list = MODELS.map(function (m) {
        return m.slug;
      });
      cur = S.model;
    } else if (last === "metric") {
      list = INDEX.metrics.map(function (m) {
        return m.slug;
      });
      cur = S.metric;
    } else {
      list = modelInfo(S.model).layers.map(function (l) {
        return l.slug;
      });
      cur = S.layer;
    }
    var i = list.indexOf(cur) + dir;
    if (i < 0 || i >= list.length) return;
    pick(last, list[i]);
  }

  function onKey(ev) {
    if (ev.defaultPrevented || ev.altKey || ev.ctrlKey || ev.metaKey || ev.shiftKey) return;
    if (ev.key !== "ArrowLeft" && ev.key !== "ArrowRight") return;
    var t = ev.target;
    if (t && t.closest && t.closest("input, textarea, select, [contenteditable], [role=tablist], [role=radiogroup], canvas, dialog, .table-scroll, .tiles")) return;
    ev.preventDefault();
    step(ev.key === "ArrowRight" ? 1 : -1);
  }

  /* ------------------------------------------------------------------ init */
  function init(idx) {
    INDEX = idx;
    MODELS = (idx.models || []).filter(function (m) {
      return !m.explorer_only && Array.isArray(m.layers) && m.layers.length;
    });
    if (!idx.datasets || !idx.datasets.length || !MODELS.length || !idx.metrics || !idx.metrics.length) {
      PG.error("Nothing was built yet: run `playground build` (see the notes at the top of the page).");
      return;
    }
    buildConfigTiles();
    setupMap();
    $("adv-toggle").addEventListener("click", function () {
      set({ adv: !S.adv }, false);
    });
    PG.tabs([$("view-all"), $("view-cat")], function (id) {
      set({ view: id === "view-cat" ? "cat" : "all" }, false);
    });
    PG.tabs([$("tab-leaderboard"), $("tab-compare")], function (id) {
      set({ tab: id === "tab-compare" ? "compare" : "leaderboard" }, false);
    });
    $("lb-score").addEventListener("click", function () {
      set({ lb: "score" }, false);
    });
    $("lb-prec").addEventListener("click", function () {
      set({ lb: "precision" }, false);
    });
    $("grid-more").addEventListener("click", function () {
      moreGrid();
      markGrid();
    });
    $("grid").addEventListener("click", function (ev) {
      var c = ev.target.closest(".cell");
      if (c) search(+c.getAttribute("data-id"), true, true);
    });
    document.addEventListener("keydown", onKey);
    window.addEventListener("resize", function () {
      if (S.adv) requestAnimationFrame(drawConnectors);
    });
    PG.followHash(validate, function () {
      return S;
    }, function (next) {
      var prev = S;
      S = next;
      update(prev);
    });
    S = validate(PG.readHash());
    writeState(false);
    update(null);
  }

  /* read-only handles for tests and the console */
  PG.page = {
    state: function () {
      return Object.assign({}, S);
    },
    map: function () {
      return map;
    },
    last: function () {
      return last;
    },
  };

  Promise.all([PG.load("index"), PG.load("leaderboard").catch(function () {
    return null;
  })]).then(function (r) {
    LB = r[1];
    init(r[0]);
  }, function () {
    PG.error("The site data (data/index.js) is missing: run `playground build`, then open build/site/index.html.");
  });
})();
