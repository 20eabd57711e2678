// The channel page of Django admin: each channel type's settings are a
// fieldset (`channel-config channel-config-<type>`); only the chosen type's
// is shown, and choosing another type shows its settings instead.
(function () {
  "use strict";

  var select = document.getElementById("id_type");
  var fieldsets = document.querySelectorAll("fieldset.channel-config");
  if (!fieldsets.length) { return; }
  function show() {
    if (!select) { return; }
    fieldsets.forEach(function (fieldset) {
      var chosen = fieldset.classList.contains("channel-config-" + select.value);
      fieldset.classList.toggle("hidden", !chosen);
    });
  }
  if (select) { select.addEventListener("change", show); }
  show();
})();
