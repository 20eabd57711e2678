// The business hours form (templates/workspace/settings/business.html):
// the week shows while "Use business hours" is ticked, a day's intervals
// while its "Open" is ticked, and each day adds and removes intervals.
// Hidden parts keep their values (they are hidden, not disabled), so the
// server reads and shows back what was typed. Without this script every
// row shows one interval, which is enough to save a simple week.
(function () {
  "use strict";

  function relabel(day) {
    // Ids and the screen-reader labels follow the intervals' order.
    var name = day.dataset.dayName;
    var rows = day.querySelectorAll("[data-interval]");
    rows.forEach(function (row, index) {
      var number = index + 1;
      row.querySelectorAll("input").forEach(function (input) {
        var kind = input.name.slice(day.dataset.day.length + 1); // opens, closes
        input.id = day.dataset.day + "-" + kind + "-" + number;
        var label = row.querySelector('label[data-label="' + kind + '"]');
        if (label) {
          label.htmlFor = input.id;
          label.textContent = label.textContent.replace(/\d+/, String(number));
        }
      });
      var remove = row.querySelector('[data-label="remove"]');
      if (remove) { remove.textContent = remove.textContent.replace(/\d+/, String(number)); }
      var button = row.querySelector("[data-remove-interval]");
      if (button) { button.hidden = rows.length < 2; }
    });
  }

  function showDay(day) {
    var open = day.querySelector("[data-day-open]").checked;
    day.querySelector("[data-intervals]").hidden = !open;
    day.querySelector("[data-day-closed]").hidden = open;
    var add = day.querySelector("[data-add-interval]");
    if (add) { add.hidden = !open; }
  }

  function addInterval(day) {
    var list = day.querySelector("[data-intervals]");
    var rows = list.querySelectorAll("[data-interval]");
    if (rows.length >= 6) { return; }
    var row = rows[rows.length - 1].cloneNode(true);
    row.querySelectorAll("input").forEach(function (input) {
      input.value = "";
      input.removeAttribute("aria-invalid");
    });
    list.appendChild(row);
    relabel(day);
    row.querySelector("input").focus();
  }

  function removeInterval(day, row) {
    var rows = day.querySelectorAll("[data-interval]");
    if (rows.length < 2) { return; }
    var index = Array.prototype.indexOf.call(rows, row);
    row.remove();
    relabel(day);
    var left = day.querySelectorAll("[data-interval]");
    // Focus stays near: the interval now in its place, else the one before.
    left[Math.min(index, left.length - 1)].querySelector("input").focus();
  }

  function focusRefused() {
    // A refused form: the cursor goes to the first field marked, which may
    // be far below the notice at the top.
    var invalid = document.querySelector(
      ".hours-form [aria-invalid=true], .away-form [aria-invalid=true]"
    );
    if (invalid) { invalid.focus(); }
  }

  function start() {
    var toggle = document.querySelector("[data-hours-toggle]");
    var week = document.querySelector("[data-hours-week]");
    if (!toggle || !week) { focusRefused(); return; }
    function showWeek() { week.hidden = !toggle.checked; }
    toggle.addEventListener("change", showWeek);
    showWeek();
    week.querySelectorAll("[data-day]").forEach(function (day) {
      var open = day.querySelector("[data-day-open]");
      open.addEventListener("change", function () {
        showDay(day);
        if (open.checked) {
          var first = day.querySelector("[data-interval] input");
          if (first && !first.value) { first.focus(); }
        }
      });
      day.addEventListener("click", function (event) {
        var target = event.target.closest("button");
        if (!target || target.disabled) { return; }
        if (target.hasAttribute("data-add-interval")) {
          addInterval(day);
        } else if (target.hasAttribute("data-remove-interval")) {
          removeInterval(day, target.closest("[data-interval]"));
        }
      });
      showDay(day);
      relabel(day);
    });
    focusRefused();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
