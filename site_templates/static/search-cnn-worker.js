/* ConvNet Playground, Semantic Search: the Web Worker that runs a CNN on the visitor's own image.
 *
 * PG.cnnWorker is the worker's whole program; search-cnn.js starts it from a blob URL of its source (a page
 * opened from file:// may not start a worker from a file). It never touches the page: it gets the runtime and
 * the models as bytes, and images as Blobs, and answers with plain arrays.
 *
 * An image takes the precompute's path (precompute/images.py), bit for bit where the browser allows:
 * - decoded by the browser (createImageBitmap) with no colour conversion and no premultiplied alpha, upright
 *   as its EXIF orientation says (Pillow's ImageOps.exif_transpose), drawn 1:1 on a canvas (no resampling);
 * - alpha composited over white with Pillow's integer formula (Image.alpha_composite);
 * - resized with precompute/resize.py's bilinear resize, repeated here operation for operation: Pillow's
 *   8-bit convolution, horizontal pass first (a canvas' own resampling is not Pillow's: measured, it changes the
 *   top-15 of most queries);
 * - run by ONNX Runtime Web (wasm, one thread) on the build's own extractor exported to ONNX
 *   (precompute/browsersearch.py): uint8 RGB in, one vector per layer x pooling out.
 *
 * Messages in: {id, type: "init", ort, glue (script texts), wasm (ArrayBuffer)}; {id, type: "model", name,
 * bytes}; {id, type: "embed", model, image (Blob), size}; {id, type: "pixels", image, size} (tests: the pixels
 * the network gets). Out: {id, ok: true, ...} or {id, ok: false, error}.
 */
(() => {
  window.PG = window.PG || {};

  window.PG.cnnWorker = () => {
    const PRECISION_BITS = 22; // precompute/resize.py
    const MAX_PIXELS = 50000000; // precompute/images.py: refused as a possible decompression bomb
    const sessions = Object.create(null);
    let ort = null;

    /* precompute/resize.py `_coefficients`, the same float64 operations in the same order. */
    function coefficients(inSize, outSize) {
      const scale = inSize / outSize;
      const filterscale = Math.max(scale, 1.0);
      const support = 1.0 * filterscale;
      const ksize = Math.ceil(filterscale) * 2 + 1;
      const first = new Int32Array(outSize);
      const length = new Int32Array(outSize);
      const weights = new Float64Array(outSize * ksize);
      const row = new Float64Array(ksize);
      const ss = 1.0 / filterscale;
      const one = 2 ** PRECISION_BITS;
      for (let xx = 0; xx < outSize; xx++) {
        const center = 0.0 + (xx + 0.5) * scale;
        const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
        const xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
        let ww = 0.0;
        for (let x = 0; x < xmax; x++) {
          const t = Math.abs((x + xmin - center + 0.5) * ss);
          const w = t < 1.0 ? 1.0 - t : 0.0;
          row[x] = w;
          ww += w;
        }
        for (let x = 0; x < xmax; x++) {
          const k = ww !== 0.0 ? row[x] / ww : row[x];
          weights[xx * ksize + x] = k < 0 ? Math.trunc(-0.5 + k * one) : Math.trunc(0.5 + k * one);
        }
        first[xx] = xmin;
        length[xx] = xmax;
      }
      return { first, length, weights, ksize };
    }

    /* One pass over `src` (h x w x 3 uint8): along x (horizontal) or along y (vertical). Integer sums below
       2^31, so every step is exact in float64 and equal to the int64 arithmetic of the numba kernel. */
    function pass(src, w, h, outW, outH, horizontal) {
      const c = coefficients(horizontal ? w : h, horizontal ? outW : outH);
      const out = new Uint8Array(outW * outH * 3);
      const half = 2 ** (PRECISION_BITS - 1);
      const top = 255 * 2 ** PRECISION_BITS;
      const div = 2 ** PRECISION_BITS;
      for (let y = 0; y < outH; y++) {
        for (let x = 0; x < outW; x++) {
          const o = horizontal ? x : y;
          const x0 = c.first[o];
          const n = c.length[o];
          const kb = o * c.ksize;
          for (let ch = 0; ch < 3; ch++) {
            let s = half;
            for (let i = 0; i < n; i++) {
              const at = horizontal ? (y * w + x0 + i) * 3 + ch : ((x0 + i) * w + x) * 3 + ch;
              s += src[at] * c.weights[kb + i];
            }
            out[(y * outW + x) * 3 + ch] = s <= 0 ? 0 : s >= top ? 255 : Math.floor(s / div);
          }
        }
      }
      return out;
    }

    function resize(rgb, w, h, size) {
      let out = rgb;
      if (w !== size) out = pass(out, w, h, size, h, true);
      if (h !== size) out = pass(out, size, h, size, size, false);
      return out === rgb ? rgb.slice() : out;
    }

    /* RGBA (not premultiplied) -> RGB, alpha over white as Pillow's alpha_composite computes it. */
    function overWhite(rgba, n) {
      const rgb = new Uint8Array(n * 3);
      for (let i = 0; i < n; i++) {
        const a = rgba[i * 4 + 3];
        for (let ch = 0; ch < 3; ch++) {
          const v = rgba[i * 4 + ch];
          if (a === 255) rgb[i * 3 + ch] = v;
          else if (a === 0) rgb[i * 3 + ch] = 255;
          else {
            const coef1 = a * 128; // a * 255 * 255 * 2^7 / (255 * 255): exact
            const coef2 = 255 * 128 - coef1;
            const t = v * coef1 + 255 * coef2 + (0x80 << 7);
            rgb[i * 3 + ch] = (((t >> 8) + t) >> 8) >> 7;
          }
        }
      }
      return rgb;
    }

    async function pixels(image, size) {
      let bmp;
      try {
        bmp = await createImageBitmap(image, {
          colorSpaceConversion: "none",
          premultiplyAlpha: "none",
          imageOrientation: "from-image",
        });
      } catch (_e) {
        throw new Error("this browser cannot decode that file as an image");
      }
      const w = bmp.width;
      const h = bmp.height;
      if (w * h > MAX_PIXELS)
        throw new Error(`the image is ${w} x ${h} px, more than the ${MAX_PIXELS / 1e6} Mpx allowed`);
      const canvas = new OffscreenCanvas(w, h);
      const ctx = canvas.getContext("2d", { willReadFrequently: true });
      ctx.drawImage(bmp, 0, 0);
      bmp.close();
      const rgba = ctx.getImageData(0, 0, w, h).data;
      return { rgb: resize(overWhite(rgba, w * h), w, h, size), width: w, height: h };
    }

    function blobUrl(text, type) {
      return URL.createObjectURL(new Blob([text], { type }));
    }

    const handlers = {
      async init(m) {
        importScripts(blobUrl(m.ort, "text/javascript"));
        ort = self.ort;
        ort.env.wasm.numThreads = 1;
        ort.env.wasm.proxy = false;
        ort.env.wasm.wasmBinary = new Uint8Array(m.wasm);
        ort.env.wasm.wasmPaths = { mjs: blobUrl(m.glue, "text/javascript") };
        return {};
      },
      async model(m) {
        sessions[m.name] = await ort.InferenceSession.create(new Uint8Array(m.bytes), {
          executionProviders: ["wasm"],
          graphOptimizationLevel: "all",
        });
        return { outputs: sessions[m.name].outputNames.length };
      },
      async embed(m) {
        const t0 = performance.now();
        const px = await pixels(m.image, m.size);
        const t1 = performance.now();
        const s = sessions[m.model];
        const feeds = { [s.inputNames[0]]: new ort.Tensor("uint8", px.rgb, [1, m.size, m.size, 3]) };
        const got = await s.run(feeds);
        const vectors = s.outputNames.map((name) => got[name].data);
        return { vectors, decode_ms: t1 - t0, run_ms: performance.now() - t1, width: px.width, height: px.height };
      },
      async pixels(m) {
        const px = await pixels(m.image, m.size);
        return { rgb: px.rgb, width: px.width, height: px.height };
      },
    };

    self.onmessage = (ev) => {
      const m = ev.data;
      handlers[m.type](m).then(
        (r) => self.postMessage({ id: m.id, ok: true, ...r }),
        (e) => self.postMessage({ id: m.id, ok: false, error: String(e?.message || e) })
      );
    };
  };
})();
