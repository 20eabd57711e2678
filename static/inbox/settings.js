// Settings pages (templates/workspace/settings/): label colours, and the
// colour picker kept in step with the #rrggbb text field.
(function () {
  "use strict";
  var HEX = /^#[0-9a-fA-F]{6}$/;

  function paint(scope) {
    // Colours come as data: the page's policy allows no inline style, but
    // setting a property through the CSSOM is allowed.
    (scope || document).querySelectorAll("[data-color]").forEach(function (element) {
      if (HEX.test(element.dataset.color)) {
        element.style.setProperty("--label-color", element.dataset.color);
      }
    });
  }

  function linkColorFields() {
    document.querySelectorAll("input[data-color-picker]").forEach(function (text) {
      var picker = document.getElementById(text.dataset.colorPicker);
      if (!picker) { return; }
      picker.addEventListener("input", function () { text.value = picker.value; });
      text.addEventListener("input", function () {
        var value = text.value.trim();
        if (HEX.test(value)) { picker.value = value.toLowerCase(); }
      });
    });
  }

  function start() {
    paint(document);
    linkColorFields();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
