// Contacts pages (templates/contacts/): label colours. Colours come as
// data: the page's policy allows no inline style, but setting a property
// through the CSSOM is allowed.
(function () {
  "use strict";
  var HEX = /^#[0-9a-fA-F]{6}$/;

  function start() {
    document.querySelectorAll("[data-color]").forEach(function (element) {
      if (HEX.test(element.dataset.color)) {
        element.style.setProperty("--label-color", element.dataset.color);
      }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
