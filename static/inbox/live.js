// The live inbox: keeps the open inbox or conversation page up to date over the
// agents' websocket (/ws/inbox/, events of conversations/realtime.py).
//
// - The list (#conversation-list): a `conversation` event fetches that row,
//   server-rendered under the list's view and filters (the page's query
//   string), and puts it in its place (newest activity first); a 204 removes
//   it. Unread badges come with the row. `pingback:row-placed` (detail: the
//   row) lets the workspace restore the row's selection and colours.
// - The open thread (#thread-container): `message` and `message_status`
//   events of its conversation refetch the thread; new messages seen while
//   the page is visible are marked read.
// Elements are looked up at each event: the workspace swaps panes in and out.
// - A dropped connection (server or Redis restart) is retried with backoff;
//   while it is down the page refreshes slowly, and once back it catches up by
//   refetching the list or thread.
(function () {
  "use strict";
  // Translations: /jsi18n/ (Django's JavaScript catalog, loaded first by
  // base.html) defines gettext/ngettext/interpolate; English without it.
  var gettext = window.gettext || function (text) { return text; };
  var ngettext = window.ngettext || function (one, many, n) { return n === 1 ? one : many; };
  var interpolate = window.interpolate || function (format, values) {
    return format.replace(/%\((\w+)\)s/g, function (match, name) { return String(values[name]); });
  };

  var body = document.body;
  var socketPath = body.dataset.liveUrl;
  if (!socketPath || !window.WebSocket) { return; }

  var MIN_DELAY = 1000;
  var MAX_DELAY = 30000;
  var FALLBACK_REFRESH = 10000;

  var statusLabel = document.getElementById("live-status");
  function listElement() { return document.getElementById("conversation-list"); }
  function threadElement() { return document.getElementById("thread-container"); }
  var delay = MIN_DELAY;
  var fallbackTimer = null;
  var running = {};

  function setState(state, text) {
    body.dataset.live = state;
    if (statusLabel) {
      statusLabel.textContent = text;
      statusLabel.className = "live-status live-" + state;
    }
  }

  // Run `task` (returning a promise) once at a time per key; a request made
  // while it runs runs it once more afterwards, so the last answer wins.
  function coalesced(key, task) {
    if (running[key]) { running[key].again = true; return; }
    running[key] = {again: false};
    task().catch(function () {}).then(function () {
      var again = running[key].again;
      delete running[key];
      if (again) { coalesced(key, task); }
    });
  }

  function get(url) {
    return fetch(url, {credentials: "same-origin", headers: {"X-Requested-With": "fetch"}});
  }

  // ------------------------------------------------------------- inbox list

  function rowKey(row) {
    return [row.dataset.activity || "", Number(row.dataset.conversationId)];
  }

  function comesBefore(a, b) {
    var ka = rowKey(a), kb = rowKey(b);
    if (ka[0] !== kb[0]) { return ka[0] > kb[0]; }
    return ka[1] > kb[1];
  }

  function placeRow(row) {
    var list = listElement();
    var old = document.getElementById(row.id);
    if (old) { old.remove(); }
    var empty = list.querySelector(".empty-row");
    if (empty) { empty.remove(); }
    var rows = list.querySelectorAll(".conversation-row");
    var before = null;
    for (var i = 0; i < rows.length; i++) {
      if (comesBefore(row, rows[i])) { before = rows[i]; break; }
    }
    list.insertBefore(row, before);
    document.dispatchEvent(new CustomEvent("pingback:row-placed", {detail: row}));
    row.classList.add("fresh");
    setTimeout(function () { row.classList.remove("fresh"); }, 2000);
  }

  function refreshRow(conversationId) {
    var url = listElement().dataset.rowUrl.replace("/0/", "/" + conversationId + "/") + location.search;
    coalesced("row-" + conversationId, function () {
      return get(url).then(function (response) {
        if (response.status === 204) {
          var old = document.getElementById("conversation-" + conversationId);
          if (old) { old.remove(); }
          return;
        }
        if (!response.ok) { return; }
        return response.text().then(function (html) {
          var holder = document.createElement("template");
          holder.innerHTML = html.trim();
          var row = holder.content.querySelector(".conversation-row");
          if (row && listElement()) { placeRow(row); }
          updateTitle();
        });
      });
    });
  }

  function refreshList() {
    // The workspace re-renders the whole list pane (views, counts, rows);
    // returns its promise (undefined without the workspace).
    if (window.PingBack.workspace) { return window.PingBack.workspace.refreshList(); }
  }

  function updateTitle() {
    var unread = 0;
    var list = listElement();
    if (!list) { return; }
    list.querySelectorAll(".badge").forEach(function (badge) {
      unread += Number(badge.textContent) || 0;
    });
    document.title = document.title.replace(/^\(\d+\) /, "");
    if (unread) { document.title = "(" + unread + ") " + document.title; }
  }

  // ------------------------------------------------------------ conversation

  function markRead() {
    var token = document.querySelector("input[name=csrfmiddlewaretoken]");
    var thread = threadElement();
    if (document.hidden || !token || !thread) { return; }
    fetch(thread.dataset.readUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: {"X-CSRFToken": token.value}
    });
  }

  function refreshThread(read) {
    var thread = threadElement();
    if (!thread) { return; }
    var url = thread.dataset.refreshUrl;
    coalesced("thread", function () {
      return get(url).then(function (response) {
        if (!response.ok) { return; }
        return response.text().then(function (html) {
          var current = threadElement();
          if (!current || current.dataset.refreshUrl !== url) { return; }
          var scroller = document.getElementById("thread-scroll");
          var atBottom = scroller
            ? scroller.scrollTop + scroller.clientHeight >= scroller.scrollHeight - 40
            : window.innerHeight + window.scrollY >= document.body.scrollHeight - 40;
          current.innerHTML = html;
          if (atBottom) {
            if (scroller) { scroller.scrollTop = scroller.scrollHeight; }
            else { window.scrollTo(0, document.body.scrollHeight); }
          }
          document.dispatchEvent(new CustomEvent("pingback:thread-updated"));
          if (read) { markRead(); }
        });
      });
    });
  }

  // ------------------------------------------------------------------ events

  function handle(event) {
    // Other scripts of the page (notifications, presence) listen too.
    document.dispatchEvent(new CustomEvent("pingback:event", {detail: event}));
    if (event.type === "resync") { catchUp(); return; }
    var thread = threadElement();
    if (listElement() && event.type === "conversation") {
      refreshRow(event.conversation_id);
    }
    if (thread && String(event.conversation_id) === thread.dataset.conversationId) {
      if (event.type === "message") { refreshThread(true); }
      if (event.type === "message_status") { refreshThread(false); }
    }
  }

  function catchUp() {
    // Settles when the list pane has been fetched again (the thread is
    // fetched beside it); never rejects.
    var list = listElement() ? refreshList() : null;
    if (threadElement()) { refreshThread(false); }
    return Promise.resolve(list).catch(function () {});
  }

  function startFallback() {
    if (!fallbackTimer) { fallbackTimer = setInterval(catchUp, FALLBACK_REFRESH); }
  }

  function stopFallback() {
    clearInterval(fallbackTimer);
    fallbackTimer = null;
  }

  var socket = null;

  // window.PingBack.live.send({...}): a JSON frame to the server while
  // connected (presence, typing); false when it could not be sent.
  window.PingBack = window.PingBack || {};
  window.PingBack.live = {
    // Fetch the open thread again (after an action whose events may lag).
    refreshThread: function () { refreshThread(false); },
    send: function (frame) {
      if (!socket || socket.readyState !== WebSocket.OPEN) { return false; }
      socket.send(JSON.stringify(frame));
      return true;
    }
  };

  function connect() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + location.host + socketPath);
    var opened = false;
    socket.onopen = function () {
      opened = true;
      delay = MIN_DELAY;
      stopFallback();
      document.dispatchEvent(new CustomEvent("pingback:connected"));
      // Whatever happened between rendering and now (or while disconnected);
      // "Live" once the page has caught up, so what it shows then is current.
      catchUp().then(function () {
        if (socket && socket.readyState === WebSocket.OPEN) { setState("connected", gettext("Live")); }
      });
    };
    socket.onmessage = function (message) {
      var event;
      try { event = JSON.parse(message.data); } catch (error) { return; }
      handle(event);
    };
    socket.onclose = function (closing) {
      // 4403: this member was deactivated; reloading leads to the login page.
      if (closing.code === 4403) { location.reload(); return; }
      setState("disconnected", opened ? gettext("Reconnecting…") : gettext("Offline: retrying…"));
      startFallback();
      var wait = delay / 2 + Math.random() * delay / 2;
      delay = Math.min(delay * 2, MAX_DELAY);
      setTimeout(connect, wait);
    };
  }

  connect();
})();
