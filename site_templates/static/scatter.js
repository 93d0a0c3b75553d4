/* ConvNet Playground: a small canvas scatter plot for the embedding map.
 *
 * Hand-written instead of a charting library: it needs exactly pan/zoom, hover with a hit test, click,
 * highlighted points and an animated transition, and a canvas with one path per category stays smooth
 * with 10,000 points (an SVG or DOM node per point does not). A uniform grid over data space makes
 * the hover hit test O(points near the cursor).
 */
(function () {
  "use strict";
  var PG = (window.PG = window.PG || {});
  var GRID = 64;
  var TAU = Math.PI * 2;

  function ease(t) {
    return t < 0.5 ? 4 * t * t * t : 1 - Math.pow(-2 * t + 2, 3) / 2;
  }

  function Scatter(canvas, opts) {
    opts = opts || {};
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.onHover = opts.onHover || function () {};
    this.onClick = opts.onClick || function () {};
    this.onView = opts.onView || function () {};
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
    this.pointers = {};
    this.drag = null;
    this._bind();
    this.resize();
  }

  /* Colours that follow the page theme: --map-halo, --map-ink, --map-link on the canvas (CSS). */
  Scatter.prototype._theme = function () {
    var cs = window.getComputedStyle(this.canvas);
    function v(name, dflt) {
      var x = cs.getPropertyValue(name).trim();
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
    var self = this;
    var c = this.canvas;
    this._theme();
    if (window.matchMedia) {
      var mq = window.matchMedia("(prefers-color-scheme: dark)");
      var onTheme = function () {
        self._theme();
        self.request();
      };
      if (mq.addEventListener) mq.addEventListener("change", onTheme);
    }
    if (window.ResizeObserver) {
      new ResizeObserver(function () {
        self.resize();
      }).observe(c.parentNode || c);
    } else {
      window.addEventListener("resize", function () {
        self.resize();
      });
    }
    c.addEventListener("pointerdown", function (ev) {
      c.setPointerCapture(ev.pointerId);
      self.pointers[ev.pointerId] = { x: ev.offsetX, y: ev.offsetY };
      var ids = Object.keys(self.pointers);
      if (ids.length === 1) self.drag = { x: ev.offsetX, y: ev.offsetY, ox: self.ox, oy: self.oy, moved: false };
      else self.drag = null;
      if (ids.length === 2) {
        var a = self.pointers[ids[0]];
        var b = self.pointers[ids[1]];
        self.pinch = { d: Math.hypot(a.x - b.x, a.y - b.y), s: self.s };
      }
    });
    c.addEventListener("pointermove", function (ev) {
      var p = self.pointers[ev.pointerId];
      if (p) {
        p.x = ev.offsetX;
        p.y = ev.offsetY;
      }
      var ids = Object.keys(self.pointers);
      if (ids.length === 2 && self.pinch) {
        var a = self.pointers[ids[0]];
        var b = self.pointers[ids[1]];
        var d = Math.hypot(a.x - b.x, a.y - b.y);
        if (self.pinch.d > 0) self.zoomAt(((a.x + b.x) / 2), ((a.y + b.y) / 2), (self.pinch.s * d) / self.pinch.d / self.s);
        return;
      }
      if (self.drag && p) {
        var dx = ev.offsetX - self.drag.x;
        var dy = ev.offsetY - self.drag.y;
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
      var wasClick = self.drag && !self.drag.moved && Object.keys(self.pointers).length === 1;
      delete self.pointers[ev.pointerId];
      if (Object.keys(self.pointers).length < 2) self.pinch = null;
      if (wasClick && ev.type === "pointerup") {
        var i = self.pick(ev.offsetX, ev.offsetY);
        if (i >= 0) self.onClick(i);
      }
      self.drag = null;
    }
    c.addEventListener("pointerup", up);
    c.addEventListener("pointercancel", up);
    c.addEventListener("pointerleave", function (ev) {
      if (ev.pointerType === "mouse") self._setHover(-1, ev);
    });
    c.addEventListener(
      "wheel",
      function (ev) {
        ev.preventDefault();
        var f = Math.exp(-ev.deltaY * (ev.deltaMode === 1 ? 0.05 : 0.0015));
        self.zoomAt(ev.offsetX, ev.offsetY, f);
      },
      { passive: false }
    );
    c.addEventListener("dblclick", function (ev) {
      self.zoomAt(ev.offsetX, ev.offsetY, 2);
    });
    c.addEventListener("keydown", function (ev) {
      var step = 40;
      var k = ev.key;
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
    var pad = 18;
    var size = Math.max(10, Math.min(this.w, this.h) - 2 * pad);
    return { size: size, bx: (this.w - size) / 2, by: (this.h - size) / 2 };
  };
  Scatter.prototype.screenPos = function (i) {
    var b = this._base();
    return {
      x: (b.bx + this.x[i] * b.size) * this.s + this.ox,
      y: (b.by + (1 - this.y[i]) * b.size) * this.s + this.oy,
    };
  };
  Scatter.prototype.toData = function (px, py) {
    var b = this._base();
    return {
      x: ((px - this.ox) / this.s - b.bx) / b.size,
      y: 1 - ((py - this.oy) / this.s - b.by) / b.size,
      scale: b.size * this.s,
    };
  };

  Scatter.prototype.resize = function () {
    var r = this.canvas.getBoundingClientRect();
    var dpr = Math.min(window.devicePixelRatio || 1, 2);
    var w = Math.max(1, Math.round(r.width));
    var h = Math.max(1, Math.round(r.height));
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
    var s2 = Math.max(0.5, Math.min(40, this.s * f));
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
    var n = xy.length;
    var nx = new Float32Array(n);
    var ny = new Float32Array(n);
    for (var i = 0; i < n; i++) {
      var p = xy[i] || [0.5, 0.5];
      nx[i] = +p[0];
      ny[i] = +p[1];
    }
    var same = n === this.n && n > 0;
    this.cls = cls || [];
    this.classNames = names || [];
    var nc = 0;
    for (i = 0; i < n; i++) nc = Math.max(nc, (this.cls[i] == null ? -1 : this.cls[i]) + 1);
    this.nClasses = nc;
    this.byClass = [];
    for (var c = 0; c <= nc; c++) this.byClass.push([]);
    for (i = 0; i < n; i++) {
      var ci = this.cls[i];
      this.byClass[ci == null || ci < 0 ? nc : ci].push(i);
    }
    if (same && animate && !PG.reducedMotion()) {
      this.anim = { fx: Float32Array.from(this.x), fy: Float32Array.from(this.y), tx: nx, ty: ny, t0: performance.now(), ms: 700 };
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
    var self = this;
    var a = this.anim;
    if (!a) return;
    var t = Math.min(1, (performance.now() - a.t0) / a.ms);
    var e = ease(t);
    var n = a.tx.length;
    if (this.x.length !== n) {
      this.x = new Float32Array(n);
      this.y = new Float32Array(n);
    }
    for (var i = 0; i < n; i++) {
      this.x[i] = a.fx[i] + (a.tx[i] - a.fx[i]) * e;
      this.y[i] = a.fy[i] + (a.ty[i] - a.fy[i]) * e;
    }
    this.n = n;
    this.draw();
    if (t < 1) requestAnimationFrame(function () {
      self._tick();
    });
    else this.anim = null;
  };

  Scatter.prototype._index = function (x, y) {
    var cells = new Array(GRID * GRID);
    for (var i = 0; i < x.length; i++) {
      var gx = Math.max(0, Math.min(GRID - 1, Math.floor(x[i] * GRID)));
      var gy = Math.max(0, Math.min(GRID - 1, Math.floor(y[i] * GRID)));
      var k = gy * GRID + gx;
      (cells[k] || (cells[k] = [])).push(i);
    }
    this.cells = cells;
  };

  /* The point under (px, py) CSS pixels, or -1. */
  Scatter.prototype.pick = function (px, py) {
    if (!this.cells || !this.n) return -1;
    var d = this.toData(px, py);
    var rpx = this.radius() + 5;
    var rd = rpx / d.scale;
    var g0x = Math.max(0, Math.floor((d.x - rd) * GRID));
    var g1x = Math.min(GRID - 1, Math.floor((d.x + rd) * GRID));
    var g0y = Math.max(0, Math.floor((d.y - rd) * GRID));
    var g1y = Math.min(GRID - 1, Math.floor((d.y + rd) * GRID));
    var best = -1;
    var bd = rd * rd;
    for (var gy = g0y; gy <= g1y; gy++) {
      for (var gx = g0x; gx <= g1x; gx++) {
        var cell = this.cells[gy * GRID + gx];
        if (!cell) continue;
        for (var j = 0; j < cell.length; j++) {
          var i = cell[j];
          var dx = this.x[i] - d.x;
          var dy = this.y[i] - d.y;
          var dd = dx * dx + dy * dy;
          if (dd <= bd) {
            bd = dd;
            best = i;
          }
        }
      }
    }
    // prefer the query / results when several overlap: they are drawn on top
    return best;
  };

  Scatter.prototype.setSelection = function (query, results) {
    this.query = query == null ? -1 : query;
    this.results = results || [];
    this.resultSet = Object.create(null);
    for (var i = 0; i < this.results.length; i++) this.resultSet[this.results[i]] = i + 1;
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
    var n = this.n;
    var r = n <= 400 ? 4.5 : n <= 2000 ? 3.2 : n <= 6000 ? 2.4 : 1.9;
    return r * Math.min(2.2, Math.sqrt(this.s));
  };

  Scatter.prototype.request = function () {
    var self = this;
    if (this.frame || this.anim) return;
    this.frame = requestAnimationFrame(function () {
      self.frame = 0;
      self.draw();
    });
  };

  Scatter.prototype.draw = function () {
    var t0 = performance.now();
    var ctx = this.ctx;
    var dpr = this.dpr;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    var n = this.n;
    if (!n) return;
    var b = this._base();
    var S = b.size * this.s;
    var X0 = b.bx * this.s + this.ox;
    var Y0 = b.by * this.s + this.oy;
    var x = this.x;
    var y = this.y;
    var r = this.radius();
    var hasSel = this.query >= 0;
    var w = this.w;
    var h = this.h;
    var self = this;
    function sx(i) {
      return X0 + x[i] * S;
    }
    function sy(i) {
      return Y0 + (1 - y[i]) * S;
    }

    // all points, one path per category
    for (var c = 0; c < this.byClass.length; c++) {
      var list = this.byClass[c];
      if (!list.length) continue;
      var focus = this.focusClass < 0 || this.focusClass === c;
      ctx.globalAlpha = focus ? (hasSel ? 0.55 : 0.8) : 0.08;
      ctx.fillStyle = c < this.nClasses ? PG.classColor(c) : "#868e96";
      ctx.beginPath();
      for (var j = 0; j < list.length; j++) {
        var i = list[j];
        var px = sx(i);
        var py = sy(i);
        if (px < -r || py < -r || px > w + r || py > h + r) continue;
        ctx.moveTo(px + r, py);
        ctx.arc(px, py, r, 0, TAU);
      }
      ctx.fill();
    }
    ctx.globalAlpha = 1;

    if (hasSel && this.query < n) {
      var qx = sx(this.query);
      var qy = sy(this.query);
      // links from the query to its results
      ctx.strokeStyle = this.theme.link;
      ctx.lineWidth = 1;
      ctx.beginPath();
      this.results.forEach(function (i) {
        if (i >= n) return;
        ctx.moveTo(qx, qy);
        ctx.lineTo(sx(i), sy(i));
      });
      ctx.stroke();
      // results
      this.results.forEach(function (i) {
        if (i >= n) return;
        ctx.beginPath();
        ctx.arc(sx(i), sy(i), r + 1.5, 0, TAU);
        ctx.fillStyle = PG.classColor(self.cls[i]);
        ctx.fill();
        ctx.lineWidth = 2;
        ctx.strokeStyle = self.theme.ink;
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

    // category labels at their centroids
    if (this.nClasses > 0 && this.nClasses <= 24 && this.classNames.length) {
      ctx.font = "600 12px system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";
      ctx.textAlign = "center";
      ctx.textBaseline = "middle";
      ctx.lineJoin = "round";
      for (c = 0; c < this.nClasses; c++) {
        var l = this.byClass[c];
        if (!l.length || (this.focusClass >= 0 && this.focusClass !== c)) continue;
        var mx = 0;
        var my = 0;
        for (j = 0; j < l.length; j++) {
          mx += sx(l[j]);
          my += sy(l[j]);
        }
        mx /= l.length;
        my /= l.length;
        var label = String(this.classNames[c] == null ? "" : this.classNames[c]);
        if (label.length > 22) label = label.slice(0, 21) + "…";
        ctx.lineWidth = 3.5;
        ctx.strokeStyle = this.theme.halo;
        ctx.strokeText(label, mx, my - r - 8);
        ctx.fillStyle = PG.classColor(c);
        ctx.globalAlpha = hasSel ? 0.75 : 1;
        ctx.fillText(label, mx, my - r - 8);
        ctx.globalAlpha = 1;
      }
    }

    [this.hover, this.extHover].forEach(function (i) {
      if (i < 0 || i >= n) return;
      ctx.beginPath();
      ctx.arc(sx(i), sy(i), r + 8, 0, TAU);
      ctx.lineWidth = 3;
      ctx.strokeStyle = "#f59f00";
      ctx.stroke();
      ctx.beginPath();
      ctx.arc(sx(i), sy(i), r + 10, 0, TAU);
      ctx.lineWidth = 1;
      ctx.strokeStyle = self.theme.ink;
      ctx.stroke();
    });
    this.lastDrawMs = performance.now() - t0;
  };

  PG.Scatter = Scatter;
})();
