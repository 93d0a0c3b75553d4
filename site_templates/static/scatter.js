/* ConvNet Playground: a canvas scatter plot for the embedding map, fast at 100,000 points.
 *
 * Hand-written instead of a charting library: it needs exactly pan/zoom, hover with a hit test, click,
 * highlighted points and an animated transition. The points are not canvas paths: every frame they are
 * splatted into one ImageData (a Uint32Array view, one anti-aliased disc "stamp" per point, blended over the
 * map's background) and put on the canvas with one putImageData; only the few marked things (the query, its
 * results and the links between them, labels, the hovered point) are canvas paths on top. A frame allocates
 * nothing per point: positions, classes and the draw order live in typed arrays (points sorted by category,
 * so a category's colour is set once). The hover hit test uses a uniform grid over data space stored as two
 * typed arrays (CSR), sized for the number of points, so it looks only at the points near the cursor.
 */
(() => {
  window.PG = window.PG || {};
  const PG = window.PG;
  const TAU = Math.PI * 2;

  function ease(t) {
    return t < 0.5 ? 4 * t * t * t : 1 - (-2 * t + 2) ** 3 / 2;
  }

  function Scatter(canvas, opts) {
    opts = opts || {};
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.onHover = opts.onHover || (() => {});
    this.onClick = opts.onClick || (() => {});
    this.onView = opts.onView || (() => {});
    this.onDrawn = opts.onDrawn || (() => {}); // after each settled frame (not while points glide)
    this.onKeyPoint = opts.onKeyPoint || (() => {}); // the keyboard moved the point cursor: (i)
    this.n = 0;
    this.x = new Float32Array(0); // drawn positions (data space, 0..1, y up)
    this.y = new Float32Array(0);
    this.cls = new Int32Array(0); // category per point (-1: none)
    this.order = new Uint32Array(0); // point ids sorted by category
    this.classOff = new Uint32Array(1); // category c's points are order[classOff[c] .. classOff[c + 1]]
    this.nClasses = 0;
    this.classNames = [];
    this.rgb = []; // [r, g, b] per category (+ one for "none")
    this.query = -1;
    this.queryPoint = null; // {x, y}: a query that is not a point of the map (an uploaded image)
    this.results = [];
    this.hover = -1;
    this.extHover = -1;
    this.focusClass = -1;
    this.mask = null; // Uint8Array per point: 1 = selected (the others are drawn faint), or null
    this.lassoMode = false; // a drag draws a lasso instead of panning
    this.lasso = null; // the lasso being drawn: [{x, y}] in data space
    this.outline = null; // a finished lasso drawn as a dashed outline: [{x, y}] in data space
    this.onLasso = opts.onLasso || (() => {});
    this.s = 1;
    this.ox = 0;
    this.oy = 0;
    this.anim = null;
    this.grid = 0; // hit-test grid: grid x grid cells; cellStart / cellItems (CSR)
    this.cellStart = new Uint32Array(1);
    this.cellItems = new Uint32Array(0);
    this.w = 0;
    this.h = 0;
    this.dpr = 1;
    this.frame = 0;
    this.lastDrawMs = 0;
    this.lastSplats = 0; // points drawn in the last frame (inside the canvas)
    this.labels = [];
    this.stats = null; // per-category spread and centroid (labels), computed once per layout
    this.widths = null;
    this.lastExamined = 0;
    this.img = null;
    this.buf = null;
    this.stamp = null;
    this.pointers = {};
    this.drag = null;
    this._bind();
    this.resize();
  }

  /* A CSS colour as [r, g, b] (the canvas normalises any CSS colour syntax to #rrggbb). */
  Scatter.prototype._rgbOf = function (css) {
    const ctx = this.ctx;
    ctx.fillStyle = "#000000";
    ctx.fillStyle = css;
    const v = String(ctx.fillStyle);
    if (v[0] === "#") return [1, 3, 5].map((i) => Number.parseInt(v.slice(i, i + 2), 16));
    const m = v.match(/[\d.]+/g) || [0, 0, 0];
    return [+m[0], +m[1], +m[2]];
  };

  /* Colours that follow the page theme: --map-bg, --map-halo, --map-ink, --map-link, --map-ring (CSS). */
  Scatter.prototype._theme = function () {
    const cs = window.getComputedStyle(this.canvas);
    function v(name, dflt) {
      const x = cs.getPropertyValue(name).trim();
      return x || dflt;
    }
    this.theme = {
      bg: v("--map-bg", "#f8f9fb"),
      halo: v("--map-halo", "rgba(255,255,255,0.85)"),
      ink: v("--map-ink", "#212529"),
      link: v("--map-link", "rgba(33,37,41,0.35)"),
      ring: v("--map-ring", "#ffffff"),
    };
    const [r, g, b] = this._rgbOf(this.theme.bg);
    this.bgPacked = (0xff000000 | (b << 16) | (g << 8) | r) >>> 0; // RGBA bytes, little-endian
  };

  Scatter.prototype._bind = function () {
    const self = this;
    const c = this.canvas;
    this._theme();
    if (window.matchMedia) {
      const mq = window.matchMedia("(prefers-color-scheme: dark)");
      const onTheme = () => {
        self._theme();
        self.request();
      };
      if (mq.addEventListener) mq.addEventListener("change", onTheme);
    }
    if (window.ResizeObserver) {
      new ResizeObserver(() => {
        self.resize();
      }).observe(c.parentNode || c);
    } else {
      window.addEventListener("resize", () => {
        self.resize();
      });
    }
    c.addEventListener("pointerdown", (ev) => {
      c.setPointerCapture(ev.pointerId);
      self.pointers[ev.pointerId] = { x: ev.offsetX, y: ev.offsetY };
      const ids = Object.keys(self.pointers);
      if (ids.length === 1 && self.lassoMode) {
        self.lasso = [self.toData(ev.offsetX, ev.offsetY)];
        self.lassoPx = { x: ev.offsetX, y: ev.offsetY };
        self.drag = null;
        return;
      }
      self.lasso = null;
      if (ids.length === 1) self.drag = { x: ev.offsetX, y: ev.offsetY, ox: self.ox, oy: self.oy, moved: false };
      else self.drag = null;
      if (ids.length === 2) {
        const a = self.pointers[ids[0]];
        const b = self.pointers[ids[1]];
        self.pinch = { d: Math.hypot(a.x - b.x, a.y - b.y), s: self.s };
      }
    });
    c.addEventListener("pointermove", (ev) => {
      const p = self.pointers[ev.pointerId];
      if (p) {
        p.x = ev.offsetX;
        p.y = ev.offsetY;
      }
      if (self.lasso && p) {
        // a vertex every 4 px of pointer travel
        if (Math.hypot(ev.offsetX - self.lassoPx.x, ev.offsetY - self.lassoPx.y) >= 4) {
          self.lasso.push(self.toData(ev.offsetX, ev.offsetY));
          self.lassoPx = { x: ev.offsetX, y: ev.offsetY };
          self.request();
        }
        return;
      }
      const ids = Object.keys(self.pointers);
      if (ids.length === 2 && self.pinch) {
        const a = self.pointers[ids[0]];
        const b = self.pointers[ids[1]];
        const d = Math.hypot(a.x - b.x, a.y - b.y);
        if (self.pinch.d > 0) self.zoomAt((a.x + b.x) / 2, (a.y + b.y) / 2, (self.pinch.s * d) / self.pinch.d / self.s);
        return;
      }
      if (self.drag && p) {
        const dx = ev.offsetX - self.drag.x;
        const dy = ev.offsetY - self.drag.y;
        if (!self.drag.moved && Math.abs(dx) + Math.abs(dy) > 4) self.drag.moved = true;
        if (self.drag.moved) {
          self.ox = self.drag.ox + dx;
          self.oy = self.drag.oy + dy;
          self._setHover(-1, ev);
          self.request();
          self.onView();
          return;
        }
      }
      if (!self.anim) self._setHover(self.pick(ev.offsetX, ev.offsetY), ev);
    });
    function up(ev) {
      if (self.lasso) {
        const poly = self.lasso.map((v) => ({ x: v.x, y: v.y }));
        self.lasso = null;
        delete self.pointers[ev.pointerId];
        self.request();
        if (poly.length >= 3 && ev.type === "pointerup") self.onLasso(poly);
        return;
      }
      const wasClick = self.drag && !self.drag.moved && Object.keys(self.pointers).length === 1;
      delete self.pointers[ev.pointerId];
      if (Object.keys(self.pointers).length < 2) self.pinch = null;
      if (wasClick && ev.type === "pointerup") {
        const i = self.pick(ev.offsetX, ev.offsetY);
        if (i >= 0) self.onClick(i);
      }
      self.drag = null;
    }
    c.addEventListener("pointerup", up);
    c.addEventListener("pointercancel", up);
    c.addEventListener("pointerleave", (ev) => {
      if (ev.pointerType === "mouse") self._setHover(-1, ev);
    });
    c.addEventListener(
      "wheel",
      (ev) => {
        ev.preventDefault();
        const f = Math.exp(-ev.deltaY * (ev.deltaMode === 1 ? 0.05 : 0.0015));
        self.zoomAt(ev.offsetX, ev.offsetY, f);
      },
      { passive: false }
    );
    c.addEventListener("dblclick", (ev) => {
      self.zoomAt(ev.offsetX, ev.offsetY, 2);
    });
    // Keyboard: the arrows move a point cursor to the nearest point that way (the hover ring and tooltip show
    // it), Enter or Space searches from it, Escape drops it; Shift+arrows pan, + / - zoom, 0 resets.
    const DIRS = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
    c.addEventListener("keydown", (ev) => {
      const step = 40;
      const k = ev.key;
      const dir = DIRS[k];
      if (k === "+" || k === "=") self.zoomBy(1.5);
      else if (k === "-" || k === "_") self.zoomBy(1 / 1.5);
      else if (k === "0") self.reset();
      else if (dir && ev.shiftKey) self.pan(-dir[0] * step, -dir[1] * step);
      else if (dir) self.stepCursor(dir[0], dir[1]);
      else if ((k === "Enter" || k === " ") && self.hover >= 0) self.onClick(self.hover, true);
      else if (k === "Escape" && self.hover >= 0 && !self.lassoMode) self._setHover(-1);
      else return;
      ev.preventDefault();
      ev.stopPropagation();
    });
  };

  Scatter.prototype._setHover = function (i, ev) {
    if (i === this.hover) return;
    this.hover = i;
    this.request();
    this.onHover(i, i >= 0 ? this.screenPos(i) : null, ev);
  };

  /* ---- geometry: data (0..1, y up) -> CSS pixels ---- */
  Scatter.prototype._base = function () {
    const pad = 18;
    const size = Math.max(10, Math.min(this.w, this.h) - 2 * pad);
    return { size: size, bx: (this.w - size) / 2, by: (this.h - size) / 2 };
  };
  Scatter.prototype.screenPos = function (i) {
    return this.toScreen(this.x[i], this.y[i]);
  };
  Scatter.prototype.toScreen = function (x, y) {
    const b = this._base();
    return { x: (b.bx + x * b.size) * this.s + this.ox, y: (b.by + (1 - y) * b.size) * this.s + this.oy };
  };
  Scatter.prototype.toData = function (px, py) {
    const b = this._base();
    return {
      x: ((px - this.ox) / this.s - b.bx) / b.size,
      y: 1 - ((py - this.oy) / this.s - b.by) / b.size,
      scale: b.size * this.s,
    };
  };

  Scatter.prototype.resize = function () {
    const r = this.canvas.getBoundingClientRect();
    const dpr = Math.min(window.devicePixelRatio || 1, 2);
    const w = Math.max(1, Math.round(r.width));
    const h = Math.max(1, Math.round(r.height));
    if (w === this.w && h === this.h && dpr === this.dpr) return;
    // keep the centre of the view when the canvas changes size
    if (this.w) {
      this.ox += (w - this.w) / 2;
      this.oy += (h - this.h) / 2;
    }
    this.w = w;
    this.h = h;
    this.dpr = dpr;
    this.canvas.width = Math.round(w * dpr);
    this.canvas.height = Math.round(h * dpr);
    this.draw();
  };

  Scatter.prototype.zoomAt = function (mx, my, f) {
    const s2 = Math.max(0.5, Math.min(60, this.s * f));
    f = s2 / this.s;
    this.ox = mx - (mx - this.ox) * f;
    this.oy = my - (my - this.oy) * f;
    this.s = s2;
    this.request();
    this.onView();
  };
  Scatter.prototype.zoomBy = function (f) {
    this.zoomAt(this.w / 2, this.h / 2, f);
  };
  Scatter.prototype.pan = function (dx, dy) {
    this.ox += dx;
    this.oy += dy;
    this.request();
    this.onView();
  };
  Scatter.prototype.reset = function () {
    this.s = 1;
    this.ox = 0;
    this.oy = 0;
    this.request();
    this.onView();
  };

  /* ---- data ---- */
  /* x, y: coordinates in 0..1 per point (typed arrays or arrays; copied, never modified); cls: category per
     point (-1 or null: none); names: category names. `animate`: glide from the current layout (same n). */
  Scatter.prototype.setData = function (x, y, cls, names, animate, palette) {
    this.palette = palette || null; // CSS colours per category instead of PG.classColor
    const n = x.length;
    const tx = Float32Array.from(x);
    const ty = Float32Array.from(y);
    const same = n === this.n && n > 0;
    const c = new Int32Array(n);
    let nc = 0;
    for (let i = 0; i < n; i++) {
      const v = cls ? cls[i] : -1;
      c[i] = v === null || v === undefined || v < 0 ? -1 : v;
      if (c[i] + 1 > nc) nc = c[i] + 1;
    }
    this.cls = c;
    this.classNames = names || [];
    this.nClasses = nc;
    // the draw order: points sorted by category (a counting sort; "none" last)
    const off = new Uint32Array(nc + 2);
    for (let i = 0; i < n; i++) off[(c[i] < 0 ? nc : c[i]) + 1]++;
    for (let k = 0; k <= nc; k++) off[k + 1] += off[k];
    const fill = off.slice(0, nc + 1);
    const order = new Uint32Array(n);
    for (let i = 0; i < n; i++) order[fill[c[i] < 0 ? nc : c[i]]++] = i;
    this.order = order;
    this.classOff = off;
    this.rgb = [];
    for (let k = 0; k < nc; k++) this.rgb.push(this._rgbOf(this.colorOf(k)));
    this.rgb.push(this._rgbOf("#868e96"));
    this.stats = null;
    this.widths = null;
    if (same && animate && !PG.reducedMotion()) {
      this.anim = {
        fx: Float32Array.from(this.x),
        fy: Float32Array.from(this.y),
        tx,
        ty,
        t0: performance.now(),
        ms: 700,
      };
      this._setHover(-1);
      this._tick();
    } else {
      this.anim = null;
      this.x = tx;
      this.y = ty;
      this.n = n;
      this.hover = -1;
    }
    this._index(tx, ty);
    this.request();
  };

  Scatter.prototype._tick = function () {
    const a = this.anim;
    if (!a) return;
    const t = Math.min(1, (performance.now() - a.t0) / a.ms);
    const e = ease(t);
    const n = a.tx.length;
    if (this.x.length !== n || this.x === a.tx) {
      this.x = new Float32Array(n);
      this.y = new Float32Array(n);
    }
    for (let i = 0; i < n; i++) {
      this.x[i] = a.fx[i] + (a.tx[i] - a.fx[i]) * e;
      this.y[i] = a.fy[i] + (a.ty[i] - a.fy[i]) * e;
    }
    this.n = n;
    if (t >= 1) this.anim = null; // the last frame is drawn with labels
    this.draw();
    if (t < 1)
      requestAnimationFrame(() => {
        this._tick();
      });
  };

  /* The hit-test grid: about two points per cell on average, as two typed arrays. */
  Scatter.prototype._index = function (x, y) {
    const n = x.length;
    const G = Math.max(16, Math.min(512, Math.ceil(Math.sqrt(n / 2))));
    const cellOf = new Uint32Array(n);
    const start = new Uint32Array(G * G + 1);
    for (let i = 0; i < n; i++) {
      const gx = Math.max(0, Math.min(G - 1, Math.floor(x[i] * G)));
      const gy = Math.max(0, Math.min(G - 1, Math.floor(y[i] * G)));
      cellOf[i] = gy * G + gx;
      start[cellOf[i] + 1]++;
    }
    for (let k = 0; k < G * G; k++) start[k + 1] += start[k];
    const fill = start.slice(0, G * G);
    const items = new Uint32Array(n);
    for (let i = 0; i < n; i++) items[fill[cellOf[i]]++] = i;
    this.grid = G;
    this.cellStart = start;
    this.cellItems = items;
  };

  /* The point under (px, py) CSS pixels, or -1. */
  Scatter.prototype.pick = function (px, py) {
    if (!this.n || !this.grid) return -1;
    const G = this.grid;
    const d = this.toData(px, py);
    const rpx = this.radius() + 5;
    const rd = rpx / d.scale;
    const g0x = Math.max(0, Math.floor((d.x - rd) * G));
    const g1x = Math.min(G - 1, Math.floor((d.x + rd) * G));
    const g0y = Math.max(0, Math.floor((d.y - rd) * G));
    const g1y = Math.min(G - 1, Math.floor((d.y + rd) * G));
    let best = -1;
    let bd = rd * rd;
    let examined = 0;
    for (let gy = g0y; gy <= g1y; gy++) {
      for (let gx = g0x; gx <= g1x; gx++) {
        const k = gy * G + gx;
        const end = this.cellStart[k + 1];
        for (let j = this.cellStart[k]; j < end; j++) {
          const i = this.cellItems[j];
          const dx = this.x[i] - d.x;
          const dy = this.y[i] - d.y;
          const dd = dx * dx + dy * dy;
          if (dd <= bd) {
            bd = dd;
            best = i;
          }
        }
        examined += end - this.cellStart[k];
      }
    }
    this.lastExamined = examined; // points looked at: those near the cursor, not all n
    return best;
  };

  /* The points inside the canvas and `pad` CSS px around it, or null when there are more than `max` (read from
     the hit-test grid's cells in view, so a zoomed-in view of 100,000 points looks at few of them). */
  Scatter.prototype.inView = function (max, pad) {
    if (!this.n || !this.grid) return [];
    const G = this.grid;
    const lo = this.toData(-pad, this.h + pad); // bottom left (data y points up)
    const hi = this.toData(this.w + pad, -pad);
    const cell = (v) => Math.max(0, Math.min(G - 1, Math.floor(v * G)));
    const out = [];
    for (let gy = cell(lo.y); gy <= cell(hi.y); gy++) {
      for (let gx = cell(lo.x); gx <= cell(hi.x); gx++) {
        const k = gy * G + gx;
        for (let j = this.cellStart[k]; j < this.cellStart[k + 1]; j++) {
          const i = this.cellItems[j];
          if (this.x[i] < lo.x || this.x[i] > hi.x || this.y[i] < lo.y || this.y[i] > hi.y) continue;
          out.push(i);
          if (out.length > max) return null;
        }
      }
    }
    return out;
  };

  /* The point nearest to point `from` in the screen direction (dx, dy) (y down), inside a cone of 60 degrees
     either side, the ones near the axis first (the distance across counts twice); -1 when there is none. One pass
     over the points per key press. */
  Scatter.prototype.nearestToward = function (from, dx, dy) {
    const fx = this.x[from];
    const fy = this.y[from];
    let best = -1;
    let bs = Number.POSITIVE_INFINITY;
    for (let j = 0; j < this.n; j++) {
      const vx = this.x[j] - fx;
      const vy = fy - this.y[j];
      const along = vx * dx + vy * dy;
      if (j === from || along <= 0) continue;
      const across = Math.abs(vx * dy - vy * dx);
      if (across > along * 1.7320508) continue;
      const sc = along * along + 4 * across * across;
      if (sc < bs) {
        bs = sc;
        best = j;
      }
    }
    return best;
  };

  /* Move the keyboard's point cursor (the hovered point) one step in a direction, starting from the hovered point,
     else the query, else the point nearest the middle of the view; the view pans to keep it inside. */
  Scatter.prototype.stepCursor = function (dx, dy) {
    if (!this.n || this.anim) return;
    let from = this.hover >= 0 ? this.hover : this.query;
    let to;
    if (from < 0) {
      const mid = this.toData(this.w / 2, this.h / 2);
      let bd = Number.POSITIVE_INFINITY;
      for (let j = 0; j < this.n; j++) {
        const d = (this.x[j] - mid.x) ** 2 + (this.y[j] - mid.y) ** 2;
        if (d < bd) {
          bd = d;
          from = j;
        }
      }
      to = from;
    } else {
      to = this.nearestToward(from, dx, dy);
      if (to < 0) return;
    }
    const p = this.screenPos(to);
    const m = 36;
    const sx = p.x < m ? m - p.x : p.x > this.w - m ? this.w - m - p.x : 0;
    const sy = p.y < m ? m - p.y : p.y > this.h - m ? this.h - m - p.y : 0;
    if (sx || sy) {
      this.ox += sx;
      this.oy += sy;
      this.onView();
    }
    this.hover = -1;
    this._setHover(to, null);
    this.onKeyPoint(to);
  };

  /* query: the selected point (or -1); results: its neighbours (point ids); point: {x, y} in 0..1 for a query
     that is not on the map (an uploaded image), else null. */
  Scatter.prototype.setSelection = function (query, results, point) {
    this.query = query == null ? -1 : query;
    this.queryPoint = point && Number.isFinite(point.x) && Number.isFinite(point.y) ? point : null;
    this.results = results || [];
    this.request();
  };
  Scatter.prototype.colorOf = function (k) {
    return this.palette ? this.palette[k] : PG.classColor(k);
  };

  /* A selection: ids (any iterable of point ids) drawn in full, the other points faint; null: none. `outline`: a
     polygon [{x, y}] in data space drawn dashed (the lasso that made it), or null. */
  Scatter.prototype.setMask = function (ids, outline) {
    if (ids) {
      const m = new Uint8Array(this.n);
      for (const i of ids) if (i >= 0 && i < this.n) m[i] = 1;
      this.mask = m;
    } else {
      this.mask = null;
    }
    this.outline = outline || null;
    this.request();
  };
  Scatter.prototype.setLassoMode = function (on) {
    this.lassoMode = !!on;
    this.lasso = null;
    this.canvas.classList.toggle("is-lasso", this.lassoMode);
    this.request();
  };

  Scatter.prototype.setExternalHover = function (i) {
    this.extHover = i == null ? -1 : i;
    this.request();
  };
  Scatter.prototype.setFocusClass = function (c) {
    this.focusClass = c == null ? -1 : c;
    this.request();
  };

  Scatter.prototype.radius = function () {
    const n = this.n;
    const r = n <= 400 ? 4.5 : n <= 2000 ? 3.2 : n <= 6000 ? 2.4 : n <= 30000 ? 1.9 : 1.5;
    return r * Math.min(2.5, Math.sqrt(this.s));
  };

  Scatter.prototype.request = function () {
    if (this.frame || this.anim) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.draw();
    });
  };

  /* An anti-aliased disc of radius r device pixels: offsets (for a row width W) and coverage (0..256). */
  Scatter.prototype._stampFor = function (r, W) {
    const st = this.stamp;
    if (st && st.r === r && st.W === W) return st;
    const R = Math.ceil(r + 0.5);
    const dx = [];
    const dy = [];
    const a = [];
    for (let y = -R; y <= R; y++) {
      for (let x = -R; x <= R; x++) {
        const cov = Math.max(0, Math.min(1, r + 0.5 - Math.hypot(x, y)));
        if (cov < 0.02) continue;
        dx.push(x);
        dy.push(y);
        a.push(Math.round(cov * 256));
      }
    }
    this.stamp = {
      r,
      W,
      R,
      len: a.length,
      dx: Int16Array.from(dx),
      dy: Int16Array.from(dy),
      off: Int32Array.from(dx.map((x, k) => dy[k] * W + x)),
      a: Uint16Array.from(a),
      scaled: new Uint16Array(a.length), // the coverage times the current category's opacity
    };
    return this.stamp;
  };

  /* Splat the points of category c (order[classOff[c]..classOff[c+1]]) with opacity alpha (0..1): each pixel
     of the stamp is blended over the buffer, red and blue in one multiply, green in another. */
  Scatter.prototype._splat = function (c, alpha, X0, Y0, S, W, H, want) {
    const mask = want === undefined ? null : this.mask;
    const st = this.stamp;
    const buf = this.buf;
    const sa = st.scaled;
    const al = Math.round(alpha * 256);
    for (let k = 0; k < st.len; k++) sa[k] = (st.a[k] * al) >> 8;
    const off = st.off;
    const sdx = st.dx;
    const sdy = st.dy;
    const len = st.len;
    const R = st.R;
    const rgb = this.rgb[c];
    const crb = (rgb[2] << 16) | rgb[0];
    const cg = rgb[1] << 8;
    const x = this.x;
    const y = this.y;
    const order = this.order;
    let drawn = 0;
    for (let j = this.classOff[c], end = this.classOff[c + 1]; j < end; j++) {
      const i = order[j];
      if (mask && mask[i] !== want) continue;
      const fx = X0 + x[i] * S;
      const fy = Y0 + (1 - y[i]) * S;
      if (fx < -R || fy < -R || fx >= W + R || fy >= H + R) continue;
      // the nearest pixel (one off for a dot that sticks out of the left or top edge: it is only partly drawn)
      const px = (fx + 0.5) | 0;
      const py = (fy + 0.5) | 0;
      drawn++;
      if (px >= R && py >= R && px < W - R && py < H - R) {
        const base = py * W + px;
        for (let k = 0; k < len; k++) {
          const idx = base + off[k];
          const a = sa[k];
          const ia = 256 - a;
          const d = buf[idx];
          buf[idx] =
            0xff000000 |
            ((((d & 0xff00ff) * ia + crb * a) >>> 8) & 0xff00ff) |
            ((((d & 0xff00) * ia + cg * a) >>> 8) & 0xff00);
        }
      } else {
        for (let k = 0; k < len; k++) {
          const qx = px + sdx[k];
          const qy = py + sdy[k];
          if (qx < 0 || qy < 0 || qx >= W || qy >= H) continue;
          const idx = qy * W + qx;
          const a = sa[k];
          const ia = 256 - a;
          const d = buf[idx];
          buf[idx] =
            0xff000000 |
            ((((d & 0xff00ff) * ia + crb * a) >>> 8) & 0xff00ff) |
            ((((d & 0xff00) * ia + cg * a) >>> 8) & 0xff00);
        }
      }
    }
    return drawn;
  };

  Scatter.prototype.draw = function () {
    const t0 = performance.now();
    const ctx = this.ctx;
    const dpr = this.dpr;
    const W = this.canvas.width;
    const H = this.canvas.height;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    const n = this.n;
    if (!n) {
      ctx.clearRect(0, 0, W, H);
      this.labels = [];
      this.onDrawn();
      return;
    }
    if (!this.img || this.img.width !== W || this.img.height !== H) {
      this.img = ctx.createImageData(W, H);
      this.buf = new Uint32Array(this.img.data.buffer);
    }
    this.buf.fill(this.bgPacked);
    const b = this._base();
    const S = b.size * this.s;
    const X0 = b.bx * this.s + this.ox;
    const Y0 = b.by * this.s + this.oy;
    const r = this.radius();
    const hasSel = this.query >= 0 || !!this.queryPoint;
    this._stampFor(Math.round(r * dpr * 4) / 4, W);
    const base = hasSel ? 0.55 : 0.8;
    const focus = this.focusClass;
    let drawn = 0;
    if (this.mask && this.mask.length === n) {
      // a selection: the other points faint, the selected ones on top, in their categories' colours
      for (let c = 0; c <= this.nClasses; c++) drawn += this._splat(c, 0.08, X0 * dpr, Y0 * dpr, S * dpr, W, H, 0);
      for (let c = 0; c <= this.nClasses; c++) drawn += this._splat(c, 0.85, X0 * dpr, Y0 * dpr, S * dpr, W, H, 1);
    } else {
      // all points, one category at a time; a spotlighted category on top of the others
      for (let c = 0; c <= this.nClasses; c++) {
        if (c === focus) continue;
        drawn += this._splat(c, focus >= 0 ? 0.08 : base, X0 * dpr, Y0 * dpr, S * dpr, W, H);
      }
      if (focus >= 0 && focus < this.nClasses) drawn += this._splat(focus, base, X0 * dpr, Y0 * dpr, S * dpr, W, H);
    }
    ctx.putImageData(this.img, 0, 0);
    this.lastSplats = drawn;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);

    const x = this.x;
    const y = this.y;
    const sx = (i) => X0 + x[i] * S;
    const sy = (i) => Y0 + (1 - y[i]) * S;
    const colorOf = (i) => {
      const c = this.cls[i];
      return c >= 0 ? this.colorOf(c) : "#868e96";
    };
    if (hasSel) {
      const qp = this.queryPoint;
      const qx = qp ? X0 + qp.x * S : sx(this.query);
      const qy = qp ? Y0 + (1 - qp.y) * S : sy(this.query);
      // links from the query to its results
      ctx.strokeStyle = this.theme.link;
      ctx.lineWidth = 1;
      ctx.beginPath();
      for (const i of this.results) {
        if (i >= n) continue;
        ctx.moveTo(qx, qy);
        ctx.lineTo(sx(i), sy(i));
      }
      ctx.stroke();
      // results
      for (const i of this.results) {
        if (i >= n) continue;
        ctx.beginPath();
        ctx.arc(sx(i), sy(i), r + 1.5, 0, TAU);
        ctx.fillStyle = colorOf(i);
        ctx.fill();
        ctx.lineWidth = 2;
        ctx.strokeStyle = this.theme.ink;
        ctx.stroke();
      }
      // the query on top
      ctx.beginPath();
      ctx.arc(qx, qy, r + 5, 0, TAU);
      ctx.fillStyle = qp ? this.theme.ink : colorOf(this.query);
      ctx.fill();
      ctx.lineWidth = 3;
      ctx.strokeStyle = this.theme.ring;
      ctx.stroke();
      ctx.lineWidth = 2;
      ctx.strokeStyle = this.theme.ink;
      ctx.beginPath();
      ctx.arc(qx, qy, r + 7, 0, TAU);
      ctx.stroke();
    }

    // the lasso being drawn, or the finished one (dashed), as one path
    const poly = this.lasso || this.outline;
    if (poly && poly.length > 1) {
      ctx.beginPath();
      poly.forEach((v, j) => {
        const px = X0 + v.x * S;
        const py = Y0 + (1 - v.y) * S;
        if (j) ctx.lineTo(px, py);
        else ctx.moveTo(px, py);
      });
      ctx.closePath();
      ctx.setLineDash([6, 4]);
      ctx.lineWidth = 2;
      ctx.strokeStyle = this.theme.ink;
      ctx.stroke();
      ctx.setLineDash([]);
      if (this.lasso) {
        ctx.fillStyle = "rgba(245, 159, 0, 0.12)";
        ctx.fill();
      }
    }

    // category labels: compact categories only, placed greedily so that no two overlap (not while gliding)
    this.labels = this.anim ? [] : this._placeLabels(ctx, r);
    ctx.textAlign = "left";
    ctx.textBaseline = "middle";
    ctx.lineJoin = "round";
    for (const L of this.labels) {
      ctx.beginPath();
      ctx.arc(L.x + 7, L.y + L.h / 2, 4.5, 0, TAU);
      ctx.fillStyle = this.colorOf(L.c);
      ctx.fill();
      ctx.lineWidth = 1.5;
      ctx.strokeStyle = this.theme.halo;
      ctx.stroke();
      ctx.lineWidth = 4;
      ctx.strokeText(L.text, L.x + 15, L.y + L.h / 2);
      ctx.fillStyle = L.color;
      ctx.fillText(L.text, L.x + 15, L.y + L.h / 2);
    }

    for (const i of [this.hover, this.extHover]) {
      if (i < 0 || i >= n) continue;
      ctx.beginPath();
      ctx.arc(sx(i), sy(i), r + 8, 0, TAU);
      ctx.lineWidth = 3;
      ctx.strokeStyle = "#f59f00";
      ctx.stroke();
      ctx.beginPath();
      ctx.arc(sx(i), sy(i), r + 10, 0, TAU);
      ctx.lineWidth = 1;
      ctx.strokeStyle = this.theme.ink;
      ctx.stroke();
    }
    this.lastDrawMs = performance.now() - t0;
    if (!this.anim) this.onDrawn();
  };

  /* Spread of a category relative to the whole map: the root mean square distance of its points to their
     centroid divided by that of all points to theirs. About 1 for a category scattered over the whole map,
     small for a tight island. A label is only drawn for a category at most COMPACT spread out: at shallow
     layers, where categories are mixed, centroid labels would all pile up in the middle of the map. */
  const COMPACT = 0.5;
  const MAX_LABELS = 30; // with hundreds of compact categories, the most compact 30 (the legend names the rest)
  Scatter.COMPACT = COMPACT;
  Scatter.prototype.classSpread = function () {
    if (this.stats) return this.stats;
    const n = this.n;
    const nc = this.nClasses;
    const sx = new Float64Array(nc);
    const sy = new Float64Array(nc);
    const cnt = new Float64Array(nc);
    let ax = 0;
    let ay = 0;
    for (let i = 0; i < n; i++) {
      ax += this.x[i];
      ay += this.y[i];
      const c = this.cls[i];
      if (c < 0) continue;
      sx[c] += this.x[i];
      sy[c] += this.y[i];
      cnt[c]++;
    }
    ax /= Math.max(1, n);
    ay /= Math.max(1, n);
    const ss = new Float64Array(nc);
    let all = 0;
    for (let i = 0; i < n; i++) {
      all += (this.x[i] - ax) ** 2 + (this.y[i] - ay) ** 2;
      const k = this.cls[i];
      if (k < 0) continue;
      ss[k] += (this.x[i] - sx[k] / cnt[k]) ** 2 + (this.y[i] - sy[k] / cnt[k]) ** 2;
    }
    const whole = Math.sqrt(all / Math.max(1, n)) || 1;
    const out = [];
    for (let c = 0; c < nc; c++) {
      out.push(
        cnt[c]
          ? { c, n: cnt[c], cx: sx[c] / cnt[c], cy: sy[c] / cnt[c], spread: Math.sqrt(ss[c] / cnt[c]) / whole }
          : null
      );
    }
    if (!this.anim) this.stats = out;
    return out;
  };

  /* Label boxes {c, text, x, y, w, h, color} in CSS pixels: the most compact categories first, each centred
     above its centroid, dropped when it would overlap one already placed or leave the canvas; at most
     MAX_LABELS. With a category spotlighted (legend) only its label is drawn, whatever its spread. */
  Scatter.prototype._placeLabels = function (ctx, r) {
    const placed = [];
    if (!this.nClasses || !this.classNames.length) return placed;
    ctx.font = "600 12px system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";
    const focus = this.focusClass;
    const stats = this.classSpread()
      .filter((st) => st && (focus >= 0 ? st.c === focus : st.spread <= COMPACT))
      .sort((a, b) => a.spread - b.spread || a.c - b.c);
    if (!this.widths) this.widths = Object.create(null);
    const b = this._base();
    const S = b.size * this.s;
    const ox = b.bx * this.s + this.ox;
    const oy = b.by * this.s + this.oy;
    for (const st of stats) {
      let text = String(this.classNames[st.c] == null ? "" : this.classNames[st.c]);
      if (text.length > 22) text = `${text.slice(0, 21)}…`;
      if (!(st.c in this.widths)) this.widths[st.c] = Math.ceil(ctx.measureText(text).width) + 19;
      const w = this.widths[st.c];
      const h = 18;
      const px = ox + st.cx * S;
      const py = oy + (1 - st.cy) * S;
      const box = { c: st.c, text, x: px - w / 2, y: py - r - 8 - h, w, h, color: this.theme.ink, spread: st.spread };
      if (box.x < 0 || box.y < 0 || box.x + w > this.w || box.y + h > this.h) continue;
      let clash = false;
      for (const o of placed) {
        if (box.x < o.x + o.w && o.x < box.x + box.w && box.y < o.y + o.h && o.y < box.y + box.h) {
          clash = true;
          break;
        }
      }
      if (!clash) placed.push(box);
      if (placed.length >= MAX_LABELS) break;
    }
    return placed;
  };

  PG.Scatter = Scatter;
})();
