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

  // A canned response's content as an agent would insert it, with sample
  // values (the same variables canned_response_render fills, in one pass).
  var VARIABLE = /\{\{\s*([a-z_]+\.[a-z_]+)\s*\}\}/g;

  function linkPreviews() {
    document.querySelectorAll("[data-preview-for]").forEach(function (preview) {
      var source = document.getElementById(preview.dataset.previewFor);
      var output = preview.querySelector(".canned-preview-text");
      if (!source || !output) { return; }
      var values = {
        "contact.name": "Ada Lovelace",
        "agent.name": preview.dataset.agentName || "",
        "conversation.id": "1042"
      };
      function render() {
        output.textContent = source.value.replace(VARIABLE, function (match, name) {
          return Object.prototype.hasOwnProperty.call(values, name) ? values[name] : match;
        });
        preview.hidden = !source.value.trim();
      }
      source.addEventListener("input", render);
      render();
    });
  }

  function start() {
    paint(document);
    linkColorFields();
    linkPreviews();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
