// Forms whose controls carry `data-autosubmit` submit as soon as one changes
// (the inbox filters); without JavaScript their <noscript> button does it.
(function () {
  "use strict";

  document.querySelectorAll("[data-autosubmit]").forEach(function (control) {
    control.addEventListener("change", function () {
      if (control.form) { control.form.submit(); }
    });
  });
})();
