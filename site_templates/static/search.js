/* ConvNet Playground, Semantic Search: start the page. Loaded last; the modules before it, in order:
 * pg.js (core), intro.js, scatter.js (the canvas plot), help.js, search-data.js (the data files and the query
 * API), search-state.js (state + router), search-config.js, search-results.js, search-map.js,
 * search-browser.js, search-analysis.js, search-classes.js, search-upload.js (the panels).
 */
(() => {
  const PG = window.PG;
  const D = PG.data;

  /* read-only handles for tests and the console */
  PG.page = {
    state: () => PG.search.state(),
    map: () => PG.searchMap.map(),
    last: () => PG.search.last,
    /* the row shown (a rankings row, or an uploaded image's answer), and the upload (or null) */
    row: () => PG.search.row(),
    upload: () => PG.search.upload(),
    /* the dataset grid: {cells (in the DOM), cols, cell (px), total (px), sections} */
    grid: () => PG.searchBrowser.stats(),
    view: () => PG.search.view(),
  };

  D.init().then(
    () => {
      const pages = document.documentElement.getAttribute("data-format");
      const data = String(D.dataFormat());
      if (pages && data !== pages) {
        PG.error(
          `This site's pages and its data come from different versions of ConvNet Playground (the pages read data format ${pages}, data/index.js is format ${data}): run \`playground render\` (or \`playground build\`) to write them together.`
        );
        return;
      }
      if (!D.datasets().length || !D.models().length || !D.metrics().length) {
        PG.error("Nothing was built yet: run `playground build` (see “About this build” on the About page).");
        return;
      }
      PG.searchConfig.init();
      PG.searchMap.init();
      PG.searchMapResults.init();
      PG.searchResults.init();
      PG.searchBrowser.init();
      PG.searchAnalysis.init();
      PG.searchClasses.init();
      PG.searchUpload.init();
      PG.search.start();
    },
    () => PG.error("The site data (data/index.js) is missing: run `playground build`, then open build/site/index.html.")
  );
})();
