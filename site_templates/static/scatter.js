/* ConvNet Playground: a small canvas scatter plot for the embedding map.
 *
 * Hand-written instead of a charting library: it needs exactly pan/zoom, hover with a hit test, click,
 * highlighted points and an animated transition, and a canvas with one path per category stays smooth
 * with 10,000 points (an SVG or DOM node per point does not). A uniform grid over data space makes
 * the hover hit test O(points near the cursor).
 */
(() => {
  window.PG = window.PG || {};
  const PG = window.PG;
  const GRID = 64;
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
    this.n = 0;
    this.x = new Float32Array(0); // drawn positions (data space, 0..1)
    this.y = new Float32Array(0);
    this.tx = null; // transition targets
    this.ty = null;
    this.cls = [];
    this.byClass = [];
    this.nClasses = 0;
    this.classNames = [];
    this.query = -1;
    this.results = [];
    this.resultSet = Object.create(null);
    this.hover = -1;
    this.extHover = -1;
    this.focusClass = -1;
    this.s = 1;
    this.ox = 0;
    this.oy = 0;
    this.anim = null;
    this.cells = null;
    this.w = 0;
    this.h = 0;
    this.dpr = 1;
    this.frame = 0;
    this.lastDrawMs = 0;
    this.labels = [];
    this.lastExamined = 0;
    this.pointers = {};
    this.drag = null;
    this._bind();
    this.resize();
  }

  /* Colours that follow the page theme: --map-halo, --map-ink, --map-link on the canvas (CSS). */
  Scatter.prototype._theme = function () {
    const cs = window.getComputedStyle(this.canvas);
    function v(name, dflt) {
      const x = cs.getPropertyValue(name).trim();
      return x || dflt;
    }
    this.theme = {
      halo: v("--map-halo", "rgba(255,255,255,0.85)"),
      ink: v("--map-ink", "#212529"),
      link: v("--map-link", "rgba(33,37,41,0.35)"),
      ring: v("--map-ring", "#ffffff"),
    };
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
    c.addEventListener("keydown", (ev) => {
      const step = 40;
      const k = ev.key;
      if (k === "+" || k === "=") self.zoomBy(1.5);
      else if (k === "-" || k === "_") self.zoomBy(1 / 1.5);
      else if (k === "0") self.reset();
      else if (k === "ArrowLeft") self.pan(step, 0);
      else if (k === "ArrowRight") self.pan(-step, 0);
      else if (k === "ArrowUp") self.pan(0, step);
      else if (k === "ArrowDown") self.pan(0, -step);
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
    const b = this._base();
    return {
      x: (b.bx + this.x[i] * b.size) * this.s + this.ox,
      y: (b.by + (1 - this.y[i]) * b.size) * this.s + this.oy,
    };
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
    const s2 = Math.max(0.5, Math.min(40, this.s * f));
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
  /* xy: [[x, y], ...] in 0..1; cls: category index per point (or null); names: category names. */
  Scatter.prototype.setData = function (xy, cls, names, animate) {
    const n = xy.length;
    const nx = new Float32Array(n);
    const ny = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const p = xy[i] || [0.5, 0.5];
      nx[i] = +p[0];
      ny[i] = +p[1];
    }
    const same = n === this.n && n > 0;
    this.cls = cls || [];
    this.classNames = names || [];
    let nc = 0;
    for (let i = 0; i < n; i++) nc = Math.max(nc, (this.cls[i] == null ? -1 : this.cls[i]) + 1);
    this.nClasses = nc;
    this.byClass = [];
    for (let c = 0; c <= nc; c++) this.byClass.push([]);
    for (let i = 0; i < n; i++) {
      const ci = this.cls[i];
      this.byClass[ci == null || ci < 0 ? nc : ci].push(i);
    }
    if (same && animate && !PG.reducedMotion()) {
      this.anim = {
        fx: Float32Array.from(this.x),
        fy: Float32Array.from(this.y),
        tx: nx,
        ty: ny,
        t0: performance.now(),
        ms: 700,
      };
      this._setHover(-1);
      this._tick();
    } else {
      this.anim = null;
      this.x = nx;
      this.y = ny;
      this.n = n;
      this.hover = -1;
    }
    this._index(nx, ny);
    this.request();
  };

  Scatter.prototype._tick = function () {
    const a = this.anim;
    if (!a) return;
    const t = Math.min(1, (performance.now() - a.t0) / a.ms);
    const e = ease(t);
    const n = a.tx.length;
    if (this.x.length !== n) {
      this.x = new Float32Array(n);
      this.y = new Float32Array(n);
    }
    for (let i = 0; i < n; i++) {
      this.x[i] = a.fx[i] + (a.tx[i] - a.fx[i]) * e;
      this.y[i] = a.fy[i] + (a.ty[i] - a.fy[i]) * e;
    }
    this.n = n;
    this.draw();
    if (t < 1)
      requestAnimationFrame(() => {
        this._tick();
      });
    else this.anim = null;
  };

  Scatter.prototype._index = function (x, y) {
    const cells = new Array(GRID * GRID);
    for (let i = 0; i < x.length; i++) {
      const gx = Math.max(0, Math.min(GRID - 1, Math.floor(x[i] * GRID)));
      const gy = Math.max(0, Math.min(GRID - 1, Math.floor(y[i] * GRID)));
      const k = gy * GRID + gx;
      if (!cells[k]) cells[k] = [];
      cells[k].push(i);
    }
    this.cells = cells;
  };

  /* The point under (px, py) CSS pixels, or -1. */
  Scatter.prototype.pick = function (px, py) {
    if (!this.cells || !this.n) return -1;
    const d = this.toData(px, py);
    const rpx = this.radius() + 5;
    const rd = rpx / d.scale;
    const g0x = Math.max(0, Math.floor((d.x - rd) * GRID));
    const g1x = Math.min(GRID - 1, Math.floor((d.x + rd) * GRID));
    const g0y = Math.max(0, Math.floor((d.y - rd) * GRID));
    const g1y = Math.min(GRID - 1, Math.floor((d.y + rd) * GRID));
    let best = -1;
    let bd = rd * rd;
    let examined = 0;
    for (let gy = g0y; gy <= g1y; gy++) {
      for (let gx = g0x; gx <= g1x; gx++) {
        const cell = this.cells[gy * GRID + gx];
        if (!cell) continue;
        examined += cell.length;
        for (let j = 0; j < cell.length; j++) {
          const i = cell[j];
          const dx = this.x[i] - d.x;
          const dy = this.y[i] - d.y;
          const dd = dx * dx + dy * dy;
          if (dd <= bd) {
            bd = dd;
            best = i;
          }
        }
      }
    }
    this.lastExamined = examined; // points looked at: O(points near the cursor), not O(n)
    return best;
  };

  Scatter.prototype.setSelection = function (query, results) {
    this.query = query == null ? -1 : query;
    this.results = results || [];
    this.resultSet = Object.create(null);
    for (let i = 0; i < this.results.length; i++) this.resultSet[this.results[i]] = i + 1;
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
    const r = n <= 400 ? 4.5 : n <= 2000 ? 3.2 : n <= 6000 ? 2.4 : 1.9;
    return r * Math.min(2.2, Math.sqrt(this.s));
  };

  Scatter.prototype.request = function () {
    if (this.frame || this.anim) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.draw();
    });
  };

  Scatter.prototype.draw = function () {
    const t0 = performance.now();
    const ctx = this.ctx;
    const dpr = this.dpr;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    const n = this.n;
    if (!n) {
      this.labels = [];
      return;
    }
    const b = this._base();
    const S = b.size * this.s;
    const X0 = b.bx * this.s + this.ox;
    const Y0 = b.by * this.s + this.oy;
    const x = this.x;
    const y = this.y;
    const r = this.radius();
    const hasSel = this.query >= 0;
    const w = this.w;
    const h = this.h;
    function sx(i) {
      return X0 + x[i] * S;
    }
    function sy(i) {
      return Y0 + (1 - y[i]) * S;
    }

    // all points, one path per category
    for (let c = 0; c < this.byClass.length; c++) {
      const list = this.byClass[c];
      if (!list.length) continue;
      const focus = this.focusClass < 0 || this.focusClass === c;
      ctx.globalAlpha = focus ? (hasSel ? 0.55 : 0.8) : 0.08;
      ctx.fillStyle = c < this.nClasses ? PG.classColor(c) : "#868e96";
      ctx.beginPath();
      for (let j = 0; j < list.length; j++) {
        const i = list[j];
        const px = sx(i);
        const py = sy(i);
        if (px < -r || py < -r || px > w + r || py > h + r) continue;
        ctx.moveTo(px + r, py);
        ctx.arc(px, py, r, 0, TAU);
      }
      ctx.fill();
    }
    ctx.globalAlpha = 1;

    if (hasSel && this.query < n) {
      const qx = sx(this.query);
      const qy = sy(this.query);
      // links from the query to its results
      ctx.strokeStyle = this.theme.link;
      ctx.lineWidth = 1;
      ctx.beginPath();
      this.results.forEach((i) => {
        if (i >= n) return;
        ctx.moveTo(qx, qy);
        ctx.lineTo(sx(i), sy(i));
      });
      ctx.stroke();
      // results
      this.results.forEach((i) => {
        if (i >= n) return;
        ctx.beginPath();
        ctx.arc(sx(i), sy(i), r + 1.5, 0, TAU);
        ctx.fillStyle = PG.classColor(this.cls[i]);
        ctx.fill();
        ctx.lineWidth = 2;
        ctx.strokeStyle = this.theme.ink;
        ctx.stroke();
      });
      // the query on top
      ctx.beginPath();
      ctx.arc(qx, qy, r + 5, 0, TAU);
      ctx.fillStyle = PG.classColor(this.cls[this.query]);
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

    // category labels: compact categories only, placed greedily so that no two overlap
    this.labels = this._placeLabels(ctx, r);
    ctx.textAlign = "left";
    ctx.textBaseline = "middle";
    ctx.lineJoin = "round";
    for (let li = 0; li < this.labels.length; li++) {
      const L = this.labels[li];
      ctx.beginPath();
      ctx.arc(L.x + 7, L.y + L.h / 2, 4.5, 0, TAU);
      ctx.fillStyle = PG.classColor(L.c);
      ctx.fill();
      ctx.lineWidth = 1.5;
      ctx.strokeStyle = this.theme.halo;
      ctx.stroke();
      ctx.lineWidth = 4;
      ctx.strokeText(L.text, L.x + 15, L.y + L.h / 2);
      ctx.fillStyle = L.color;
      ctx.fillText(L.text, L.x + 15, L.y + L.h / 2);
    }

    [this.hover, this.extHover].forEach((i) => {
      if (i < 0 || i >= n) return;
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
    });
    this.lastDrawMs = performance.now() - t0;
  };

  /* Spread of a category relative to the whole map: the root mean square distance of its points to their
     centroid divided by that of all points to theirs. About 1 for a category scattered over the whole map,
     small for a tight island. A label is only drawn for a category at most COMPACT spread out: at shallow
     layers, where categories are mixed, centroid labels would all pile up in the middle of the map. */
  const COMPACT = 0.5;
  Scatter.COMPACT = COMPACT;
  Scatter.prototype.classSpread = function () {
    const n = this.n;
    const nc = this.nClasses;
    const sx = new Float64Array(nc);
    const sy = new Float64Array(nc);
    const cnt = new Float64Array(nc);
    let ax = 0;
    let ay = 0;
    let i;
    for (i = 0; i < n; i++) {
      ax += this.x[i];
      ay += this.y[i];
      const c = this.cls[i];
      if (c === null || c === undefined || c < 0) continue;
      sx[c] += this.x[i];
      sy[c] += this.y[i];
      cnt[c]++;
    }
    ax /= Math.max(1, n);
    ay /= Math.max(1, n);
    const ss = new Float64Array(nc);
    let all = 0;
    for (i = 0; i < n; i++) {
      all += (this.x[i] - ax) ** 2 + (this.y[i] - ay) ** 2;
      const k = this.cls[i];
      if (k === null || k === undefined || k < 0) continue;
      ss[k] += (this.x[i] - sx[k] / cnt[k]) ** 2 + (this.y[i] - sy[k] / cnt[k]) ** 2;
    }
    const whole = Math.sqrt(all / Math.max(1, n)) || 1;
    const out = [];
    for (let c2 = 0; c2 < nc; c2++) {
      out.push(
        cnt[c2]
          ? {
              c: c2,
              n: cnt[c2],
              cx: sx[c2] / cnt[c2],
              cy: sy[c2] / cnt[c2],
              spread: Math.sqrt(ss[c2] / cnt[c2]) / whole,
            }
          : null
      );
    }
    return out;
  };

  /* Label boxes {c, text, x, y, w, h, color} in CSS pixels: the most compact categories first, each centred
     above its centroid, dropped when it would overlap one already placed or leave the canvas. With a
     category spotlighted (legend) only its label is drawn, whatever its spread. */
  Scatter.prototype._placeLabels = function (ctx, r) {
    const placed = [];
    if (!this.nClasses || !this.classNames.length) return placed;
    ctx.font = "600 12px system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";
    let stats = this.classSpread().filter((st) => st);
    const focus = this.focusClass;
    stats = stats.filter((st) => (focus >= 0 ? st.c === focus : st.spread <= COMPACT));
    stats.sort((a, b) => a.spread - b.spread || a.c - b.c);
    const b = this._base();
    const S = b.size * this.s;
    const ox = b.bx * this.s + this.ox;
    const oy = b.by * this.s + this.oy;
    for (let i = 0; i < stats.length; i++) {
      const st = stats[i];
      let text = String(this.classNames[st.c] == null ? "" : this.classNames[st.c]);
      if (text.length > 22) text = `${text.slice(0, 21)}…`;
      const w = Math.ceil(ctx.measureText(text).width) + 19;
      const h = 18;
      const px = ox + st.cx * S;
      const py = oy + (1 - st.cy) * S;
      const box = {
        c: st.c,
        text: text,
        x: px - w / 2,
        y: py - r - 8 - h,
        w: w,
        h: h,
        color: this.theme.ink,
        spread: st.spread,
      };
      if (box.x < 0 || box.y < 0 || box.x + w > this.w || box.y + h > this.h) continue;
      const clash = placed.some(
        (o) => box.x < o.x + o.w && o.x < box.x + box.w && box.y < o.y + o.h && o.y < box.y + box.h
      );
      if (!clash) placed.push(box);
    }
    return placed;
  };

  PG.Scatter = Scatter;
})();
