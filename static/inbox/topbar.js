// The top bar's links. On a phone the workspace pages keep the bar on one
// line and let its links scroll sideways (static/inbox/workspace.css): the
// edge where more links are hidden fades out (class `nav-more` on the right,
// `nav-less` on the left), so a cut-off link reads as "scroll for more".
(function () {
  "use strict";

  function update(nav) {
    var hiddenRight = nav.scrollWidth - nav.clientWidth - nav.scrollLeft > 1;
    // Scrolled sideways: scrollLeft is negative in a right-to-left page.
    var hiddenLeft = Math.abs(nav.scrollLeft) > 1;
    nav.classList.toggle("nav-more", hiddenRight);
    nav.classList.toggle("nav-less", hiddenLeft);
  }

  function start() {
    var nav = document.querySelector(".topbar nav");
    if (!nav) { return; }
    var run = function () { update(nav); };
    nav.addEventListener("scroll", run, {passive: true});
    window.addEventListener("resize", run);
    // The live status changes its text (and width) after the page loads.
    if (window.ResizeObserver) { new ResizeObserver(run).observe(nav.firstElementChild || nav); }
    run();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
