/* ConvNet Playground: the first-visit intro. A short dialog (what the playground shows, how to use it) that
 * opens by itself on the first visit to the Semantic Search page and remembers that it was seen (localStorage,
 * which works from file:// too); the header's "How it works" button opens it again on every page.
 */
(() => {
  const PG = window.PG;
  const SEEN = "pg-intro-seen";
  const dlg = PG.$("intro");
  const opener = PG.$("intro-open");
  if (!dlg || !opener) return;

  function show() {
    if (!dlg.open) dlg.showModal();
  }
  dlg.addEventListener("close", () => PG.remember(SEEN, "1"));
  for (const b of dlg.querySelectorAll("[data-close]")) b.addEventListener("click", () => dlg.close());
  dlg.addEventListener("click", (ev) => {
    if (ev.target === dlg) dlg.close(); // the backdrop
  });
  opener.addEventListener("click", show);
  if (document.documentElement.getAttribute("data-page") === "index" && PG.remember(SEEN) !== "1") show();

  PG.intro = { show };
})();
