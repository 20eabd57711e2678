// The widget settings page: a button with `data-copy-target="<element id>"`
// copies that element's text, and writes "Copied." into the element named by
// `data-copy-done`. The clipboard API needs a secure context; elsewhere the
// text is selected and copied with execCommand.
(function () {
  "use strict";

  document.querySelectorAll("button[data-copy-target]").forEach(function (button) {
    var snippet = document.getElementById(button.dataset.copyTarget);
    var done = document.getElementById(button.dataset.copyDone);
    if (!snippet) { return; }
    button.addEventListener("click", function () {
      var text = snippet.textContent;
      function copied() { if (done) { done.textContent = "Copied."; } }
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(copied);
        return;
      }
      var range = document.createRange();
      range.selectNodeContents(snippet);
      var selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      if (document.execCommand("copy")) { copied(); }
    });
  });
})();
