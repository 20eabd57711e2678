// The inbox's search box (templates/conversations/_list_pane.html): typing
// (or Enter) fetches /inbox/search/ with the words, the dates and the list's
// view and filters, and shows the results (templates/conversations/
// _search_results.html) in place of the conversation list. Escape in the box,
// clearing it, or "Back to the list" returns to the list. `/` focuses the
// box (listed in the `?` shortcuts help). Changing a view or filter reloads
// the list pane (workspace.js); the search then runs again under it.
// A result opens its conversation at the matching message: workspace.js
// reads the link's data-message-id.
(function () {
  "use strict";
  // Translations: /jsi18n/ (Django's JavaScript catalog, loaded first by
  // base.html) defines gettext/ngettext/interpolate; English without it.
  var gettext = window.gettext || function (text) { return text; };
  var ngettext = window.ngettext || function (one, many, n) { return n === 1 ? one : many; };
  var interpolate = window.interpolate || function (format, values) {
    return format.replace(/%\((\w+)\)s/g, function (match, name) { return String(values[name]); });
  };

  var root = document.getElementById("workspace");
  if (!root) { return; }

  var DELAY = 250;  // ms after the last keystroke
  var timer = null;
  var active = null;  // {q, since, until} while results are shown
  var sequence = 0;   // answers to an older request are dropped

  function form() { return document.querySelector("[data-search-form]"); }
  function box() { return document.getElementById("search-results"); }

  function listQuery() {
    var head = document.getElementById("list-head");
    return head ? head.dataset.query : "";
  }

  function values() {
    var f = form();
    return {
      q: f.elements.q.value.trim(),
      since: f.elements.since.value,
      until: f.elements.until.value
    };
  }

  function searchUrl(v) {
    var params = new URLSearchParams(listQuery());
    params.set("q", v.q);
    if (v.since) { params.set("since", v.since); }
    if (v.until) { params.set("until", v.until); }
    return form().getAttribute("action") + "?" + params.toString();
  }

  function show(on) {
    var results = box();
    var list = document.getElementById("conversation-list");
    var bulk = document.getElementById("bulk-bar");
    if (results) { results.hidden = !on; }
    if (list) { list.hidden = on; }
    if (bulk && on) { bulk.hidden = true; }
    root.classList.toggle("is-searching", on);
  }

  function fetchHtml(url) {
    return fetch(url, {credentials: "same-origin", headers: {"X-Requested-With": "fetch"}})
      .then(function (response) {
        if (!response.ok) { throw new Error(String(response.status)); }
        return response.text();
      });
  }

  function run() {
    clearTimeout(timer);
    var v = values();
    if (!v.q) { clear(false); return; }
    active = v;
    var mine = ++sequence;
    var results = box();
    results.setAttribute("aria-busy", "true");
    fetchHtml(searchUrl(v)).then(function (html) {
      if (mine !== sequence) { return; }
      results.innerHTML = html;
      results.removeAttribute("aria-busy");
      show(true);
      document.dispatchEvent(new CustomEvent("pingback:search-loaded"));
    }).catch(function () {
      if (mine !== sequence) { return; }
      results.removeAttribute("aria-busy");
      results.innerHTML = '<p class="search-error" role="alert">' + gettext("The search failed. Try again.") + "</p>";
      show(true);
    });
  }

  function clear(focusBox) {
    clearTimeout(timer);
    sequence++;
    active = null;
    var f = form();
    if (f) { f.elements.q.value = ""; }
    var results = box();
    if (results) { results.innerHTML = ""; }
    show(false);
    if (focusBox && f) { f.elements.q.focus(); }
  }

  function more(button) {
    var item = button.closest("li");
    button.disabled = true;
    fetchHtml(button.dataset.searchMore).then(function (html) {
      var holder = document.createElement("template");
      holder.innerHTML = html;
      var first = holder.content.querySelector(".search-link");
      item.replaceWith(holder.content);
      if (first) {
        var id = first.closest("li").dataset.conversationId;
        var again = box().querySelector('li[data-conversation-id="' + id + '"] .search-link');
        if (again) { again.focus(); }
      }
    }).catch(function () { button.disabled = false; });
  }

  // An open dialog, or a menu that is shown (as shortcuts.js reads it).
  function popupOpen() {
    if (document.querySelector("dialog[open]")) { return true; }
    return Array.prototype.some.call(document.querySelectorAll("[role=menu]"), function (menu) {
      return !menu.hidden && menu.getClientRects().length > 0;
    });
  }

  function links() {
    var results = box();
    return results && !results.hidden ? Array.prototype.slice.call(results.querySelectorAll("a.search-link")) : [];
  }

  document.addEventListener("submit", function (event) {
    if (!event.target.matches || !event.target.matches("[data-search-form]")) { return; }
    event.preventDefault();
    run();
  });

  document.addEventListener("input", function (event) {
    var f = form();
    if (!f || !f.contains(event.target)) { return; }
    clearTimeout(timer);
    if (event.target.name === "q" && !event.target.value.trim()) { clear(false); return; }
    timer = setTimeout(run, DELAY);
  });

  document.addEventListener("click", function (event) {
    var target = event.target;
    if (target.closest("[data-search-clear]")) { clear(true); return; }
    var button = target.closest("[data-search-more]");
    if (button) { more(button); }
  });

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.isComposing) { return; }
    var f = form();
    if (!f) { return; }
    var target = event.target;
    var inForm = f.contains(target);
    var inResults = box() && box().contains(target);
    if (event.key === "Escape" && (inForm || inResults) && (active || f.elements.q.value)) {
      event.preventDefault();
      clear(true);
      return;
    }
    // Arrow keys between the box and the results.
    if ((event.key === "ArrowDown" || event.key === "ArrowUp") && (target === f.elements.q || inResults)) {
      var all = links();
      if (!all.length) { return; }
      var index = all.indexOf(target.closest ? target.closest("a.search-link") : null);
      var next = event.key === "ArrowDown" ? index + 1 : index - 1;
      event.preventDefault();
      if (next < 0) { f.elements.q.focus(); return; }
      all[Math.min(next, all.length - 1)].focus();
      return;
    }
    if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey) { return; }
    var tag = target && target.tagName;
    if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (target && target.isContentEditable)) { return; }
    if (popupOpen()) { return; }
    event.preventDefault();
    f.elements.q.focus();
    f.elements.q.select();
  });

  // The list pane was re-rendered (a view or filter changed): the box is new;
  // put the search back and run it under the new filters.
  document.addEventListener("pingback:list-loaded", function () {
    if (!active) { return; }
    var f = form();
    f.elements.q.value = active.q;
    f.elements.since.value = active.since;
    f.elements.until.value = active.until;
    if (active.since || active.until) { f.querySelector(".search-dates").open = true; }
    run();
  });

  // Listening (the page's scripts load one after another).
  root.setAttribute("data-search-ready", "");

  // In the `?` help.
  document.addEventListener("DOMContentLoaded", function () {
    var shortcuts = window.PingBack && window.PingBack.shortcuts;
    if (shortcuts && shortcuts.list && !shortcuts.list.some(function (s) { return s[0] === "/"; })) {
      shortcuts.list.splice(shortcuts.list.length - 1, 0, ["/", gettext("Search messages and contacts")]);
    }
  });
})();
