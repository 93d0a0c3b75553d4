/* ConvNet Playground: shared core (data loading, URL state, DOM helpers).
 *
 * Classic script, no modules: module scripts are blocked from file://, classic ones are not.
 * Data files are `PG.put("<key>", <json>);` scripts (see docs/architecture.md) loaded with <script src>,
 * which also works from file:// where fetch() of local files is blocked.
 * Names from the data (datasets, classes, files) are only ever written with textContent or
 * setAttribute: never as HTML.
 */
(function () {
  "use strict";
  var PG = (window.PG = window.PG || {});
  var store = Object.create(null);
  var waiting = Object.create(null);
  var pending = Object.create(null);
  var KEY = /^[a-z0-9_-]+(\/[a-z0-9_-]+)*$/;
  var SLUG = /^[a-z0-9_-]+$/;

  PG.root = document.documentElement.getAttribute("data-root") || "";
  PG.requests = []; // every data key requested, in order (tests read it)

  PG.put = function (key, data) {
    store[key] = data;
    var w = waiting[key];
    if (w) {
      delete waiting[key];
      w.resolve(data);
    }
  };

  PG.has = function (key) {
    return key in store;
  };

  /* Load data/<key>.js once; resolves with its JSON. */
  PG.load = function (key) {
    if (key in store) return Promise.resolve(store[key]);
    if (pending[key]) return pending[key];
    if (!KEY.test(key)) return Promise.reject(new Error("invalid data key"));
    var p = new Promise(function (resolve, reject) {
      waiting[key] = { resolve: resolve, reject: reject };
      var s = document.createElement("script");
      s.async = true;
      s.src = PG.root + "data/" + key + ".js";
      s.onload = function () {
        s.remove();
        if (waiting[key]) {
          delete waiting[key];
          delete pending[key];
          reject(new Error("data file did not register: " + key));
        }
      };
      s.onerror = function () {
        s.remove();
        delete waiting[key];
        delete pending[key];
        reject(new Error("missing data file: " + key));
      };
      PG.requests.push(key);
      document.head.appendChild(s);
    });
    pending[key] = p;
    return p;
  };

  PG.isSlug = function (s) {
    return typeof s === "string" && SLUG.test(s);
  };

  /* URLs of images; slugs and integer ids only, validated. */
  PG.thumbUrl = function (ds, id) {
    if (!PG.isSlug(ds) || !(id >= 0)) return "";
    return PG.root + "thumbs/" + ds + "/" + (id | 0) + ".webp";
  };
  PG.imageUrl = function (ds, id) {
    if (!PG.isSlug(ds) || !(id >= 0)) return "";
    return PG.root + "images/" + ds + "/" + (id | 0) + ".webp";
  };
  PG.fvUrl = function (path) {
    // "fv/<model>/<layer>/<c>.webp" as written by the featurevis stage
    if (typeof path !== "string" || !/^fv\/[a-z0-9_-]+\/[a-z0-9_-]+\/[a-z0-9_.-]+\.(webp|png|jpg)$/.test(path)) return "";
    return PG.root + path;
  };

  /* ---- URL state: everything lives in the hash (works on file:// and any sub-path). ---- */
  PG.readHash = function () {
    var out = {};
    var h = location.hash.replace(/^#/, "");
    try {
      new URLSearchParams(h).forEach(function (v, k) {
        out[k] = v;
      });
    } catch (e) {
      /* ignore malformed hashes */
    }
    return out;
  };
  PG.writeHash = function (obj, push) {
    var s = new URLSearchParams();
    Object.keys(obj).forEach(function (k) {
      var v = obj[k];
      if (v !== null && v !== undefined && v !== "" && v !== false) s.set(k, v === true ? "1" : String(v));
    });
    var url = "#" + s.toString();
    if (url === location.hash) return;
    try {
      history[push ? "pushState" : "replaceState"](null, "", url);
    } catch (e) {
      location.hash = url;
    }
  };

  /* ---- DOM ---- */
  PG.el = function (tag, attrs, children) {
    var e = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        var v = attrs[k];
        if (v === null || v === undefined || v === false) return;
        if (k === "text") e.textContent = String(v);
        else if (k === "class") e.className = v;
        else if (k.slice(0, 2) === "on" && typeof v === "function") e.addEventListener(k.slice(2), v);
        else e.setAttribute(k, v === true ? "" : String(v));
      });
    }
    PG.append(e, children);
    return e;
  };
  PG.svg = function (tag, attrs) {
    var e = document.createElementNS("http://www.w3.org/2000/svg", tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        e.setAttribute(k, String(attrs[k]));
      });
    }
    return e;
  };
  PG.append = function (e, children) {
    if (children === null || children === undefined) return e;
    if (!Array.isArray(children)) children = [children];
    children.forEach(function (c) {
      if (c === null || c === undefined || c === false) return;
      e.appendChild(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
    });
    return e;
  };
  PG.clear = function (e) {
    while (e.firstChild) e.removeChild(e.firstChild);
    return e;
  };
  PG.$ = function (id) {
    return document.getElementById(id);
  };

  PG.fmtParams = function (n) {
    if (typeof n !== "number") return "?";
    if (n >= 1e6) return (n / 1e6).toFixed(1) + " M";
    if (n >= 1e3) return Math.round(n / 1e3) + " k";
    return String(n);
  };
  PG.fmtNum = function (x, digits) {
    if (typeof x !== "number" || !isFinite(x)) return "–";
    return x.toFixed(digits === undefined ? 1 : digits);
  };
  PG.fmtDist = function (x) {
    if (typeof x !== "number" || !isFinite(x)) return "–";
    if (x === 0) return "0";
    var a = Math.abs(x);
    if (a >= 1000 || a < 0.001) return x.toExponential(2);
    return String(Number(x.toPrecision(3)));
  };
  PG.fmtShape = function (s) {
    if (!Array.isArray(s)) return "";
    return s
      .filter(function (d, i) {
        return !(i === 0 && (d === null || d === undefined));
      })
      .join(" × ");
  };
  PG.reducedMotion = function () {
    return window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;
  };

  /* Category colours: 10 hand-picked, distinguishable hues, then golden-angle hues. */
  var PALETTE = ["#4263eb", "#f08c00", "#2f9e44", "#e03131", "#9c36b5", "#0c8599", "#d6336c", "#5c940d", "#846358", "#495057"];
  PG.classColor = function (i) {
    if (i === null || i === undefined || i < 0) return "#868e96";
    if (i < PALETTE.length) return PALETTE[i];
    var h = (i * 137.508) % 360;
    return "hsl(" + h.toFixed(0) + ",62%,45%)";
  };

  /* Keyboard: a radiogroup of tiles with a roving tabindex; arrows move and select. */
  PG.radioGroup = function (container, onPick) {
    container.addEventListener("keydown", function (ev) {
      var items = Array.prototype.slice.call(container.querySelectorAll("[role=radio]"));
      var i = items.indexOf(document.activeElement);
      if (i < 0) return;
      var j = -1;
      if (ev.key === "ArrowRight" || ev.key === "ArrowDown") j = Math.min(items.length - 1, i + 1);
      else if (ev.key === "ArrowLeft" || ev.key === "ArrowUp") j = Math.max(0, i - 1);
      else if (ev.key === "Home") j = 0;
      else if (ev.key === "End") j = items.length - 1;
      if (j < 0) return;
      ev.preventDefault();
      ev.stopPropagation();
      if (j !== i) {
        items[j].focus();
        onPick(items[j].getAttribute("data-value"));
      }
    });
  };
  PG.markRadios = function (container, value) {
    var sel = null;
    container.querySelectorAll("[role=radio]").forEach(function (b) {
      var on = b.getAttribute("data-value") === value;
      b.setAttribute("aria-checked", on ? "true" : "false");
      b.tabIndex = on ? 0 : -1;
      if (on) sel = b;
    });
    if (!sel) {
      var first = container.querySelector("[role=radio]");
      if (first) first.tabIndex = 0;
    }
    return sel;
  };

  /* Tabs: [role=tab] buttons with aria-controls; arrow keys move between them. */
  PG.tabs = function (tabs, onSelect) {
    tabs.forEach(function (t, i) {
      t.addEventListener("click", function () {
        onSelect(t.id);
      });
      t.addEventListener("keydown", function (ev) {
        var j = ev.key === "ArrowRight" ? i + 1 : ev.key === "ArrowLeft" ? i - 1 : -2;
        if (j === -2) return;
        ev.preventDefault();
        ev.stopPropagation();
        j = (j + tabs.length) % tabs.length;
        tabs[j].focus();
        onSelect(tabs[j].id);
      });
    });
  };
  PG.selectTab = function (tabs, id) {
    var first = tabs[0].getAttribute("aria-controls");
    var shared = tabs.every(function (t) {
      return t.getAttribute("aria-controls") === first;
    });
    tabs.forEach(function (t) {
      var on = t.id === id;
      t.setAttribute("aria-selected", on ? "true" : "false");
      t.tabIndex = on ? 0 : -1;
      var panel = document.getElementById(t.getAttribute("aria-controls"));
      if (panel && !shared) panel.hidden = !on;
    });
  };

  PG.randomBadge = function (small) {
    return PG.el("span", {
      class: "badge badge-random" + (small ? " badge-small" : ""),
      title: "Untrained network: random weights. Results show what an untrained network sees.",
      text: small ? "random weights" : "Untrained · random weights",
    });
  };

  /* Follow the URL hash (back/forward and edited links): ``apply(next)`` runs with the validated state when
     it differs from ``current()`` (always on popstate). Shared by both pages. */
  PG.followHash = function (validate, current, apply) {
    function go(always) {
      var next = validate(PG.readHash());
      if (!always && JSON.stringify(next) === JSON.stringify(current())) return;
      apply(next);
    }
    window.addEventListener("popstate", function () {
      go(true);
    });
    window.addEventListener("hashchange", function () {
      go(false);
    });
  };

  PG.error = function (msg) {
    var box = PG.$("page-error");
    if (!box) {
      box = PG.el("div", { id: "page-error", class: "notice notice-error", role: "alert" });
      var main = document.getElementById("main");
      main.insertBefore(box, main.firstChild);
    }
    box.textContent = msg;
  };
})();
