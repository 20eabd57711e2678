// Menus: a button that opens a popup of choices (the filters, Assign, Labels,
// Snooze, Status, bulk actions). Markup:
//
//   <div class="menu" data-menu>
//     <button aria-haspopup="true" aria-expanded="false" aria-controls="ID">…</button>
//     <div class="menu-popup" id="ID" hidden>
//       [<input class="menu-search">]            optional: filters the items
//       <div role="menu"> <button role="menuitem|menuitemradio|menuitemcheckbox"> … </div>
//       [<form>]                                 optional: e.g. a custom snooze time
//     </div>
//   </div>
//
// Keyboard (WAI-ARIA menu button pattern): Enter, Space or ArrowDown opens
// and focuses the first item (or the search box); ArrowUp/ArrowDown move,
// Home/End jump, typing in the search box filters, Escape closes and returns
// focus to the button, Tab closes. A click outside closes. Choosing an item
// dispatches `menu:choose` on the item (bubbling) and closes the menu, except
// for checkbox items, which stay open so several can be toggled.
// Works for menus added to the page later (event delegation).
(function () {
  "use strict";

  var open = null;  // the open .menu element

  function parts(menu) {
    var button = menu.querySelector("[aria-haspopup]");
    var popup = document.getElementById(button.getAttribute("aria-controls"));
    return {button: button, popup: popup};
  }

  function items(menu) {
    return Array.prototype.filter.call(
      parts(menu).popup.querySelectorAll("[role^=menuitem]"),
      function (item) { return !item.hidden && !item.disabled; }
    );
  }

  function place(popup, button) {
    // Keep the popup inside the window: open leftwards when it would overflow.
    popup.classList.remove("menu-popup-left");
    var rect = popup.getBoundingClientRect();
    if (rect.right > window.innerWidth - 8) { popup.classList.add("menu-popup-left"); }
  }

  function openMenu(menu, focusLast) {
    if (open && open !== menu) { closeMenu(open, false); }
    var p = parts(menu);
    p.popup.hidden = false;
    p.button.setAttribute("aria-expanded", "true");
    open = menu;
    place(p.popup, p.button);
    var search = p.popup.querySelector(".menu-search");
    if (search) { search.value = ""; filter(menu, ""); search.focus(); return; }
    var list = items(menu);
    var checked = list.filter(function (i) { return i.getAttribute("aria-checked") === "true"; })[0];
    var target = focusLast ? list[list.length - 1] : (checked || list[0]);
    if (target) { target.focus(); }
  }

  function closeMenu(menu, returnFocus) {
    var p = parts(menu);
    p.popup.hidden = true;
    p.button.setAttribute("aria-expanded", "false");
    if (open === menu) { open = null; }
    if (returnFocus) { p.button.focus(); }
    document.dispatchEvent(new CustomEvent("menu:closed", {detail: menu}));
  }

  function filter(menu, text) {
    var needle = text.trim().toLowerCase();
    parts(menu).popup.querySelectorAll("[role^=menuitem]").forEach(function (item) {
      item.hidden = needle !== "" && item.textContent.toLowerCase().indexOf(needle) === -1;
    });
  }

  function move(menu, from, step) {
    var list = items(menu);
    if (!list.length) { return; }
    var index = list.indexOf(from);
    var next = index === -1 ? (step > 0 ? 0 : list.length - 1)
      : (index + step + list.length) % list.length;
    list[next].focus();
  }

  function choose(menu, item) {
    var keepOpen = item.getAttribute("role") === "menuitemcheckbox";
    item.dispatchEvent(new CustomEvent("menu:choose", {bubbles: true}));
    if (!keepOpen) { closeMenu(menu, true); }
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-menu] > [aria-haspopup]");
    if (button) {
      var menu = button.parentElement;
      if (open === menu) { closeMenu(menu, false); } else { openMenu(menu, false); }
      return;
    }
    var item = event.target.closest("[data-menu] [role^=menuitem]");
    if (item && open && open.contains(item)) { choose(open, item); return; }
    if (open && !open.contains(event.target)) { closeMenu(open, false); }
  });

  document.addEventListener("keydown", function (event) {
    var button = event.target.closest && event.target.closest("[data-menu] > [aria-haspopup]");
    if (button && (event.key === "ArrowDown" || event.key === "ArrowUp")) {
      event.preventDefault();
      openMenu(button.parentElement, event.key === "ArrowUp");
      return;
    }
    if (!open || !open.contains(event.target)) { return; }
    var inSearch = event.target.classList.contains("menu-search");
    var inForm = !inSearch && event.target.closest("form");
    switch (event.key) {
      case "Escape":
        event.preventDefault();
        event.stopPropagation();
        closeMenu(open, true);
        break;
      case "Tab":
        if (!inForm) { closeMenu(open, false); }
        break;
      case "ArrowDown":
        event.preventDefault();
        move(open, inSearch ? null : event.target, 1);
        break;
      case "ArrowUp":
        event.preventDefault();
        move(open, inSearch ? null : event.target, -1);
        break;
      case "Home":
        if (!inSearch && !inForm) { event.preventDefault(); items(open)[0].focus(); }
        break;
      case "End":
        if (!inSearch && !inForm) { event.preventDefault(); var l = items(open); l[l.length - 1].focus(); }
        break;
      case "Enter":
        if (inSearch) {
          event.preventDefault();
          var first = items(open)[0];
          if (first) { choose(open, first); }
        }
        break;
    }
  });

  document.addEventListener("input", function (event) {
    if (event.target.classList.contains("menu-search") && open) {
      filter(open, event.target.value);
    }
  });

  window.PingBack = window.PingBack || {};
  window.PingBack.menus = {
    isOpen: function () { return open !== null; },
    // The open menu when it is inside `container`, else null.
    openIn: function (container) { return open && container.contains(open) ? open : null; },
    close: function () { if (open) { closeMenu(open, false); } }
  };
})();
