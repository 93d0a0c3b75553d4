/* ConvNet Playground: small help popovers. A button.help-btn with aria-controls="<id>" toggles the element
 * <id> (aria-expanded follows); Escape or a click elsewhere closes it and focus returns to the button.
 * Keyboard reachable like any button; the popover's text is plain HTML in the page (works without data).
 */
(() => {
  const PG = window.PG;
  let open = null;

  function close(focus) {
    if (!open) return;
    const btn = open;
    open = null;
    btn.setAttribute("aria-expanded", "false");
    const pop = document.getElementById(btn.getAttribute("aria-controls"));
    if (pop) pop.hidden = true;
    if (focus) btn.focus();
  }

  function toggle(btn) {
    const was = open === btn;
    close(false);
    if (was) return;
    const pop = document.getElementById(btn.getAttribute("aria-controls"));
    if (!pop) return;
    pop.hidden = false;
    btn.setAttribute("aria-expanded", "true");
    open = btn;
    // keep the popover inside the viewport horizontally
    pop.style.left = "";
    pop.style.right = "";
    const r = pop.getBoundingClientRect();
    const vw = document.documentElement.clientWidth;
    if (r.right > vw - 8) pop.style.left = `${Math.round(pop.offsetLeft - (r.right - vw + 8))}px`;
    if (pop.getBoundingClientRect().left < 8)
      pop.style.left = `${Math.round(pop.offsetLeft + 8 - pop.getBoundingClientRect().left)}px`;
  }

  document.addEventListener("click", (ev) => {
    const btn = ev.target.closest?.(".help-btn");
    if (btn) {
      ev.preventDefault();
      ev.stopPropagation();
      toggle(btn);
      return;
    }
    if (open && !ev.target.closest?.(".help-pop")) close(false);
  });
  document.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape" && open) {
      ev.preventDefault();
      close(true);
    }
  });

  PG.help = { close };
})();
