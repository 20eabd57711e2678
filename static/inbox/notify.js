// Agent notifications in the browser. The server sends each agent's pages
// {"type": "notification", "kind": "new_conversation" | "reply" | "mention",
//  "conversation_id": 12, "title": "...", "body": "..."} (live.js re-dispatches
// it as the document event "pingback:event"). For each one, unless it is about
// the conversation open in a visible page:
// - a browser Notification (when permission is granted), one per conversation
//   (tag "conversation-<id>", so repeats replace each other); clicking it
//   focuses the window and opens /conversations/<id>/;
// - the notification sound, when <body data-notify-sound="1">;
// - one more in the unread count of the tab title: "(3) Inbox · PingBack",
//   cleared when the page is visible and focused again.
// Any [data-enable-notifications] element asks for permission when clicked
// (never on load); [data-notification-state] elements show the permission.
(function () {
  "use strict";
  // Translations: /jsi18n/ (Django's JavaScript catalog, loaded first by
  // base.html) defines gettext/ngettext/interpolate; English without it.
  var gettext = window.gettext || function (text) { return text; };
  var ngettext = window.ngettext || function (one, many, n) { return n === 1 ? one : many; };
  var interpolate = window.interpolate || function (format, values) {
    return format.replace(/%\((\w+)\)s/g, function (match, name) { return String(values[name]); });
  };

  // Next to this script: static/inbox/sounds/notification.wav.
  var SOUND_URL = new URL("sounds/notification.wav",
    (document.currentScript && document.currentScript.src) || location.origin + "/static/inbox/").href;
  var unread = 0;
  var audio = null;

  function supported() { return typeof window.Notification === "function"; }

  function permission() { return supported() ? Notification.permission : "unsupported"; }

  function openConversationId() {
    var presence = document.querySelector("[data-presence-for]");
    if (presence) { return presence.getAttribute("data-presence-for"); }
    var thread = document.querySelector("#thread-container[data-conversation-id]");
    return thread ? thread.getAttribute("data-conversation-id") : null;
  }

  function attending() { return !document.hidden && document.hasFocus(); }

  // live.js also prefixes the inbox list's title with its unread-message
  // count: whichever counted last shows; neither stacks on the other.
  function setTitle() {
    var base = document.title.replace(/^\(\d+\) /, "");
    document.title = unread ? "(" + unread + ") " + base : base;
  }

  function clearUnread() {
    if (!unread || !attending()) { return; }
    unread = 0;
    setTitle();
  }

  function playSound() {
    if (document.body.dataset.notifySound !== "1") { return; }
    if (!audio) { audio = new Audio(SOUND_URL); }
    audio.currentTime = 0;
    var played = audio.play();
    // Browsers refuse sound before the user has interacted with the page.
    if (played && played.catch) { played.catch(function () {}); }
  }

  function conversationUrl(id) { return "/conversations/" + encodeURIComponent(id) + "/"; }

  function showNotification(event) {
    if (permission() !== "granted") { return; }
    var notification = new Notification(event.title || "PingBack", {
      body: event.body || "",
      tag: "conversation-" + event.conversation_id,
      renotify: true
    });
    notification.onclick = function () {
      window.focus();
      notification.close();
      var url = conversationUrl(event.conversation_id);
      if (location.pathname !== url) { location.assign(url); }
    };
  }

  function onEvent(domEvent) {
    var event = domEvent.detail;
    if (!event || event.type !== "notification") { return; }
    var sameConversation = String(event.conversation_id) === openConversationId();
    if (sameConversation && !document.hidden) { return; }
    showNotification(event);
    playSound();
    if (!attending()) {
      unread += 1;
      setTitle();
    }
  }

  function renderState() {
    var state = permission();
    var text = {
      granted: gettext("Browser notifications are on for this browser."),
      denied: gettext("Browser notifications are blocked for this site: allow them in the browser's site settings."),
      "default": gettext("Browser notifications are off for this browser."),
      unsupported: gettext("This browser does not show notifications.")
    }[state];
    document.querySelectorAll("[data-notification-state]").forEach(function (element) {
      element.textContent = text;
      element.setAttribute("data-notification-state", state);
    });
    document.querySelectorAll("[data-enable-notifications]").forEach(function (button) {
      button.hidden = state === "granted" || state === "unsupported";
      button.disabled = state === "denied";
    });
  }

  function onClick(event) {
    var button = event.target.closest && event.target.closest("[data-enable-notifications]");
    if (!button || !supported()) { return; }
    event.preventDefault();
    var asked = Notification.requestPermission(renderState);
    if (asked && asked.then) { asked.then(renderState); }
  }

  document.addEventListener("pingback:event", onEvent);
  document.addEventListener("click", onClick);
  document.addEventListener("visibilitychange", clearUnread);
  window.addEventListener("focus", clearUnread);

  function start() { renderState(); }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }

  window.PingBack = window.PingBack || {};
  window.PingBack.notify = {
    unread: function () { return unread; },
    renderState: renderState
  };
})();
