// The customer panel's actions (templates/conversations/_customer_panel.html):
// edit a custom attribute or the note in place, add or remove an attribute,
// review a suggested merge and merge or dismiss it. Every write answers the
// re-rendered panel (swapped in here) or 400 with the reason, shown beside
// the form while what the agent typed stays in it. While a form or a merge
// preview is open the panel carries `data-editing`, and the workspace does
// not swap it.
(function () {
  "use strict";
  // Translations: /jsi18n/ (Django's JavaScript catalog, loaded first by
  // base.html) defines gettext/ngettext/interpolate; English without it.
  var gettext = window.gettext || function (text) { return text; };
  var ngettext = window.ngettext || function (one, many, n) { return n === 1 ? one : many; };
  var interpolate = window.interpolate || function (format, values) {
    return format.replace(/%\((\w+)\)s/g, function (match, name) { return String(values[name]); });
  };

  function panelRoot() { return document.getElementById("customer-panel"); }

  function csrfToken(form) {
    var input = form && form.querySelector("input[name=csrfmiddlewaretoken]");
    if (input) { return input.value; }
    var meta = document.querySelector("meta[name=csrf-token]");
    return meta ? meta.content : "";
  }

  function editingMark() {
    var root = panelRoot();
    var panel = root && root.querySelector(".customer-panel");
    if (!panel) { return; }
    if (panel.querySelector(".panel-edit-form:not([hidden]), .panel-merge-preview:not([hidden])")) { panel.setAttribute("data-editing", ""); }
    else { panel.removeAttribute("data-editing"); }
  }

  function paint(scope) {
    scope.querySelectorAll("[data-color]").forEach(function (element) {
      if (/^#[0-9a-fA-F]{6}$/.test(element.dataset.color)) {
        element.style.setProperty("--label-color", element.dataset.color);
      }
    });
    if (window.PingBack && window.PingBack.times) { window.PingBack.times.refresh(); }
  }

  function swap(html, focusSelector) {
    var root = panelRoot();
    root.innerHTML = html;
    paint(root);
    var target = focusSelector && root.querySelector(focusSelector);
    if (!target) { target = root.querySelector("[data-panel-heading]"); }
    if (target) { target.focus(); }
    document.dispatchEvent(new CustomEvent("pingback:panel-updated"));
  }

  function openForm(button) {
    var form = document.getElementById(button.getAttribute("aria-controls"));
    if (!form) { return; }
    form.hidden = false;
    button.setAttribute("aria-expanded", "true");
    var view = button.closest(".panel-attribute-view");
    if (view) { view.hidden = true; }
    var first = form.querySelector("[data-autofocus]");
    if (first) {
      first.focus();
      if (first.select && first.type !== "textarea") { first.select(); }
    }
    editingMark();
  }

  function closeForm(form) {
    form.hidden = true;
    form.reset();
    var error = form.querySelector("[data-panel-error]");
    if (error) { error.textContent = ""; }
    var button = document.querySelector('[aria-controls="' + form.id + '"]');
    if (button) {
      button.setAttribute("aria-expanded", "false");
      var view = button.closest(".panel-attribute-view");
      if (view) { view.hidden = false; }
      button.focus();
    }
    editingMark();
  }

  function errorPlace(form) {
    return form.querySelector("[data-panel-error]") ||
      (form.closest(".panel-merge") && form.closest(".panel-merge").querySelector("[data-panel-error]"));
  }

  function submit(form, submitter) {
    var body = new FormData(form);
    if (submitter && submitter.name) { body.append(submitter.name, submitter.value); }
    var focus = form.dataset.focusAfter || "";
    if (form.hasAttribute("data-focus-key")) {
      var key = (body.get("key") || "").trim();
      if (/^[a-z0-9_]+$/.test(key)) { focus = '[data-attribute-key="' + key + '"]'; }
    }
    form.setAttribute("aria-busy", "true");
    form.querySelectorAll("button").forEach(function (button) { button.disabled = true; });
    fetch(form.action, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: {"X-Requested-With": "fetch", "X-CSRFToken": csrfToken(form)}
    }).then(function (response) {
      return response.text().then(function (text) { return {ok: response.ok, status: response.status, text: text}; });
    }).then(function (answer) {
      if (answer.ok) { swap(answer.text, focus); return; }
      form.removeAttribute("aria-busy");
      form.querySelectorAll("button").forEach(function (button) { button.disabled = false; });
      var place = errorPlace(form);
      var reason = answer.status === 400 && answer.text.length < 500 ? answer.text : interpolate(gettext("That did not work (error %(status)s). Try again."), {status: answer.status}, true);
      if (place) { place.textContent = reason; }
    }).catch(function () {
      form.removeAttribute("aria-busy");
      form.querySelectorAll("button").forEach(function (button) { button.disabled = false; });
      var place = errorPlace(form);
      if (place) { place.textContent = gettext("PingBack could not be reached. Try again."); }
    });
  }

  function review(button) {
    var target = document.getElementById(button.getAttribute("aria-controls"));
    if (!target) { return; }
    if (button.getAttribute("aria-expanded") === "true") {
      target.hidden = true;
      button.setAttribute("aria-expanded", "false");
      editingMark();
      return;
    }
    fetch(button.dataset.mergeReview, {credentials: "same-origin", headers: {"X-Requested-With": "fetch"}})
      .then(function (response) {
        return response.text().then(function (text) { return {ok: response.ok, text: text}; });
      }).then(function (answer) {
        if (!answer.ok) {
          var place = button.closest(".panel-merge").querySelector("[data-panel-error]");
          if (place) { place.textContent = answer.text.length < 500 ? answer.text : gettext("The merge cannot be shown."); }
          return;
        }
        target.innerHTML = answer.text;
        target.hidden = false;
        button.setAttribute("aria-expanded", "true");
        editingMark();
        var merge = target.querySelector("button[type=submit]");
        (merge || target).focus();
      }).catch(function () {});
  }

  document.addEventListener("click", function (event) {
    var root = panelRoot();
    if (!root || !root.contains(event.target)) { return; }
    var edit = event.target.closest("[data-edit]");
    if (edit) { event.preventDefault(); openForm(edit); return; }
    var cancel = event.target.closest("[data-cancel]");
    if (cancel) { event.preventDefault(); closeForm(cancel.closest("form")); return; }
    var reviewButton = event.target.closest("[data-merge-review]");
    if (reviewButton) { event.preventDefault(); review(reviewButton); }
  });

  document.addEventListener("submit", function (event) {
    var form = event.target.closest("form[data-panel-form]");
    var root = panelRoot();
    if (!form || !root || !root.contains(form)) { return; }
    event.preventDefault();
    submit(form, event.submitter);
  });

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") { return; }
    var form = event.target.closest && event.target.closest(".panel-edit-form");
    if (form && panelRoot() && panelRoot().contains(form)) {
      event.preventDefault();
      event.stopPropagation();
      closeForm(form);
    }
  }, true);
})();
