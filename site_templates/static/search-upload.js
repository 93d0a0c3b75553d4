/* ConvNet Playground, Semantic Search: search with your own image.
 *
 * Drop an image on the page, paste one, or choose a file; it is shown (an object URL: nothing is stored) and
 * turned into vectors either by `playground serve` (data/serve.js says live = true: POST api/query, multipart:
 * image + dataset, model, layer, pooling, metric, k; api/compare for the Compare tab) or, on a static copy
 * (file:// or any static host) whose build shipped it, in the browser itself (search-cnn.js: the image never
 * leaves the computer). Its neighbours are drawn exactly like a dataset image's, with its place on the map and,
 * on the Compare tab, every model and layer. Without either, the panel is one line saying why: no button, no
 * request.
 */
(() => {
  const PG = window.PG;
  const D = PG.data;
  const P = PG.search;
  const $ = PG.$;
  const el = PG.el;
  let current = null; // the upload being shown: {file, name, url, category, rows, compares}
  let before = null; // the upload shown before `current`, kept until the server has answered for `current`
  let keepError = false; // the previous upload came back after a refusal: its next view keeps the error line
  let listingFor = "";

  function status(msg, isError) {
    const s = $("upload-status");
    s.textContent = msg;
    s.classList.toggle("is-error", !!isError);
    s.hidden = !msg;
  }

  function fmtBytes(n) {
    return n >= 2 ** 20 ? `${(n / 2 ** 20).toFixed(n >= 10 * 2 ** 20 ? 0 : 1)} MB` : `${Math.round(n / 1024)} KB`;
  }

  function forget() {
    if (current?.url) URL.revokeObjectURL(current.url);
    current = null;
    const pv = $("upload-preview");
    pv.removeAttribute("src");
    pv.hidden = true;
    $("upload-clear").hidden = true;
    $("upload-category-box").hidden = true;
  }

  function take(file) {
    if (!file) return;
    const info = D.serve();
    const ds = P.state().ds;
    if (!/^image\//.test(file.type || "")) {
      status(`“${file.name || "that file"}” is not an image (${file.type || "unknown type"}).`, true);
      return;
    }
    if (info.maxUpload && file.size > info.maxUpload) {
      const who = info.mode === "server" ? "the server takes" : "this page searches with images of";
      status(`That image is ${fmtBytes(file.size)}; ${who} up to ${fmtBytes(info.maxUpload)}.`, true);
      return;
    }
    if (!info.datasets.includes(ds)) {
      status(
        `Your own image can be searched in ${info.datasets.join(", ") || "no dataset"} (not in ${D.dataset(ds).name}).`,
        true
      );
      return;
    }
    if (current?.shown) {
      if (before?.url) URL.revokeObjectURL(before.url);
      before = current; // kept: if the server refuses the new image, this one comes back
    } else forget();
    const name = file.name || "pasted image";
    current = { file, name, url: URL.createObjectURL(file), category: null, rows: null, compares: null };
    const pv = $("upload-preview");
    pv.src = current.url;
    pv.alt = `Your image: ${name}`;
    pv.hidden = false;
    const first = info.mode === "browser" && !PG.browserCnn.stats().loads.length;
    const how = first ? " (the first image loads the network into this page: a few seconds)" : "";
    status(`Searching ${D.dataset(ds).name} for images like ${name}…${how}`, false);
    P.setUpload(current, { reveal: true });
  }

  function fillCategories(lst) {
    const sel = $("upload-category");
    if (listingFor === lst.slug) return;
    listingFor = lst.slug;
    PG.clear(sel).appendChild(
      el("option", { value: "", text: "not set: guessed from the results (nearest count most)" })
    );
    lst.classes.forEach((c, i) => {
      sel.appendChild(el("option", { value: String(i), text: String(c) }));
    });
  }

  function setupLive(mode) {
    $("upload-live").hidden = false;
    if (mode === "browser")
      $("upload-where").textContent =
        "it stays in your browser: the network runs on this page, and nothing is sent anywhere.";
    const drop = $("upload-drop");
    const input = $("upload-file");
    input.addEventListener("change", () => {
      take(input.files?.[0]);
      input.value = "";
    });
    // a dropped image anywhere on the page is taken (the browser would otherwise open it instead of the site)
    const hasFiles = (ev) => [...(ev.dataTransfer?.types || [])].includes("Files");
    document.addEventListener("dragover", (ev) => {
      if (!hasFiles(ev)) return;
      ev.preventDefault();
      drop.classList.add("is-over");
    });
    document.addEventListener("dragleave", (ev) => {
      if (!ev.relatedTarget) drop.classList.remove("is-over");
    });
    document.addEventListener("drop", (ev) => {
      if (!hasFiles(ev)) return;
      ev.preventDefault();
      drop.classList.remove("is-over");
      take(ev.dataTransfer.files[0]);
    });
    document.addEventListener("paste", (ev) => {
      if (ev.target.closest?.("input, textarea, [contenteditable]")) return;
      const file = [...(ev.clipboardData?.files || [])].find((f) => /^image\//.test(f.type));
      if (!file) return;
      ev.preventDefault();
      take(file);
    });
    $("upload-clear").addEventListener("click", () => {
      forget();
      status("", false);
      P.setUpload(null);
    });
    $("upload-category").addEventListener("change", (ev) => {
      if (!current) return;
      const v = ev.target.value;
      current.category = v === "" ? null : Number.parseInt(v, 10);
      P.setUpload(current);
    });
    P.panel({
      view(ctx) {
        if (!ctx.upload) {
          if (current) forget(); // a search from a dataset image (a click on a result, the map, the grid)
          return;
        }
        const { listing: lst, row, view } = ctx;
        ctx.upload.shown = true;
        if (before && before !== ctx.upload) {
          if (before.url) URL.revokeObjectURL(before.url);
          before = null;
        }
        const m = D.model(view.model);
        const layer = m.layers[D.layerIndex(m, view.layer)];
        if (keepError) keepError = false;
        else
          status(
            `The ${row.ids.length} images of ${lst.name} most similar to ${ctx.upload.name}, ${m.display} · ${layer.name}.`
          );
        $("upload-clear").hidden = false;
        $("upload-category-box").hidden = !lst.labeled;
        if (lst.labeled) {
          fillCategories(lst);
          $("upload-category").value = ctx.upload.category === null ? "" : String(ctx.upload.category);
        }
      },
    });
  }

  PG.searchUpload = {
    init() {
      const info = D.serve();
      if (info.live) setupLive(info.mode);
      else {
        if (info.why) $("upload-off-why").textContent = `it is static, and ${info.why}.`;
        $("upload-off").hidden = false;
      }
    },
    /* The server refused the image, or a view it was asked for (search-state.js): say so here, where it can be
       seen. Returns the upload to show instead: the previous one when a new image was refused, else null. */
    failed(err) {
      const allowed = err?.allowed ? ` (possible: ${err.allowed.join(", ")})` : "";
      const back = current && !current.shown && before ? before : null;
      forget();
      if (back) {
        current = back;
        before = null;
        const pv = $("upload-preview");
        pv.src = back.url;
        pv.alt = `Your image: ${back.name}`;
        pv.hidden = false;
        $("upload-clear").hidden = false;
        keepError = true;
      }
      const kept = back ? ` Still showing ${back.name}.` : "";
      status(`Could not search with this image: ${err?.message || err}${allowed}.${kept}`, true);
      $("upload-status").scrollIntoView({ block: "nearest", behavior: PG.reducedMotion() ? "auto" : "smooth" });
      return back;
    },
    current: () => current,
  };
})();
