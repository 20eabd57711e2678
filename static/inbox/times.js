// Relative times: every <time datetime="ISO" data-relative> shows how long
// ago it was, in the browser's time zone, with the full date and time in its
// title. The rule is the one of conversations/templatetags/times.py (which
// renders the first paint on the server):
//   under 1 minute (or up to 1 minute ahead)  "just now"
//   under 60 minutes                          "5 min"
//   earlier (or later) today                  "14:02"
//   yesterday up to 6 days ago                "Tue 14:02"
//   earlier this year (or a later day)        "3 Dec"
//   an earlier year                           "3 Dec 2025"
// Refreshed every 30 s, and when the list or a thread pane is (re)loaded.
(function () {
  "use strict";
  // Translations: /jsi18n/ (Django's JavaScript catalog, loaded first by
  // base.html) defines gettext/ngettext/interpolate; English without it.
  var gettext = window.gettext || function (text) { return text; };
  var ngettext = window.ngettext || function (one, many, n) { return n === 1 ? one : many; };
  var interpolate = window.interpolate || function (format, values) {
    return format.replace(/%\((\w+)\)s/g, function (match, name) { return String(values[name]); });
  };

  var pgettext = window.pgettext || function (context, text) { return text; };
  var DAYS = [
    pgettext("abbreviated weekday", "Sun"), pgettext("abbreviated weekday", "Mon"),
    pgettext("abbreviated weekday", "Tue"), pgettext("abbreviated weekday", "Wed"),
    pgettext("abbreviated weekday", "Thu"), pgettext("abbreviated weekday", "Fri"),
    pgettext("abbreviated weekday", "Sat")
  ];
  var MONTHS = [
    pgettext("abbreviated month", "Jan"), pgettext("abbreviated month", "Feb"),
    pgettext("abbreviated month", "Mar"), pgettext("abbreviated month", "Apr"),
    pgettext("abbreviated month", "May"), pgettext("abbreviated month", "Jun"),
    pgettext("abbreviated month", "Jul"), pgettext("abbreviated month", "Aug"),
    pgettext("abbreviated month", "Sep"), pgettext("abbreviated month", "Oct"),
    pgettext("abbreviated month", "Nov"), pgettext("abbreviated month", "Dec")
  ];
  var DAY_MS = 86400000;

  function pad(n) { return n < 10 ? "0" + n : String(n); }
  function clock(d) { return pad(d.getHours()) + ":" + pad(d.getMinutes()); }
  function midnight(d) { return new Date(d.getFullYear(), d.getMonth(), d.getDate()); }

  function shortTime(date, now) {
    var seconds = (now - date) / 1000;
    if (seconds > -60 && seconds < 60) { return gettext("just now"); }
    if (seconds > 0 && seconds < 3600) { return interpolate(gettext("%(minutes)s min"), {minutes: Math.floor(seconds / 60)}, true); }
    // Calendar days between the two local dates (rounding absorbs DST).
    var days = Math.round((midnight(now) - midnight(date)) / DAY_MS);
    if (days === 0) { return clock(date); }
    if (days > 0 && days <= 6) { return DAYS[date.getDay()] + " " + clock(date); }
    var dayMonth = date.getDate() + " " + MONTHS[date.getMonth()];
    if (date.getFullYear() === now.getFullYear()) { return dayMonth; }
    return dayMonth + " " + date.getFullYear();
  }

  function fullTime(date) {
    return DAYS[date.getDay()] + " " + date.getDate() + " " + MONTHS[date.getMonth()] +
      " " + date.getFullYear() + ", " + clock(date);
  }

  function refresh(root) {
    var now = new Date();
    var elements = (root || document).querySelectorAll("time[datetime][data-relative]");
    for (var i = 0; i < elements.length; i++) {
      var element = elements[i];
      var date = new Date(element.getAttribute("datetime"));
      if (isNaN(date.getTime())) { continue; }
      var text = shortTime(date, now);
      if (element.textContent !== text) { element.textContent = text; }
      var title = fullTime(date);
      if (element.getAttribute("title") !== title) { element.setAttribute("title", title); }
    }
  }

  window.PingBack = window.PingBack || {};
  window.PingBack.times = {shortTime: shortTime, fullTime: fullTime, refresh: refresh};

  function start() {
    refresh();
    setInterval(refresh, 30000);
    document.addEventListener("pingback:list-loaded", function () { refresh(); });
    document.addEventListener("pingback:pane-loaded", function () { refresh(); });
    // Rows live.js swaps in after an event, and pages coming back into view.
    document.addEventListener("pingback:event", function () { setTimeout(refresh, 500); });
    document.addEventListener("visibilitychange", function () {
      if (!document.hidden) { refresh(); }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
