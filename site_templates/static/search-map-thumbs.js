/* ConvNet Playground, Semantic Search: thumbnails on the embedding map. Once the map is zoomed in so far that at
 * most MAX points are in view, each is drawn as its image (from the dataset's thumbnail sheets, which the grid
 * already uses), framed in its category's colour, in a layer of elements over the canvas. The canvas itself never
 * draws an image: on file:// every image counts as another origin's and would taint it.
 */
(() => {
  const PG = window.PG;
  const MAX = 60; // thumbnails at most; with more points in view they stay points
  const SIZE = 40; // CSS px

  function MapThumbs(layer) {
    this.layer = layer;
    this.pool = [];
  }

  /* Draw the thumbnails of `map` (a PG.Scatter) for the listing `lst` (null: none, e.g. while another dataset's
     points are still drawn). */
  MapThumbs.prototype.update = function (map, lst) {
    const ids = lst && map.n === lst.n ? map.inView(MAX, SIZE / 2) : null;
    const want = ids ? ids.filter((i) => !map.mask || map.mask[i]) : [];
    const results = new Set(map.results);
    want.forEach((i, k) => {
      let node = this.pool[k];
      if (!node) {
        node = PG.el("span", { class: "map-thumb" }, PG.el("span", { class: "thumb" }));
        this.layer.appendChild(node);
        this.pool.push(node);
      }
      if (node.dataset.id !== String(i)) {
        node.dataset.id = String(i);
        PG.paintThumb(node.firstChild, lst.thumb(i));
      }
      const p = map.screenPos(i);
      node.style.transform = `translate(${Math.round(p.x - SIZE / 2)}px, ${Math.round(p.y - SIZE / 2)}px)`;
      node.style.borderColor = map.cls[i] >= 0 ? map.colorOf(map.cls[i]) : "";
      node.classList.toggle("is-query", i === map.query);
      node.classList.toggle("is-result", results.has(i));
      node.classList.toggle("is-hover", i === map.hover || i === map.extHover);
      node.hidden = false;
    });
    for (let k = want.length; k < this.pool.length; k++) this.pool[k].hidden = true;
  };

  MapThumbs.MAX = MAX;
  PG.MapThumbs = MapThumbs;
})();
