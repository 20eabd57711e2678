// Keyboard shortcuts of the inbox pages (one keydown listener on document):
//   j / k   move the cursor down / up the conversation list
//   Enter   open the conversation under the cursor
//   r       reply (focus #reply-text)
//   e a l s resolve, assign, labels, snooze: click [data-shortcut="<key>"]
//   ?       this list, in a dialog (Escape closes it)
// Keys typed in a field (input, textarea, select, contenteditable) are the
// field's, as are keys with Ctrl, Cmd or Alt (Ctrl/Cmd+Enter is the reply
// box's). While a dialog or a menu ([role=menu]) is open, only Escape
// (handled by the dialog or menu itself) does anything.
// The list may be re-rendered (event "pingback:list-loaded"): the cursor
// stays on the same conversation while it is still listed.
(function () {
  "use strict";
  // Translations: /jsi18n/ (Django's JavaScript catalog, loaded first by
  // base.html) defines gettext/ngettext/interpolate; English without it.
  var gettext = window.gettext || function (text) { return text; };
  var ngettext = window.ngettext || function (one, many, n) { return n === 1 ? one : many; };
  var interpolate = window.interpolate || function (format, values) {
    return format.replace(/%\((\w+)\)s/g, function (match, name) { return String(values[name]); });
  };

  var SHORTCUTS = [
    ["j", gettext("Next conversation in the list")],
    ["k", gettext("Previous conversation in the list")],
    ["Enter", gettext("Open the selected conversation")],
    ["r", gettext("Reply")],
    ["e", gettext("Resolve")],
    ["a", gettext("Assign")],
    ["l", gettext("Labels")],
    ["s", gettext("Snooze")],
    ["?", gettext("Show these shortcuts")]
  ];
  var ACTION_KEYS = {e: true, a: true, l: true, s: true};

  var cursorId = null;
  var focusedLink = null;  // the link move() focused
  var dialog = null;
  var opener = null;

  function rows() {
    var inList = document.querySelectorAll("#conversation-list .conversation-row");
    if (inList.length) { return Array.prototype.slice.call(inList); }
    return Array.prototype.slice.call(document.querySelectorAll(".conversation-row"));
  }

  function rowId(row) {
    return row.getAttribute("data-conversation-id") || row.id || null;
  }

  function cursorRow(list) {
    if (cursorId === null) { return null; }
    for (var i = 0; i < list.length; i++) {
      if (rowId(list[i]) === cursorId) { return list[i]; }
    }
    return null;
  }

  function paint(list) {
    var current = cursorRow(list);
    for (var i = 0; i < list.length; i++) {
      var row = list[i];
      if (row === current) {
        row.classList.add("is-cursor");
        row.setAttribute("aria-current", "true");
      } else if (row.classList.contains("is-cursor")) {
        row.classList.remove("is-cursor");
        row.removeAttribute("aria-current");
      }
    }
    return current;
  }

  function link(row) {
    return row.querySelector("a.row-link") || row.querySelector("a[href]");
  }

  function move(step) {
    var list = rows();
    if (!list.length) { return; }
    var current = cursorRow(list);
    var index = current ? list.indexOf(current) + step : (step > 0 ? 0 : list.length - 1);
    index = Math.max(0, Math.min(list.length - 1, index));
    cursorId = rowId(list[index]);
    var row = paint(list);
    if (!row) { return; }
    // Focus the row's link: screen readers announce the conversation, the
    // focus ring shows where the cursor is, and Enter opens it natively too.
    focusedLink = link(row);
    if (focusedLink) { focusedLink.focus({preventScroll: true}); }
    row.scrollIntoView({block: "nearest"});
  }

  function open() {
    var row = cursorRow(rows());
    if (!row) { return false; }
    var target = link(row);
    if (!target) { return false; }
    target.click();
    return true;
  }

  function typing(target) {
    if (!target || target === document.body) { return false; }
    if (target.isContentEditable) { return true; }
    var tag = target.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT";
  }

  // An open dialog, or a menu that is shown (not `hidden`, not display:none).
  function popupOpen() {
    if (document.querySelector("dialog[open]")) { return true; }
    var menus = document.querySelectorAll("[role=menu]");
    for (var i = 0; i < menus.length; i++) {
      if (!menus[i].hidden && menus[i].getClientRects().length > 0) { return true; }
    }
    return false;
  }

  function buildDialog() {
    dialog = document.createElement("dialog");
    dialog.className = "shortcuts-dialog";
    dialog.id = "shortcuts-dialog";
    dialog.setAttribute("aria-labelledby", "shortcuts-title");
    var title = document.createElement("h2");
    title.id = "shortcuts-title";
    title.textContent = gettext("Keyboard shortcuts");
    dialog.appendChild(title);
    var table = document.createElement("dl");
    table.className = "shortcut-list";
    SHORTCUTS.forEach(function (item) {
      var dt = document.createElement("dt");
      var kbd = document.createElement("kbd");
      kbd.textContent = item[0];
      dt.appendChild(kbd);
      var dd = document.createElement("dd");
      dd.textContent = item[1];
      table.appendChild(dt);
      table.appendChild(dd);
    });
    dialog.appendChild(table);
    var note = document.createElement("p");
    note.className = "shortcut-note";
    note.textContent = gettext("Shortcuts do nothing while you type in a field. " +
      "Ctrl+Enter (Cmd+Enter on a Mac) sends a reply.");
    dialog.appendChild(note);
    var close = document.createElement("button");
    close.type = "button";
    close.textContent = gettext("Close");
    close.addEventListener("click", function () { dialog.close(); });
    dialog.appendChild(close);
    dialog.addEventListener("close", function () {
      if (opener && opener !== document.body && document.contains(opener)) {
        opener.focus();
      } else {
        // The focused row was re-rendered meanwhile: its fresh copy.
        var row = cursorRow(rows());
        var target = row && link(row);
        if (target) { focusedLink = target; target.focus(); }
      }
      opener = null;
    });
    // A click on the backdrop (outside the dialog's box) closes it.
    dialog.addEventListener("click", function (event) {
      if (event.target === dialog) { dialog.close(); }
    });
    document.body.appendChild(dialog);
  }

  function showHelp() {
    if (!dialog) { buildDialog(); }
    opener = document.activeElement;
    dialog.showModal();
    dialog.querySelector("button").focus();
  }

  function clickAction(key) {
    var target = document.querySelector('[data-shortcut="' + key + '"]');
    if (!target || target.disabled) { return false; }
    target.click();
    return true;
  }

  function onKeydown(event) {
    if (event.defaultPrevented || event.isComposing) { return; }
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    if (typing(event.target)) { return; }
    if (popupOpen()) { return; }
    var key = event.key;
    var handled = false;
    if (key === "j") { move(1); handled = true; }
    else if (key === "k") { move(-1); handled = true; }
    else if (key === "Enter") {
      // A focused link or button does its own thing with Enter.
      var active = document.activeElement;
      var onOwnControl = active && active !== document.body &&
        (active.tagName === "BUTTON" || (active.tagName === "A" &&
          !(cursorRow(rows()) && cursorRow(rows()).contains(active))));
      if (!onOwnControl) { handled = open(); }
    } else if (key === "r") {
      var reply = document.getElementById("reply-text");
      if (reply) { reply.focus(); handled = true; }
    } else if (ACTION_KEYS[key]) {
      handled = clickAction(key);
    } else if (key === "?") {
      showHelp();
      handled = true;
    }
    if (handled) { event.preventDefault(); }
  }

  // The list was re-rendered, or live.js swapped a row for a fresh copy: put
  // the cursor (and the focus, if it went with the old row) back on the same
  // conversation, or drop it when the conversation is no longer listed.
  function restore() {
    if (cursorId === null) { return; }
    var row = paint(rows());
    if (!row) { cursorId = null; return; }
    // Only when the focus was on the cursor's link and left with its row.
    var active = document.activeElement;
    var lost = focusedLink && !document.contains(focusedLink);
    if (lost && (!active || active === document.body)) {
      focusedLink = link(row);
      if (focusedLink) { focusedLink.focus({preventScroll: true}); }
    }
  }


  document.addEventListener("keydown", onKeydown);
  document.addEventListener("pingback:list-loaded", restore);
  function observe() {
    if (window.MutationObserver) {
      new MutationObserver(restore).observe(document.body, {childList: true, subtree: true});
    }
  }
  if (document.body) { observe(); } else { document.addEventListener("DOMContentLoaded", observe); }

  window.PingBack = window.PingBack || {};
  window.PingBack.shortcuts = {list: SHORTCUTS, showHelp: showHelp};
})();
