/* ConvNet Playground, Semantic Search: the dataset browser: every image of the dataset, All or By category;
 * the selected image is framed and the results carry their rank. Click one to search from it.
 */
(() => {
  const PG = window.PG;
  const D = PG.data;
  const P = PG.search;
  const $ = PG.$;
  const el = PG.el;
  const GRID_CHUNK = 300;
  const CAT_CHUNK = 60;
  const catOpen = Object.create(null);
  let listing = null;
  let ds = "";
  let shown = 0;
  let renderedFor = "";

  function cell(id) {
    const rec = listing.images[id];
    const cls = P.className(listing, rec.label);
    const name = P.fileName(rec);
    const b = el(
      "button",
      {
        type: "button",
        class: "cell",
        "data-id": id,
        "aria-label": `${cls ? `${cls}, ` : ""}${name}: search from this image`,
        title: (cls ? `${cls} / ` : "") + name,
      },
      [el("img", { src: PG.thumbUrl(ds, id), alt: "", width: 128, height: 128, loading: "lazy", decoding: "async" })]
    );
    PG.searchMap.hoverLink(b, id);
    return b;
  }

  function render(s) {
    const d = D.dataset(s.ds);
    $("browser-desc").textContent = d.description;
    const attr = PG.clear($("browser-attr"));
    const bits = [
      ["Source", d.source],
      ["Licence", d.licence],
      ["Attribution", d.attribution],
    ].filter((b) => b[1]);
    for (const b of bits) {
      attr.appendChild(
        el("span", { class: "attr-line" }, [
          el("span", { class: "muted", text: `${b[0]}: ` }),
          el("span", { text: b[1] }),
        ])
      );
    }
    $("browser-attr-box").hidden = !bits.length;
    const g = PG.clear($("grid"));
    g.className = `grid${s.view === "cat" ? " grid-cats" : ""}`;
    shown = 0;
    if (s.view === "cat" && d.labeled !== false) {
      const by = listing.classes.map(() => []);
      const none = [];
      for (const im of listing.images) {
        if (im.label === null) none.push(im.id);
        else by[im.label].push(im.id);
      }
      for (let c = 0; c < by.length; c++) renderCategory(g, String(listing.classes[c]), c, by[c]);
      if (none.length) renderCategory(g, "no category", -1, none);
      $("grid-more").hidden = true;
    } else {
      g.appendChild(el("div", { class: "cells" }));
      more();
    }
  }

  function renderCategory(g, name, c, ids) {
    const sec = el("section", { class: "cat" });
    const sw = el("span", { class: "swatch", "aria-hidden": "true" });
    sw.style.background = PG.classColor(c);
    sec.appendChild(
      el("h3", { class: "cat-title" }, [
        sw,
        el("span", { text: name }),
        el("span", { class: "muted", text: ` ${ids.length}` }),
      ])
    );
    const cells = el("div", { class: "cells" });
    const key = `${ds}/${c}`;
    const lim = catOpen[key] ? ids.length : CAT_CHUNK;
    for (const id of ids.slice(0, lim)) cells.appendChild(cell(id));
    sec.appendChild(cells);
    if (ids.length > lim) {
      const onclick = () => {
        catOpen[key] = true;
        render(P.state());
        mark(P.state().q, current);
      };
      sec.appendChild(el("button", { type: "button", class: "btn more", text: `Show all ${ids.length}`, onclick }));
    }
    g.appendChild(sec);
  }

  function more() {
    const cells = $("grid").querySelector(".cells");
    const n = listing.images.length;
    const to = Math.min(n, shown + GRID_CHUNK);
    for (let i = shown; i < to; i++) cells.appendChild(cell(listing.images[i].id));
    shown = to;
    const btn = $("grid-more");
    btn.hidden = shown >= n;
    btn.textContent = `Show more (${n - shown} left)`;
  }

  let current = [];
  function mark(q, ids) {
    current = ids;
    const rank = Object.create(null);
    ids.forEach((id, r) => {
      rank[id] = r + 1;
    });
    for (const c of $("grid").querySelectorAll(".cell")) {
      const id = +c.getAttribute("data-id");
      c.classList.toggle("is-query", id === q);
      c.classList.toggle("is-result", !!rank[id]);
      if (id === q) c.setAttribute("aria-current", "true");
      else c.removeAttribute("aria-current");
      let badge = c.querySelector(".cell-rank");
      if (rank[id]) {
        if (!badge) {
          badge = el("span", { class: "cell-rank", "aria-hidden": "true" });
          c.appendChild(badge);
        }
        badge.textContent = String(rank[id]);
      } else if (badge) {
        badge.remove();
      }
    }
  }

  PG.searchBrowser = {
    init() {
      PG.tabs([$("view-all"), $("view-cat")], (id) => P.set({ view: id === "view-cat" ? "cat" : "all" }, false));
      $("grid-more").addEventListener("click", () => {
        more();
        mark(P.state().q, current);
      });
      $("grid").addEventListener("click", (ev) => {
        const c = ev.target.closest(".cell");
        if (c) P.search(+c.getAttribute("data-id"), true);
      });
      P.panel({
        config(s) {
          PG.selectTab([$("view-all"), $("view-cat")], s.view === "cat" ? "view-cat" : "view-all");
          $("browser-name").textContent = D.dataset(s.ds).name;
        },
        view(ctx) {
          listing = ctx.listing;
          ds = ctx.s.ds;
          const key = `${ctx.s.ds}/${ctx.s.view}`;
          if (key !== renderedFor) {
            render(ctx.s);
            renderedFor = key;
          }
          mark(ctx.s.q, ctx.row.ids);
        },
      });
    },
  };
})();
