/* ConvNet Playground: shared core (data loading, URL state, DOM helpers).
 *
 * Classic script, no modules: module scripts are blocked from file://, classic ones are not.
 * Data files are `PG.put("<key>", <json>);` scripts (see docs/architecture.md) loaded with <script src>,
 * which also works from file:// where fetch() of local files is blocked.
 * Names from the data (datasets, classes, files) are only ever written with textContent or
 * setAttribute: never as HTML.
 */
(() => {
  window.PG = window.PG || {};
  const PG = window.PG;
  const store = Object.create(null);
  const waiting = Object.create(null);
  const pending = Object.create(null);
  const KEY = /^[a-z0-9_-]+(\/[a-z0-9_-]+)*$/;
  const SLUG = /^[a-z0-9_-]+$/;

  PG.root = document.documentElement.getAttribute("data-root") || "";
  PG.requests = []; // every data key requested, in order (tests read it)

  PG.put = (key, data) => {
    store[key] = data;
    const w = waiting[key];
    if (w) {
      delete waiting[key];
      w.resolve(data);
    }
  };

  PG.has = (key) => key in store;
  /* A loaded data file, or undefined (synchronous; see PG.load). */
  PG.get = (key) => store[key];

  /* Load data/<key>.js once; resolves with its JSON. */
  PG.load = (key) => {
    if (key in store) return Promise.resolve(store[key]);
    if (pending[key]) return pending[key];
    if (!KEY.test(key)) return Promise.reject(new Error("invalid data key"));
    const p = new Promise((resolve, reject) => {
      waiting[key] = { resolve: resolve, reject: reject };
      const s = document.createElement("script");
      s.async = true;
      s.src = `${PG.root}data/${key}.js`;
      s.onload = () => {
        s.remove();
        if (waiting[key]) {
          delete waiting[key];
          delete pending[key];
          reject(new Error(`data file did not register: ${key}`));
        }
      };
      s.onerror = () => {
        s.remove();
        delete waiting[key];
        delete pending[key];
        reject(new Error(`missing data file: ${key}`));
      };
      PG.requests.push(key);
      document.head.appendChild(s);
    });
    pending[key] = p;
    return p;
  };

  /* How many data files are loading now (tests wait for 0 instead of sleeping). */
  PG.inflight = () => Object.keys(waiting).length;

  /* The bytes of a base64 string (the typed arrays of the data files, the in-browser search's model and runtime). */
  PG.bytes = (b64) => {
    const bin = atob(b64);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  };

  PG.isSlug = (s) => typeof s === "string" && SLUG.test(s);

  /* Forget a loaded data file (a large one, once its content is decoded elsewhere); a later load fetches it
     again (from the browser's cache). */
  PG.drop = (key) => {
    delete store[key];
    delete pending[key];
  };

  /* ---- images: thumbnails are cells of sprite sheets (contract.Sprite), drawn as CSS backgrounds ---- */
  const THUMBS = /^thumbs\/[a-z0-9_-]+\/$/;
  const DISPLAY = /^images\/[a-z0-9_-]+\/$/;
  /* Where image `id` of a dataset of `n` images is: {url, x, y, size} with x, y the CSS background-position
     percentages and size the background-size, so that the cell fills a square element of any size. Sheet
     `id // per_sheet`, cell `id % per_sheet` row-major, `cols` cells per row; the last sheet has fewer rows. */
  PG.spriteCell = (sprite, n, id) => {
    if (!sprite || !THUMBS.test(sprite.url) || !(id >= 0 && id < n)) return null;
    const per = sprite.per_sheet;
    const cols = sprite.cols;
    const sheet = Math.floor(id / per);
    const i = id % per;
    const col = i % cols;
    const row = Math.floor(i / cols);
    const rows = Math.ceil(Math.min(per, n - sheet * per) / cols);
    return {
      url: `${PG.root}${sprite.url}${sheet}.webp`,
      x: cols > 1 ? (col / (cols - 1)) * 100 : 0,
      y: rows > 1 ? (row / (rows - 1)) * 100 : 0,
      size: `${cols * 100}% auto`,
    };
  };
  /* Paint a sprite cell on an element (CSSOM: allowed by the page's CSP, unlike a style attribute). */
  PG.paintThumb = (node, cell) => {
    if (!cell) {
      node.style.backgroundImage = "none";
      return node;
    }
    node.style.backgroundImage = `url("${cell.url}")`;
    node.style.backgroundSize = cell.size;
    node.style.backgroundPosition = `${cell.x}% ${cell.y}%`;
    return node;
  };
  /* A dataset's display image <display><id>.webp, or "" (then the thumbnail is the largest picture). */
  PG.displayUrl = (display, id) => {
    if (typeof display !== "string" || !DISPLAY.test(display) || !(id >= 0)) return "";
    return `${PG.root}${display}${id | 0}.webp`;
  };
  PG.fvUrl = (path) => {
    // "fv/<model>/<layer>/<c>.webp" as written by the featurevis stage
    if (typeof path !== "string" || !/^fv\/[a-z0-9_-]+\/[a-z0-9_-]+\/[a-z0-9_.-]+\.(webp|png|jpg)$/.test(path))
      return "";
    return PG.root + path;
  };

  /* ---- URL state: everything lives in the hash (works on file:// and any sub-path). ---- */
  PG.readHash = () => {
    const out = {};
    const h = location.hash.replace(/^#/, "");
    try {
      new URLSearchParams(h).forEach((v, k) => {
        out[k] = v;
      });
    } catch (_e) {
      /* ignore malformed hashes */
    }
    return out;
  };
  PG.writeHash = (obj, push) => {
    const s = new URLSearchParams();
    Object.keys(obj).forEach((k) => {
      const v = obj[k];
      if (v !== null && v !== undefined && v !== "" && v !== false) s.set(k, v === true ? "1" : String(v));
    });
    const url = `#${s.toString()}`;
    PG.writtenHash = url;
    if (url === location.hash) return;
    try {
      history[push ? "pushState" : "replaceState"](null, "", url);
    } catch (_e) {
      location.hash = url;
    }
  };

  /* ---- DOM ---- */
  PG.el = (tag, attrs, children) => {
    const e = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach((k) => {
        const v = attrs[k];
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
  PG.svg = (tag, attrs) => {
    const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
    if (attrs) {
      Object.keys(attrs).forEach((k) => {
        e.setAttribute(k, String(attrs[k]));
      });
    }
    return e;
  };
  PG.append = (e, children) => {
    if (children === null || children === undefined) return e;
    if (!Array.isArray(children)) children = [children];
    children.forEach((c) => {
      if (c === null || c === undefined || c === false) return;
      e.appendChild(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
    });
    return e;
  };
  PG.clear = (e) => {
    while (e.firstChild) e.removeChild(e.firstChild);
    return e;
  };
  PG.$ = (id) => document.getElementById(id);

  PG.fmtParams = (n) => {
    if (typeof n !== "number") return "?";
    if (n >= 1e6) return `${(n / 1e6).toFixed(1)} M`;
    if (n >= 1e3) return `${Math.round(n / 1e3)} k`;
    return String(n);
  };
  PG.fmtNum = (x, digits) => {
    if (typeof x !== "number" || !Number.isFinite(x)) return "–";
    return x.toFixed(digits === undefined ? 1 : digits);
  };
  PG.fmtDist = (x) => {
    if (typeof x !== "number" || !Number.isFinite(x)) return "–";
    if (x === 0) return "0";
    const a = Math.abs(x);
    if (a >= 1000 || a < 0.001) return x.toExponential(2);
    return String(Number(x.toPrecision(3)));
  };
  /* Similarity from near_ppm (parts per million of the dataset's image pairs at most this far apart), with
     as many decimals as it takes to tell near neighbours apart (two significant digits of what is left to
     100 %): 300 ppm -> "99.970 %", 12 ppm -> "99.9988 %", 250,000 ppm -> "75.0 %". */
  PG.fmtSim = (ppm) => {
    if (typeof ppm !== "number" || !Number.isFinite(ppm)) return "–";
    if (ppm <= 0) return "100 %";
    const rest = ppm / 1e4;
    const dec = Math.min(4, Math.max(1, Math.ceil(-Math.log10(rest)) + 1));
    return `${(100 - rest).toFixed(dec)} %`;
  };
  /* The same as the share of all pairs that are at least this close: "0.03 %" (two significant digits). */
  PG.fmtNear = (ppm) => {
    if (typeof ppm !== "number" || !Number.isFinite(ppm)) return "–";
    if (ppm <= 0) return "0 %";
    return `${Number((ppm / 1e4).toPrecision(2))} %`;
  };
  /* The result's rank among all the dataset's image pairs, as the share that are at least as close (two significant
     digits, the precision near neighbours need at any n): 300 ppm -> "top 0.03 %", 16,000 -> "top 1.6 %". It
     reads as what it is, a percentile of pairs, where "sim 99.97 %" read as a cosine similarity. */
  PG.fmtTop = (ppm) => {
    if (typeof ppm !== "number" || !Number.isFinite(ppm)) return "–";
    return ppm <= 0 ? "closest" : `top ${PG.fmtNear(ppm)}`; // 0: closer than every pair of the dataset
  };
  /* 0..1 for a bar: a log scale of near_ppm, full at 1 pair in a million, empty at all pairs (its decade ticks
     are drawn by the CSS: 10 %, 1 %, 0.1 %, ... of pairs). */
  PG.nearBar = (ppm) => {
    if (typeof ppm !== "number" || !Number.isFinite(ppm)) return 0;
    return Math.max(0, Math.min(1, 1 - Math.log10(Math.max(1, ppm)) / 6));
  };
  /* The search score of a ranked list of labels for category c (docs: rank i weighs (k - i) / k). */
  PG.searchScore = (labels, c) => {
    const k = labels.length;
    let num = 0;
    let den = 0;
    for (let i = 0; i < k; i++) {
      const w = (k - i) / k;
      den += w;
      if (labels[i] === c) num += w;
    }
    return den ? (100 * num) / den : null;
  };
  PG.fmtShape = (s) => {
    if (!Array.isArray(s)) return "";
    return s.filter((d, i) => !(i === 0 && (d === null || d === undefined))).join(" × ");
  };
  /* The ids of the points (x[i], y[i]) inside polygon `poly` ([{x, y}], closed implicitly), ascending: the even-odd
     rule (a ray to the right crosses the edges an odd number of times), after a bounding-box test. */
  PG.inPolygon = (x, y, poly) => {
    const m = poly.length;
    let x0 = Number.POSITIVE_INFINITY;
    let x1 = Number.NEGATIVE_INFINITY;
    let y0 = Number.POSITIVE_INFINITY;
    let y1 = Number.NEGATIVE_INFINITY;
    for (const v of poly) {
      x0 = Math.min(x0, v.x);
      x1 = Math.max(x1, v.x);
      y0 = Math.min(y0, v.y);
      y1 = Math.max(y1, v.y);
    }
    const out = [];
    for (let i = 0; i < x.length; i++) {
      const px = x[i];
      const py = y[i];
      if (px < x0 || px > x1 || py < y0 || py > y1) continue;
      let inside = false;
      for (let a = 0, b = m - 1; a < m; b = a++) {
        const ya = poly[a].y;
        const yb = poly[b].y;
        if (ya > py !== yb > py && px < ((poly[b].x - poly[a].x) * (py - ya)) / (yb - ya) + poly[a].x) inside = !inside;
      }
      if (inside) out.push(i);
    }
    return Int32Array.from(out);
  };
  PG.reducedMotion = () => window.matchMedia?.("(prefers-reduced-motion: reduce)").matches;

  /* Category colours. The first ten were chosen by a greedy farthest-point search over sRGB in CIEDE2000 (candidates
     with L* 42-68, chroma >= 30, contrast >= 2.2:1 on the light map and >= 2.6:1 on the dark one), so every prefix
     is spread out: the closest pair differs by dE2000 27.8 (the hand-picked set before had 9.7, which drew beetle
     and sedan of iconic200 in two greens). Beyond ten: golden-angle hues. */
  const PALETTE = [
    "#b43c00",
    "#00b41e",
    "#00a5f0",
    "#e178ff",
    "#e19600",
    "#1e4bff",
    "#007869",
    "#c30069",
    "#f08787",
    "#696900",
  ];
  PG.classColor = (i) => {
    if (i === null || i === undefined || i < 0) return "#868e96";
    if (i < PALETTE.length) return PALETTE[i];
    const h = (i * 137.508) % 360;
    return `hsl(${h.toFixed(0)},62%,45%)`;
  };

  /* Keyboard: a radiogroup of tiles with a roving tabindex; arrows move and select. */
  PG.radioGroup = (container, onPick) => {
    container.addEventListener("keydown", (ev) => {
      const items = Array.prototype.slice.call(container.querySelectorAll("[role=radio]"));
      const i = items.indexOf(document.activeElement);
      if (i < 0) return;
      let j = -1;
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
  PG.markRadios = (container, value) => {
    let sel = null;
    container.querySelectorAll("[role=radio]").forEach((b) => {
      const on = b.getAttribute("data-value") === value;
      b.setAttribute("aria-checked", on ? "true" : "false");
      b.tabIndex = on ? 0 : -1;
      if (on) sel = b;
    });
    if (!sel) {
      const first = container.querySelector("[role=radio]");
      if (first) first.tabIndex = 0;
    }
    return sel;
  };

  /* Tabs: [role=tab] buttons with aria-controls; arrow keys move between them. */
  PG.tabs = (tabs, onSelect) => {
    tabs.forEach((t, i) => {
      t.addEventListener("click", () => {
        onSelect(t.id);
      });
      t.addEventListener("keydown", (ev) => {
        let j = ev.key === "ArrowRight" ? i + 1 : ev.key === "ArrowLeft" ? i - 1 : -2;
        if (j === -2) return;
        ev.preventDefault();
        ev.stopPropagation();
        j = (j + tabs.length) % tabs.length;
        tabs[j].focus();
        onSelect(tabs[j].id);
      });
    });
  };
  PG.selectTab = (tabs, id) => {
    const first = tabs[0].getAttribute("aria-controls");
    const shared = tabs.every((t) => t.getAttribute("aria-controls") === first);
    tabs.forEach((t) => {
      const on = t.id === id;
      t.setAttribute("aria-selected", on ? "true" : "false");
      t.tabIndex = on ? 0 : -1;
      const panel = document.getElementById(t.getAttribute("aria-controls"));
      if (panel && !shared) panel.hidden = !on;
    });
  };

  PG.randomBadge = (small) =>
    PG.el("span", {
      class: `badge badge-random${small ? " badge-small" : ""}`,
      title: "Untrained network: random weights. Results show what an untrained network sees.",
      text: small ? "random weights" : "Untrained · random weights",
    });

  /* Follow the URL hash (back/forward and edited links): ``onHash(always)`` runs on popstate (always = true)
     and on hashchange (always = false: the page compares with its state). Shared by both pages. */
  PG.followHash = (onHash) => {
    window.addEventListener("popstate", () => {
      onHash(true);
    });
    window.addEventListener("hashchange", () => {
      // a fragment navigation fires popstate first (followed there); after it corrected the address bar the
      // hash is the page's own: nothing more to follow
      if (location.hash === PG.writtenHash) return;
      onHash(false);
    });
  };

  /* Bring a part of the page into view when it is off screen (smoothly unless the visitor asked for reduced
     motion): feedback for a click whose result appears elsewhere on the page. */
  PG.reveal = (node) => {
    if (!node) return;
    const r = node.getBoundingClientRect();
    const vh = window.innerHeight || document.documentElement.clientHeight;
    if (r.top >= 0 && r.top < vh * 0.5) return;
    node.scrollIntoView({ behavior: PG.reducedMotion() ? "auto" : "smooth", block: "start" });
  };

  /* A visible, dismissible message at the top of <main> (role=status): e.g. a deep link that named something
     this build does not have. */
  PG.notice = (id, msg) => {
    let box = PG.$(id);
    if (!msg) {
      if (box) box.remove();
      return;
    }
    if (!box) {
      box = PG.el("div", { id: id, class: "wrap" });
      const main = document.getElementById("main");
      main.insertBefore(box, main.firstChild);
    }
    PG.clear(box).appendChild(
      PG.el("div", { class: "notice notice-info", role: "status" }, [
        PG.el("span", { class: "notice-text", text: msg }),
        PG.el("button", {
          type: "button",
          class: "notice-close",
          "aria-label": "Dismiss this message",
          text: "✕",
          onclick: () => {
            box.remove();
          },
        }),
      ])
    );
    return box;
  };

  /* Local storage that never throws (file:// in some browsers, private modes, disabled storage). */
  PG.remember = (key, value) => {
    try {
      if (value === undefined) return window.localStorage.getItem(key);
      window.localStorage.setItem(key, value);
    } catch (_e) {
      /* no storage: the page still works, it just forgets */
    }
    return null;
  };

  PG.error = (msg) => {
    let box = PG.$("page-error");
    if (!box) {
      box = PG.el("div", { id: "page-error", class: "notice notice-error", role: "alert" });
      const main = document.getElementById("main");
      main.insertBefore(box, main.firstChild);
    }
    box.textContent = msg;
  };
})();
