// The widget settings page: a button with `data-copy-target="<element id>"`
// copies that element's text, and writes "Copied." into the element named by
// `data-copy-done`. The clipboard API needs a secure context and the
// browser's leave; elsewhere, or when it refuses, the text is selected and
// copied with execCommand.
(function () {
  "use strict";
  // Translations: /jsi18n/ (Django's JavaScript catalog, loaded first by
  // base.html) defines gettext/ngettext/interpolate; English without it.
  var gettext = window.gettext || function (text) { return text; };
  var ngettext = window.ngettext || function (one, many, n) { return n === 1 ? one : many; };
  var interpolate = window.interpolate || function (format, values) {
    return format.replace(/%\((\w+)\)s/g, function (match, name) { return String(values[name]); });
  };

  document.querySelectorAll("button[data-copy-target]").forEach(function (button) {
    var snippet = document.getElementById(button.dataset.copyTarget);
    var done = document.getElementById(button.dataset.copyDone);
    if (!snippet) { return; }
    button.addEventListener("click", function () {
      function copied() { if (done) { done.textContent = gettext("Copied."); } }
      function selectAndCopy() {
        var range = document.createRange();
        range.selectNodeContents(snippet);
        var selection = window.getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
        if (document.execCommand("copy")) { copied(); }
      }
      if (navigator.clipboard && window.isSecureContext) {
        // Refused when the browser does not let the page write the
        // clipboard (no permission, the document not focused).
        navigator.clipboard.writeText(snippet.textContent).then(copied, selectAndCopy);
        return;
      }
      selectAndCopy();
    });
  });
})();
