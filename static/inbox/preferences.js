// The preferences page: each switch is saved as soon as it changes (POST
// field=<name>&value=1|0 with the CSRF token, no reload). The form's Save
// button is for browsers without script; it is hidden here.
(function () {
  "use strict";
  // Translations: /jsi18n/ (Django's JavaScript catalog, loaded first by
  // base.html) defines gettext/ngettext/interpolate; English without it.
  var gettext = window.gettext || function (text) { return text; };
  var ngettext = window.ngettext || function (one, many, n) { return n === 1 ? one : many; };
  var interpolate = window.interpolate || function (format, values) {
    return format.replace(/%\((\w+)\)s/g, function (match, name) { return String(values[name]); });
  };

  function start() {
    var form = document.querySelector("[data-preferences-form]");
    if (!form) { return; }
    var status = document.getElementById("save-status");
    var save = form.querySelector("[data-no-script-save]");
    if (save) { save.hidden = true; }
    var token = form.querySelector("input[name=csrfmiddlewaretoken]").value;

    function say(text, isError) {
      status.textContent = text;
      status.classList.toggle("error", Boolean(isError));
    }

    form.addEventListener("change", function (event) {
      var input = event.target;
      if (!input.matches("input.switch")) { return; }
      var body = new URLSearchParams();
      body.set("field", input.name);
      body.set("value", input.checked ? "1" : "0");
      input.disabled = true;
      say(gettext("Saving…"));
      fetch(form.action || location.href, {
        method: "POST",
        credentials: "same-origin",
        headers: {"X-CSRFToken": token, "Accept": "application/json"},
        body: body
      }).then(function (response) {
        if (!response.ok) { throw new Error(String(response.status)); }
        return response.json();
      }).then(function (saved) {
        input.checked = Boolean(saved[input.name]);
        var label = form.querySelector('label[for="' + input.id + '"]').textContent;
        say(interpolate(input.checked ? gettext("%(label)s: on. Saved.") : gettext("%(label)s: off. Saved."), {label: label}, true));
        if (input.name === "notify_sound") {
          document.body.dataset.notifySound = input.checked ? "1" : "0";
        }
      }).catch(function () {
        input.checked = !input.checked;
        say(gettext("Could not save: check your connection and try again."), true);
      }).then(function () {
        input.disabled = false;
        input.focus();
      });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
