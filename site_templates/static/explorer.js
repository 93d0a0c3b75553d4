/* ConvNet Playground: the Model Explorer page.
 *
 * State in the URL hash: model, layer, ch (the enlarged channel), table (the full layer table is open).
 * Data: index (models), explorer/index (visualized layers, full layer tables), explorer/<model>/<layer>
 * (channels with their images and dataset examples), datasets/<ds> (names of example images, on demand).
 */
(function () {
  "use strict";
  var PG = window.PG;
  var $ = PG.$;
  var el = PG.el;

  var INDEX = null;
  var EX = null;
  var MODELS = []; // [{slug, display, params, n_layers, input_size, random, quick, layers: [...], table: [...]}]
  var S = { model: "", layer: "", ch: null, table: false };
  var CH = null; // channels of the current layer: [{channel, image, examples}]
  var chKey = "";
  var seq = 0;

  function byslug(list, slug) {
    return (list || []).filter(function (x) {
      return x && x.slug === slug;
    })[0];
  }
  function modelInfo(slug) {
    return byslug(MODELS, slug);
  }
  function layerInfo(m, slug) {
    return byslug(m && m.layers, slug);
  }
  function layerPos(m, slug) {
    for (var i = 0; i < m.layers.length; i++) if (m.layers[i].slug === slug) return i;
    return -1;
  }

  /* Merge the search index's models with the explorer index (which may add explorer-only models). */
  function mergeModels() {
    var out = [];
    var seen = Object.create(null);
    var exModels = EX && Array.isArray(EX.models) ? EX.models : EX && EX.models && typeof EX.models === "object" ? Object.keys(EX.models).map(function (k) {
      return Object.assign({ slug: k }, EX.models[k]);
    }) : [];
    function add(m, ex) {
      if (!m || !PG.isSlug(m.slug) || seen[m.slug]) return;
      var base = byslug(INDEX.models, m.slug) || {};
      var merged = Object.assign({}, base, m);
      var layers = (ex && Array.isArray(m.layers) ? m.layers : base.layers) || [];
      merged.layers = layers.map(function (l) {
        var b = byslug(base.layers, l.slug) || {};
        return Object.assign({}, b, l);
      });
      merged.hasFv = !!ex;
      merged.table = m.table || m.layer_table || m.all_layers || base.table || null;
      seen[m.slug] = true;
      out.push(merged);
    }
    exModels.forEach(function (m) {
      add(m, true);
    });
    (INDEX.models || []).forEach(function (m) {
      add(m, false);
    });
    return out.filter(function (m) {
      return m.layers.length;
    });
  }

  function visualized(l) {
    var v = l.channels_shown || l.visualized || l.shown || l.channels_visualized;
    if (Array.isArray(v)) return v.map(function (c) {
      return typeof c === "object" ? c.channel : c;
    });
    if (Array.isArray(l.channels)) return l.channels.map(function (c) {
      return typeof c === "object" ? c.channel : c;
    });
    return [];
  }
  function channelCount(l) {
    if (typeof l.channels === "number") return l.channels;
    if (typeof l.n_channels === "number") return l.n_channels;
    return null;
  }
  function firstImage(m, l) {
    if (Array.isArray(l.channels) && l.channels.length && typeof l.channels[0] === "object" && l.channels[0].image) return l.channels[0].image;
    var v = visualized(l);
    return v.length ? "fv/" + m.slug + "/" + l.slug + "/" + v[0] + ".webp" : "";
  }

  /* ------------------------------------------------------------------ state */
  function validate(h) {
    var s = {};
    var m = modelInfo(h.model) || MODELS.filter(function (x) {
      return x.hasFv;
    })[0] || MODELS[0];
    s.model = m.slug;
    var l = layerInfo(m, h.layer) || m.layers[0];
    s.layer = l.slug;
    var c = parseInt(h.ch, 10);
    s.ch = isFinite(c) && c >= 0 ? c : null;
    s.table = h.table === "1";
    return s;
  }
  function writeState(push) {
    PG.writeHash({ model: S.model, layer: S.layer, ch: S.ch === null ? "" : S.ch, table: S.table }, push);
  }
  function set(patch, push) {
    var prev = S;
    S = Object.assign({}, S, patch);
    if (patch.model && patch.model !== prev.model && !patch.layer) {
      var pm = modelInfo(prev.model);
      var nm = modelInfo(S.model);
      var pi = pm ? layerPos(pm, prev.layer) : 0;
      var frac = pm && pi >= 0 ? pi / Math.max(1, pm.layers.length - 1) : 0;
      S.layer = nm.layers[Math.round(frac * (nm.layers.length - 1))].slug;
    }
    if ((patch.model || patch.layer) && patch.ch === undefined && (prev.model !== S.model || prev.layer !== S.layer)) S.ch = null;
    writeState(push);
    update(prev);
  }

  /* ----------------------------------------------------------------- render */
  function buildModelTiles() {
    var box = PG.clear($("ex-models"));
    MODELS.forEach(function (m) {
      var l = m.layers[m.layers.length - 1];
      var img = m.hasFv ? PG.fvUrl(firstImage(m, l)) : "";
      box.appendChild(
        el("button", { type: "button", role: "radio", class: "tile tile-model", "data-value": m.slug, "aria-checked": "false" }, [
          img ? el("img", { class: "tile-fv", src: img, alt: "", loading: "lazy", width: 64, height: 64 }) : null,
          el("span", { class: "tile-title", text: m.display || m.name || m.slug }),
          el("span", { class: "tile-meta", text: PG.fmtParams(m.params) + " params" }),
          el("span", { class: "tile-meta", text: (m.n_layers || "?") + " layers" + (m.input_size ? " · " + m.input_size + " px" : "") }),
          m.random ? PG.randomBadge(true) : null,
          m.quick || (EX && EX.quick && m.hasFv) ? el("span", { class: "badge badge-quick badge-small", text: "quick preview" }) : null,
          !m.hasFv ? el("span", { class: "tile-meta", text: "not visualized" }) : null,
        ])
      );
    });
    box.addEventListener("click", function (ev) {
      var t = ev.target.closest("[role=radio]");
      if (t) pickModel(t.getAttribute("data-value"));
    });
    PG.radioGroup(box, pickModel);
  }
  function pickModel(v) {
    if (v !== S.model) set({ model: v }, true);
  }
  function pickLayer(v) {
    if (v !== S.layer) set({ layer: v }, true);
  }

  function buildLayerTiles() {
    var m = modelInfo(S.model);
    var box = PG.clear($("ex-layers"));
    box.appendChild(el("span", { class: "ex-rail", "aria-hidden": "true" }));
    m.layers.forEach(function (l, i) {
      var img = m.hasFv ? PG.fvUrl(firstImage(m, l)) : "";
      var n = channelCount(l);
      box.appendChild(
        el("button", {
          type: "button", role: "radio", class: "tile tile-layer", "data-value": l.slug, "aria-checked": "false", title: l.name || l.slug,
          "aria-label": "Layer " + (i + 1) + " of " + m.layers.length + ": " + (l.name || l.slug),
        }, [
          img ? el("img", { class: "tile-fv", src: img, alt: "", loading: "lazy", width: 64, height: 64 }) : null,
          el("span", { class: "tile-title" }, [el("span", { class: "tile-step", text: "L" + (i + 1) }), " ", el("span", { class: "tile-name", text: l.name || l.slug })]),
          el("span", { class: "tile-meta", text: (n === null ? "?" : n) + " ch · " + (l.type || "") }),
        ])
      );
    });
    // the depth track: where each selected layer sits among all layers of the model
    var track = PG.clear($("ex-depth"));
    track.appendChild(el("span", { class: "depth-line" }));
    var total = m.n_layers || 1;
    m.layers.forEach(function (l, i) {
      var pos = typeof l.depth_index === "number" ? l.depth_index / Math.max(1, total - 1) : i / Math.max(1, m.layers.length - 1);
      var dot = el("span", { class: "depth-dot", "data-value": l.slug });
      dot.style.left = (pos * 100).toFixed(2) + "%";
      track.appendChild(dot);
    });
    var a = el("span", { class: "depth-label", text: "input" });
    a.style.left = "0";
    var b = el("span", { class: "depth-label", text: "output (" + total + " layers)" });
    b.style.right = "0";
    track.appendChild(a);
    track.appendChild(b);
    $("ex-table-model").textContent = m.display || m.name || m.slug;
  }

  function renderFacts() {
    var m = modelInfo(S.model);
    var i = layerPos(m, S.layer);
    var l = m.layers[i];
    var dl = el("dl", { class: "facts" });
    [
      ["Layer", (l.name || l.slug) + " (" + (i + 1) + " of " + m.layers.length + " shown)"],
      ["Type", l.type || "?"],
      ["Depth", typeof l.depth_index === "number" ? "layer " + (l.depth_index + 1) + " of " + (m.n_layers || "?") : "?"],
      ["Parameters", typeof l.params === "number" ? l.params.toLocaleString("en-US") : "?"],
      ["Channels", String(channelCount(l) === null ? "?" : channelCount(l))],
      ["Output", PG.fmtShape(l.output_shape)],
    ].forEach(function (it) {
      dl.appendChild(el("div", null, [el("dt", { text: it[0] }), el("dd", { text: it[1] })]));
    });
    PG.clear($("ex-layer-facts")).appendChild(dl);
    $("ex-depth").querySelectorAll(".depth-dot").forEach(function (d) {
      d.setAttribute("aria-current", d.getAttribute("data-value") === S.layer ? "true" : "false");
    });
  }

  function update(prev) {
    var token = ++seq;
    if (!prev || prev.model !== S.model) {
      PG.markRadios($("ex-models"), S.model);
      buildLayerTiles();
    }
    PG.markRadios($("ex-models"), S.model);
    PG.markRadios($("ex-layers"), S.layer);
    renderFacts();
    var m = modelInfo(S.model);
    var l = layerInfo(m, S.layer);
    var key = "explorer/" + S.model + "/" + S.layer;
    var grid = $("channels");
    if (!m.hasFv) {
      CH = null;
      chKey = "";
      PG.clear(grid).appendChild(
        el("div", { class: "empty-state", role: "listitem" }, [
          el("p", { text: "No feature visualizations were built for " + (m.display || m.slug) + "." }),
          el("p", null, ["Build them with ", el("code", { text: "playground featurevis --models " + m.slug }), " (or ", el("code", { text: "--quick" }), " for a fast preview), then render again."]),
        ])
      );
      $("ex-ch-sub").textContent = "";
      syncDialogs();
      document.body.setAttribute("data-ready", String(token));
      return;
    }
    var n = channelCount(l);
    var nv = visualized(l).length;
    var dead = typeof l.dead === "number" && l.dead > 0 ? " · " + l.dead + " never fire on the datasets" : "";
    $("ex-ch-sub").textContent = (nv ? nv + " of " + (n === null ? "?" : n) + " channels visualized" : "") + dead + (EX && EX.quick ? " · quick preview (fewer steps)" : "");
    var ready = chKey === key ? Promise.resolve(CH) : PG.load(key).then(function (d) {
      return Array.isArray(d) ? d : d.channels || [];
    });
    ready.then(function (chs) {
      if (token !== seq) return;
      if (chKey !== key) {
        CH = chs.filter(function (c) {
          return c && typeof c.channel === "number";
        });
        chKey = key;
        renderChannels();
      }
      syncDialogs();
      document.body.setAttribute("data-ready", String(token));
    }, function () {
      if (token !== seq) return;
      PG.clear(grid).appendChild(el("div", { class: "empty-state", text: "This layer's visualizations are missing from the build." }));
    });
  }

  function renderChannels() {
    var grid = PG.clear($("channels"));
    var m = modelInfo(S.model);
    var l = layerInfo(m, S.layer);
    var n = channelCount(l);
    CH.forEach(function (c, i) {
      var b = el("button", {
        type: "button", class: "channel", "data-ch": c.channel, tabindex: i === 0 ? 0 : -1,
        "aria-label": "Channel " + c.channel + (n !== null ? " of " + n : "") + ": enlarge",
      }, [
        el("img", { src: PG.fvUrl(c.image), alt: "Feature visualization of channel " + c.channel + " of layer " + (l.name || l.slug), width: 128, height: 128, loading: "lazy" }),
        el("span", { text: "channel " + c.channel }),
      ]);
      b.addEventListener("click", function () {
        set({ ch: c.channel }, true);
      });
      grid.appendChild(el("div", { role: "listitem", class: "channel-item" }, b));
    });
    grid.onkeydown = function (ev) {
      var items = Array.prototype.slice.call(grid.querySelectorAll(".channel"));
      var i = items.indexOf(document.activeElement);
      if (i < 0) return;
      var cols = Math.max(1, Math.round(grid.clientWidth / (items[0].offsetWidth + 10)));
      var j = ev.key === "ArrowRight" ? i + 1 : ev.key === "ArrowLeft" ? i - 1 : ev.key === "ArrowDown" ? i + cols : ev.key === "ArrowUp" ? i - cols : ev.key === "Home" ? 0 : ev.key === "End" ? items.length - 1 : null;
      if (j === null) return;
      ev.preventDefault();
      j = Math.max(0, Math.min(items.length - 1, j));
      items[i].tabIndex = -1;
      items[j].tabIndex = 0;
      items[j].focus();
    };
  }

  /* ---------------------------------------------------------------- dialogs */
  function syncDialogs() {
    var dc = $("dlg-channel");
    var cur = CH && S.ch !== null ? CH.filter(function (c) {
      return c.channel === S.ch;
    })[0] : null;
    if (cur) {
      fillChannel(cur);
      if (!dc.open) dc.showModal();
    } else if (dc.open) {
      dc.close();
    }
    var dt = $("dlg-table");
    if (S.table) {
      fillTable();
      if (!dt.open && !dc.open) dt.showModal();
    } else if (dt.open) {
      dt.close();
    }
  }

  /* Search from a dataset example with this very model and layer when semantic search has them. */
  function exampleLink(ds, id) {
    var p = { ds: ds, q: String(id) };
    var sm = byslug((INDEX.models || []).filter(function (m) {
      return !m.explorer_only;
    }), S.model);
    if (sm && byslug(sm.layers, S.layer)) {
      p.model = S.model;
      p.layer = S.layer;
    }
    return new URLSearchParams(p).toString();
  }

  function fillChannel(c) {
    var m = modelInfo(S.model);
    var l = layerInfo(m, S.layer);
    var n = channelCount(l);
    var idx = CH.indexOf(c);
    $("dlg-channel-title").textContent = (m.display || m.slug) + " · " + (l.name || l.slug) + " · channel " + c.channel;
    var img = $("dlg-img");
    img.src = PG.fvUrl(c.image);
    img.alt = "Feature visualization of channel " + c.channel + " of layer " + (l.name || l.slug) + " in " + (m.display || m.slug);
    $("dlg-pos").textContent = idx + 1 + " / " + CH.length + " shown";
    $("dlg-prev").disabled = idx <= 0;
    $("dlg-next").disabled = idx >= CH.length - 1;
    var facts = PG.clear($("dlg-facts"));
    [
      ["Model", m.display || m.slug],
      ["Layer", (l.name || l.slug) + " (" + (l.type || "?") + ")"],
      ["Channel", c.channel + " / " + (n === null ? "?" : n)],
      ["Depth", typeof l.depth_index === "number" ? "layer " + (l.depth_index + 1) + " of " + (m.n_layers || "?") : "?"],
    ].forEach(function (it) {
      facts.appendChild(el("div", null, [el("dt", { text: it[0] }), el("dd", { text: it[1] })]));
    });
    var box = PG.clear($("dlg-examples"));
    var ex = Array.isArray(c.examples) ? c.examples : [];
    if (!ex.length) box.appendChild(el("p", { class: "muted", text: "No dataset examples for this channel." }));
    ex.forEach(function (e) {
      var ds = Array.isArray(e) ? e[0] : e && e.dataset;
      var id = Array.isArray(e) ? e[1] : e && e.id;
      if (!PG.isSlug(ds) || typeof id !== "number") return;
      var cap = el("figcaption", { text: ds + " #" + id });
      var fig = el("figure", { class: "example" }, [
        el("a", { href: "index.html#" + exampleLink(ds, id), "aria-label": "Search with " + ds + " image " + id }, el("img", { src: PG.thumbUrl(ds, id), alt: "Dataset example " + ds + " #" + id, width: 128, height: 128, loading: "lazy" })),
        cap,
      ]);
      box.appendChild(fig);
      // name the category once the dataset file is loaded
      PG.load("datasets/" + ds).then(function (d) {
        var rec = d.images && d.images[id];
        if (rec && rec.label !== null && rec.label !== undefined && d.classes) {
          cap.textContent = String(d.classes[rec.label]) + " · " + d.name;
          fig.querySelector("img").alt = "Dataset example: " + String(d.classes[rec.label]) + " (" + d.name + ")";
        }
      }, function () {});
    });
  }

  function fillTable() {
    var m = modelInfo(S.model);
    $("dlg-table-title").textContent = "All layers of " + (m.display || m.slug);
    var t = PG.clear($("layer-table"));
    var sel = Object.create(null);
    m.layers.forEach(function (l, i) {
      sel[l.name] = i + 1;
    });
    var rows = Array.isArray(m.table) ? m.table : null;
    $("dlg-table-sub").textContent = rows
      ? rows.length + " layers; the " + m.layers.length + " highlighted ones are used by semantic search and visualized here."
      : "The full layer table was not built; the " + m.layers.length + " selected layers are listed.";
    t.appendChild(el("thead", null, el("tr", null, ["#", "Layer", "Type", "Output", "Parameters", "Shown"].map(function (h) {
      return el("th", { scope: "col", text: h });
    }))));
    var tb = el("tbody");
    (rows || m.layers).forEach(function (r, i) {
      var name = r.name || r.slug || "";
      var shown = sel[name];
      var tr = el("tr", { class: shown ? "is-selected" : "" }, [
        el("td", { class: "num", text: String(typeof r.index === "number" ? r.index + 1 : typeof r.depth_index === "number" ? r.depth_index + 1 : i + 1) }),
        el("td", { text: name }),
        el("td", { text: r.type || r.class_name || "" }),
        el("td", { text: PG.fmtShape(r.output_shape) }),
        el("td", { class: "num", text: typeof r.params === "number" ? r.params.toLocaleString("en-US") : "" }),
        el("td", { text: shown ? "L" + shown : "" }),
      ]);
      tb.appendChild(tr);
    });
    t.appendChild(tb);
  }

  function stepChannel(d) {
    if (!CH || S.ch === null) return;
    var i = -1;
    CH.forEach(function (c, j) {
      if (c.channel === S.ch) i = j;
    });
    var j = i + d;
    if (j >= 0 && j < CH.length) set({ ch: CH[j].channel }, false);
  }

  function setupDialogs() {
    var dc = $("dlg-channel");
    var dt = $("dlg-table");
    [dc, dt].forEach(function (d) {
      d.querySelector("[data-close]").addEventListener("click", function () {
        d.close();
      });
      d.addEventListener("click", function (ev) {
        if (ev.target === d) d.close(); // backdrop
      });
    });
    dc.addEventListener("close", function () {
      if (S.ch !== null) {
        var ch = S.ch;
        set({ ch: null }, false);
        var b = document.querySelector('.channel[data-ch="' + ch + '"]');
        if (b) b.focus();
      }
    });
    dt.addEventListener("close", function () {
      if (S.table) set({ table: false }, false);
      $("ex-table-open").focus();
    });
    dc.addEventListener("keydown", function (ev) {
      if (ev.key === "ArrowRight") {
        ev.preventDefault();
        stepChannel(1);
      } else if (ev.key === "ArrowLeft") {
        ev.preventDefault();
        stepChannel(-1);
      }
    });
    $("dlg-prev").addEventListener("click", function () {
      stepChannel(-1);
    });
    $("dlg-next").addEventListener("click", function () {
      stepChannel(1);
    });
    $("ex-table-open").addEventListener("click", function () {
      set({ table: true }, false);
    });
  }

  function init() {
    MODELS = mergeModels();
    if (!MODELS.length) {
      PG.error("No models were built yet: run `playground build`.");
      return;
    }
    buildModelTiles();
    var lbox = $("ex-layers");
    lbox.addEventListener("click", function (ev) {
      var t = ev.target.closest("[role=radio]");
      if (t) pickLayer(t.getAttribute("data-value"));
    });
    PG.radioGroup(lbox, pickLayer);
    setupDialogs();
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

  PG.page = {
    state: function () {
      return Object.assign({}, S);
    },
    models: function () {
      return MODELS;
    },
  };

  PG.load("index").then(function (idx) {
    INDEX = idx;
    var has = idx.featurevis === true || document.documentElement.getAttribute("data-explorer") === "1";
    if (!has) {
      init();
      return;
    }
    PG.load("explorer/index").then(function (ex) {
      EX = ex;
      init();
    }, function () {
      init();
    });
  }, function () {
    PG.error("The site data (data/index.js) is missing: run `playground build`, then open build/site/explorer.html.");
  });
})();
