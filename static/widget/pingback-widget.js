/*
 * PingBack web chat widget. Embed with one script tag naming the channel:
 *
 *   <script src="https://<pingback host>/static/widget/pingback-widget.js"
 *           data-pingback-channel="<channel id>" async></script>
 *
 * Draws a chat button and window (in a shadow root, so the page's CSS does not
 * leak in) with the channel's brand colour, logo and welcome message, and talks
 * to PingBack over a websocket (/ws/widget/<channel id>/; the frames are
 * described in channels_app/widget/consumers.py).
 *
 * - The visitor token PingBack issues is kept in localStorage, so a returning
 *   visitor keeps their conversation and sees its history.
 * - Each message gets a UUID made here. Messages written while offline wait in
 *   an outbox (also in localStorage) and are sent, with the same UUIDs, once
 *   connected; PingBack stores a resent message once.
 * - A dropped connection is retried with backoff; on reconnecting, the widget
 *   sends the last message id it has and PingBack sends what it missed.
 * - While the visitor types, a `typing` frame goes out at most every 2 s (the
 *   agents see "The customer is typing…"); while an agent types a reply,
 *   PingBack sends `typing` and the widget shows "typing…" for a few seconds
 *   (never who).
 * - The widget's texts follow the visitor's browser: the hello frame names
 *   navigator.language, and PingBack's welcome carries the texts (`strings`)
 *   in that language when it has a translation (else the handshake's
 *   Accept-Language, else English); the English ones below are the fallback.
 * - A site that knows who the visitor is says so, with its user id and an
 *   HMAC-SHA256 of it under the widget's identity secret (computed by the
 *   site's server), either on the script tag
 *     data-pingback-identifier, data-pingback-identifier-hash,
 *     data-pingback-name, data-pingback-email, data-pingback-phone
 *   or later from its own code:
 *     PingBackWidget.identify({identifier, identifier_hash, name, email,
 *                              phone, attributes})
 *   The widget sends it after each welcome (an `identify` frame); PingBack
 *   applies it only when the hash verifies. A refusal is logged to the
 *   console, never shown to the visitor.
 * - When a conversation is resolved and the business asks for ratings,
 *   PingBack's question carries `rating` ({token, score}); the widget shows
 *   a 1–5 rating with an optional comment under it and sends a `rating`
 *   frame. The comment typed stays while the widget redraws, and after a
 *   refusal (shown beside the rating).
 */
(function () {
  "use strict";

  var script = document.currentScript || document.querySelector("script[data-pingback-channel]");
  if (!script || window.PingBackWidget) { return; }
  var channelId = script.getAttribute("data-pingback-channel");
  if (!channelId || !window.WebSocket) { return; }

  var MIN_DELAY = 1000;
  var MAX_DELAY = 30000;
  var CLOSE_CHANNEL_INACTIVE = 4403;
  var TYPING_EVERY = 2000;
  var TYPING_SHOWN = 6000;
  var base = new URL(script.src, location.href);
  var socketUrl = (base.protocol === "https:" ? "wss://" : "ws://") + base.host +
    "/ws/widget/" + encodeURIComponent(channelId) + "/";
  var storageKey = "pingback-widget:" + channelId;

  var stored = load();
  var token = stored.token || null;
  var outbox = Array.isArray(stored.outbox) ? stored.outbox : [];
  var messages = [];
  var lastId = null;
  var socket = null;
  var ready = false;
  var everConnected = false;
  var inFlight = {};
  var delay = MIN_DELAY;
  var nextDelay = null;
  var flushTimer = null;
  var ui = null;
  var lastTyping = 0;
  var typingLater = null;
  var typingTimer = null;
  var identity = identityFromScript();
  // The widget's texts: English until a welcome brings the visitor's language.
  var strings = {
    open_chat: "Open chat",
    chat: "Chat",
    close_chat: "Close chat",
    your_message: "Your message",
    placeholder: "Write a message…",
    send: "Send",
    typing: "typing…",
    closed: "This chat is closed.",
    reconnecting: "Reconnecting… Messages you write are sent once the connection is back.",
    sending: "Sending…",
    not_sent: "Not sent: %(reason)s",
    rate_conversation: "Rate this conversation",
    score_label: "%(score)s of 5: %(word)s",
    score_1: "Bad",
    score_2: "Poor",
    score_3: "OK",
    score_4: "Good",
    score_5: "Great",
    rating_comment: "Comment (optional)",
    send_rating: "Send rating",
    rated: "You rated us %(score)s of 5. Thank you!",
    not_connected: "Not connected: try again in a moment."
  };
  var language = "";

  function t(key) { return strings[key]; }

  // t(key) with its %(name)s placeholders filled in from `values`.
  function tf(key, values) {
    return t(key).replace(/%\((\w+)\)s/g, function (all, name) {
      return name in values ? String(values[name]) : all;
    });
  }

  // ----------------------------------------------------------------- storage

  function load() {
    try { return JSON.parse(localStorage.getItem(storageKey)) || {}; } catch (error) { return {}; }
  }

  function save() {
    try {
      localStorage.setItem(storageKey, JSON.stringify({token: token, outbox: outbox}));
    } catch (error) { /* private mode: the visitor is new on each visit */ }
  }

  // crypto.randomUUID needs a secure context; getRandomValues does not.
  function uuid4() {
    var bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    var hex = Array.prototype.map.call(bytes, function (b) { return (b + 0x100).toString(16).slice(1); }).join("");
    return hex.slice(0, 8) + "-" + hex.slice(8, 12) + "-" + hex.slice(12, 16) + "-" + hex.slice(16, 20) + "-" + hex.slice(20);
  }

  // ---------------------------------------------------------------- identity

  function identityFromScript() {
    var found = {};
    ["identifier", "identifier-hash", "name", "email", "phone"].forEach(function (key) {
      var value = script.getAttribute("data-pingback-" + key);
      if (value) { found[key.replace("-", "_")] = value; }
    });
    return found.identifier && found.identifier_hash ? found : null;
  }

  function identify(data) {
    if (!data || typeof data !== "object") { return; }
    var frame = {type: "identify"};
    ["identifier", "identifier_hash", "name", "email", "phone"].forEach(function (key) {
      if (typeof data[key] === "string" && data[key]) { frame[key] = data[key]; }
    });
    if (data.attributes && typeof data.attributes === "object") { frame.attributes = data.attributes; }
    identity = frame;
    sendIdentity();
  }

  function sendIdentity() {
    if (!identity || !ready || socket.readyState !== WebSocket.OPEN) { return; }
    var frame = {type: "identify"};
    Object.keys(identity).forEach(function (key) { if (key !== "type") { frame[key] = identity[key]; } });
    socket.send(JSON.stringify(frame));
  }

  // -------------------------------------------------------------- connection

  function connect() {
    ready = false;
    inFlight = {};
    socket = new WebSocket(socketUrl);
    socket.onopen = function () {
      socket.send(JSON.stringify({type: "hello", token: token, last_message_id: lastId,
        language: navigator.language || ""}));
    };
    socket.onmessage = function (event) {
      var frame;
      try { frame = JSON.parse(event.data); } catch (error) { return; }
      receive(frame);
    };
    socket.onclose = function (event) {
      ready = false;
      if (event.code === CLOSE_CHANNEL_INACTIVE) {
        setStatus(t("closed"));
        return;
      }
      if (!everConnected && delay === MIN_DELAY && window.console) {
        console.warn("PingBack widget: cannot connect to " + socketUrl +
          " (is this site in the widget's allowed domains?); retrying.");
      }
      setStatus(t("reconnecting"));
      setState("reconnecting");
      var wait = nextDelay !== null ? nextDelay : delay / 2 + Math.random() * delay / 2;
      nextDelay = null;
      delay = Math.min(delay * 2, MAX_DELAY);
      setTimeout(connect, wait);
    };
  }

  function receive(frame) {
    if (frame.type === "welcome") {
      token = frame.token;
      save();
      if (frame.strings && typeof frame.strings === "object") {
        Object.keys(strings).forEach(function (key) {
          if (typeof frame.strings[key] === "string") { strings[key] = frame.strings[key]; }
        });
        language = typeof frame.language === "string" ? frame.language : "";
      }
      ready = true;
      everConnected = true;
      delay = MIN_DELAY;
      sendIdentity();
      whenBodyReady(function () {
        if (!ui) { build(frame.settings); }
        frame.messages.forEach(merge);
        outbox.forEach(showPending);
        render();
        setStatus("");
        setState("connected");
        flush();
      });
    } else if (frame.type === "ack") {
      acknowledged(frame.id);
    } else if (frame.type === "typing") {
      showTyping(true);
    } else if (frame.type === "message") {
      if (frame.message.direction === "outbound") { showTyping(false); }
      merge(frame.message);
      render();
      if (ui && !ui.open && frame.message.direction === "outbound") { ui.launcher.classList.add("unread"); }
    } else if (frame.type === "rated") {
      ratingAnswered(frame.token, frame.score, "");
    } else if (frame.type === "error" && (frame.code === "invalid_rating" || frame.code === "rating_refused")) {
      ratingAnswered(frame.token, null, frame.detail);
    } else if (frame.type === "error" && (frame.code === "identity_refused" || frame.code === "invalid_identity")) {
      if (window.console) { console.warn("PingBack widget: identification refused: " + frame.detail); }
    } else if (frame.type === "error") {
      refused(frame);
    }
  }

  function send(text) {
    var item = {id: uuid4(), text: text};
    outbox.push(item);
    save();
    showPending(item);
    render();
    flush();
  }

  // At most one typing frame per TYPING_EVERY: the first at once, and one
  // at the end of the interval if the visitor typed during it.
  function typing() {
    if (typingLater) { return; }
    var wait = lastTyping + TYPING_EVERY - Date.now();
    if (wait > 0) {
      typingLater = setTimeout(function () { typingLater = null; sendTyping(); }, wait);
      return;
    }
    sendTyping();
  }

  function sendTyping() {
    if (!ready || socket.readyState !== WebSocket.OPEN) { return; }
    lastTyping = Date.now();
    socket.send(JSON.stringify({type: "typing"}));
  }

  function showTyping(shown) {
    if (!ui) { return; }
    clearTimeout(typingTimer);
    ui.typing.hidden = !shown;
    if (shown) { typingTimer = setTimeout(function () { ui.typing.hidden = true; }, TYPING_SHOWN); }
  }

  function flush() {
    if (!ready || socket.readyState !== WebSocket.OPEN) { return; }
    outbox.forEach(function (item) {
      if (inFlight[item.id]) { return; }
      inFlight[item.id] = true;
      socket.send(JSON.stringify({type: "message", id: item.id, text: item.text}));
    });
  }

  function acknowledged(id) {
    outbox = outbox.filter(function (item) { return item.id !== id; });
    delete inFlight[id];
    save();
    var shown = find(null, id);
    if (shown) { shown.pending = false; }
    render();
  }

  function refused(frame) {
    if (frame.code === "rate_limited" && frame.id) {
      // Kept in the outbox and sent again when the limit allows.
      delete inFlight[frame.id];
      setStatus(frame.detail);
      clearTimeout(flushTimer);
      flushTimer = setTimeout(function () { setStatus(""); flush(); }, (frame.retry_after || 5) * 1000);
      return;
    }
    if (frame.code === "rate_limited") {
      nextDelay = (frame.retry_after || 30) * 1000;
      return;
    }
    if (frame.id) {
      // Refused for good (empty, too long): drop it from the outbox.
      outbox = outbox.filter(function (item) { return item.id !== frame.id; });
      delete inFlight[frame.id];
      save();
      var shown = find(null, frame.id);
      if (shown) { shown.pending = false; shown.error = frame.detail; }
      render();
      return;
    }
    setStatus(frame.detail);
  }

  // ---------------------------------------------------------------- messages

  function find(id, clientId) {
    for (var i = 0; i < messages.length; i++) {
      var m = messages[i];
      if ((id !== null && m.id === id) || (clientId && m.client_id === clientId)) { return m; }
    }
    return null;
  }

  function merge(message) {
    if (message.id !== null && message.id !== undefined) {
      lastId = lastId === null ? message.id : Math.max(lastId, message.id);
    }
    var known = find(message.id === undefined ? null : message.id, message.client_id);
    if (known) {
      if (message.id !== null) { known.id = message.id; }
      if (message.rating && known.rating && message.rating.score) { known.rating.score = message.rating.score; }
      if (!outbox.some(function (item) { return item.id === known.client_id; })) { known.pending = false; }
      return;
    }
    messages.push({
      id: message.id,
      client_id: message.client_id,
      direction: message.direction,
      text: message.text,
      attachments: message.attachments || [],
      rating: message.rating ? {token: message.rating.token, score: message.rating.score, error: ""} : null,
      pending: false
    });
  }

  // ------------------------------------------------------------------ rating

  function findRating(ratingToken) {
    for (var i = 0; i < messages.length; i++) {
      if (messages[i].rating && messages[i].rating.token === ratingToken) { return messages[i]; }
    }
    return null;
  }

  function ratingAnswered(ratingToken, score, error) {
    var message = findRating(ratingToken);
    if (!message) { return; }
    message.rating.sending = false;
    message.rating.error = error || "";
    if (score) { message.rating.score = score; }
    updateRating(message);
  }

  function sendRating(message) {
    var rating = message.rating;
    if (rating.sending) { return; }
    if (!ready || socket.readyState !== WebSocket.OPEN) {
      rating.error = t("not_connected");
      updateRating(message);
      return;
    }
    rating.sending = true;
    rating.error = "";
    updateRating(message);
    socket.send(JSON.stringify({
      type: "rating", token: rating.token, score: rating.chosen || null,
      comment: rating.element.querySelector("textarea").value
    }));
  }

  // The rating under a question: built once per message and kept, so the
  // comment typed and the focus survive each redraw of the list.
  function ratingElement(message) {
    var rating = message.rating;
    if (rating.element) { return rating.element; }
    var box = document.createElement("div");
    box.className = "rating";
    box.setAttribute("role", "group");
    box.setAttribute("aria-label", t("rate_conversation"));
    var scores = document.createElement("div");
    scores.className = "rating-scores";
    for (var score = 1; score <= 5; score++) {
      var button = document.createElement("button");
      button.type = "button";
      button.dataset.score = score;
      button.setAttribute("aria-pressed", "false");
      button.setAttribute("aria-label", tf("score_label", {score: score, word: t("score_" + score)}));
      button.textContent = String(score);
      scores.appendChild(button);
    }
    scores.addEventListener("click", function (event) {
      var target = event.target.closest("button[data-score]");
      if (!target) { return; }
      rating.chosen = Number(target.dataset.score);
      updateRating(message);
    });
    var comment = document.createElement("textarea");
    comment.placeholder = t("rating_comment");
    comment.setAttribute("aria-label", t("rating_comment"));
    comment.maxLength = 2000;
    var error = document.createElement("p");
    error.className = "rating-error";
    error.setAttribute("role", "alert");
    var send = document.createElement("button");
    send.type = "button";
    send.className = "rating-send";
    send.textContent = t("send_rating");
    send.addEventListener("click", function () { sendRating(message); });
    var done = document.createElement("p");
    done.className = "rating-done";
    box.append(scores, comment, error, send, done);
    rating.element = box;
    updateRating(message);
    return box;
  }

  function updateRating(message) {
    var rating = message.rating;
    var box = rating.element;
    if (!box) { return; }
    var rated = Boolean(rating.score);
    box.querySelectorAll("button[data-score]").forEach(function (button) {
      var pressed = Number(button.dataset.score) === (rating.score || rating.chosen);
      button.setAttribute("aria-pressed", pressed ? "true" : "false");
      button.disabled = rated;
    });
    box.querySelector("textarea").hidden = rated;
    box.querySelector(".rating-send").hidden = rated;
    box.querySelector(".rating-send").disabled = Boolean(rating.sending);
    box.querySelector(".rating-error").textContent = rating.error || "";
    box.querySelector(".rating-done").textContent = rated ? tf("rated", {score: rating.score}) : "";
    box.dataset.state = rated ? "rated" : (rating.sending ? "sending" : "open");
  }

  function showPending(item) {
    if (find(null, item.id)) { return; }
    messages.push({id: null, client_id: item.id, direction: "inbound", text: item.text, attachments: [], pending: true});
  }

  // ---------------------------------------------------------------------- UI

  function whenBodyReady(callback) {
    if (document.body) { callback(); return; }
    document.addEventListener("DOMContentLoaded", callback);
  }

  var STYLE = [
    ":host { all: initial; }",
    "* { box-sizing: border-box; font: 14px/1.4 system-ui, -apple-system, 'Segoe UI', sans-serif; }",
    ".launcher { position: fixed; right: 20px; bottom: 20px; width: 56px; height: 56px; border-radius: 50%; border: 0;",
    "  background: var(--pb-brand); color: #fff; cursor: pointer; box-shadow: 0 4px 14px rgba(0,0,0,.25);",
    "  display: flex; align-items: center; justify-content: center; z-index: 2147483000; padding: 0; }",
    ".launcher img { width: 34px; height: 34px; border-radius: 50%; object-fit: cover; }",
    ".launcher svg { width: 28px; height: 28px; fill: #fff; }",
    ".launcher.unread::after { content: ''; position: absolute; top: 4px; right: 4px; width: 12px; height: 12px;",
    "  border-radius: 50%; background: #e5484d; border: 2px solid #fff; }",
    ".window { position: fixed; right: 20px; bottom: 88px; width: 340px; max-width: calc(100vw - 40px); height: 460px;",
    "  max-height: calc(100vh - 120px); background: #fff; color: #1d2330; border-radius: 12px; display: flex;",
    "  flex-direction: column; overflow: hidden; box-shadow: 0 8px 30px rgba(0,0,0,.25); z-index: 2147483000; }",
    ".window[hidden] { display: none; }",
    "header { background: var(--pb-brand); color: #fff; padding: 10px 12px; display: flex; align-items: center; gap: 8px; }",
    "header img { width: 28px; height: 28px; border-radius: 50%; object-fit: cover; background: #fff; }",
    "header .title { flex: 1; font-weight: 600; }",
    "header button { background: none; border: 0; color: #fff; font-size: 20px; cursor: pointer; line-height: 1; }",
    "ol { list-style: none; margin: 0; padding: 12px; flex: 1; overflow-y: auto; background: #f5f6f8; }",
    "li { max-width: 80%; margin: 6px 0; padding: 8px 10px; border-radius: 12px; white-space: pre-wrap; word-wrap: break-word; }",
    "li.outbound { background: #fff; border: 1px solid #e4e7ee; }",
    "li.inbound { margin-left: auto; background: var(--pb-brand); color: #fff; }",
    "li .note { display: block; font-size: 11px; opacity: .8; margin-top: 2px; }",
    "li a { color: inherit; }",
    ".typing { font-size: 12px; color: #5b6475; font-style: italic; padding: 4px 12px; background: #f5f6f8; }",
    ".typing[hidden] { display: none; }",
    ".status { font-size: 12px; color: #8a5a1c; padding: 0 12px; min-height: 0; }",
    ".status:not(:empty) { padding: 6px 12px; background: #fff4d6; }",
    "form { display: flex; gap: 6px; padding: 8px; border-top: 1px solid #e4e7ee; }",
    "textarea { flex: 1; resize: none; border: 1px solid #c9cfdb; border-radius: 8px; padding: 6px 8px; height: 40px; }",
    "form button { background: var(--pb-brand); color: #fff; border: 0; border-radius: 8px; padding: 0 14px; cursor: pointer; }",
    ".rating { white-space: normal; margin-top: 8px; display: flex; flex-direction: column; gap: 6px; }",
    ".rating-scores { display: flex; gap: 4px; }",
    ".rating-scores button { flex: 1; min-width: 0; height: 34px; border: 1px solid #c9cfdb; border-radius: 8px; background: #fff;",
    "  color: #1d2330; font-weight: 600; cursor: pointer; }",
    ".rating-scores button[aria-pressed=true] { background: var(--pb-brand); border-color: var(--pb-brand); color: #fff; }",
    ".rating-scores button:disabled { cursor: default; }",
    ".rating textarea { flex: none; width: 100%; height: 56px; }",
    ".rating textarea[hidden], .rating button[hidden] { display: none; }",
    ".rating-send { align-self: flex-end; background: var(--pb-brand); color: #fff; border: 0; border-radius: 8px; padding: 6px 12px; cursor: pointer; }",
    ".rating-error { margin: 0; color: #b3261e; font-size: 12px; }",
    ".rating-error:empty, .rating-done:empty { display: none; }",
    ".rating-done { margin: 0; font-size: 12px; color: #2b6a3a; }"
  ].join("\n");

  var CHAT_ICON = '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z"/></svg>';

  // The widget's CSS as a constructed stylesheet: a site whose own
  // Content-Security-Policy forbids inline styles (`style-src` without
  // 'unsafe-inline') still shows the widget styled. Browsers without
  // constructed stylesheets get a <style> element.
  function adoptStyle(root) {
    if (window.CSSStyleSheet && "adoptedStyleSheets" in root) {
      try {
        var sheet = new CSSStyleSheet();
        sheet.replaceSync(STYLE);
        root.adoptedStyleSheets = [sheet];
        return;
      } catch (error) { /* fall back to a <style> element */ }
    }
    var style = document.createElement("style");
    style.textContent = STYLE;
    root.prepend(style);
  }

  function build(settings) {
    var host = document.createElement("div");
    host.id = "pingback-widget";
    host.style.setProperty("--pb-brand", settings.brand_color);
    var root = host.attachShadow({mode: "open"});
    root.innerHTML =
      '<button class="launcher" type="button">' + CHAT_ICON + "</button>" +
      '<section class="window" role="dialog" hidden>' +
      '<header><img alt="" hidden><span class="title"></span><button type="button" class="close">×</button></header>' +
      '<ol class="messages" aria-live="polite"></ol>' +
      '<div class="typing" aria-live="polite" hidden></div>' +
      '<div class="status" role="status"></div>' +
      '<form><textarea maxlength="5000"></textarea>' +
      '<button type="submit"></button></form>' +
      "</section>";
    // Texts set as text, never parsed as HTML.
    root.querySelector(".launcher").setAttribute("aria-label", t("open_chat"));
    root.querySelector(".window").setAttribute("aria-label", t("chat"));
    if (language) { root.querySelector(".window").setAttribute("lang", language); }
    root.querySelector(".close").setAttribute("aria-label", t("close_chat"));
    root.querySelector(".typing").textContent = t("typing");
    root.querySelector("textarea").setAttribute("aria-label", t("your_message"));
    root.querySelector("textarea").setAttribute("placeholder", t("placeholder"));
    root.querySelector("form button").textContent = t("send");
    adoptStyle(root);
    ui = {
      host: host,
      root: root,
      open: false,
      launcher: root.querySelector(".launcher"),
      window: root.querySelector(".window"),
      list: root.querySelector(".messages"),
      status: root.querySelector(".status"),
      typing: root.querySelector(".typing"),
      input: root.querySelector("textarea"),
      form: root.querySelector("form"),
      welcome: settings.welcome_message
    };
    root.querySelector(".title").textContent = settings.name;
    if (settings.logo_url) {
      var logo = root.querySelector("header img");
      logo.src = settings.logo_url;
      logo.hidden = false;
      var launcherLogo = document.createElement("img");
      launcherLogo.src = settings.logo_url;
      launcherLogo.alt = "";
      ui.launcher.replaceChildren(launcherLogo);
    }
    ui.launcher.addEventListener("click", function () { toggle(!ui.open); });
    root.querySelector(".close").addEventListener("click", function () { toggle(false); });
    ui.form.addEventListener("submit", function (event) {
      event.preventDefault();
      var text = ui.input.value.trim();
      if (!text) { return; }
      ui.input.value = "";
      send(text);
    });
    ui.input.addEventListener("input", typing);
    ui.input.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey) {
        event.preventDefault();
        ui.form.requestSubmit();
      }
    });
    document.body.appendChild(host);
  }

  function toggle(open) {
    ui.open = open;
    ui.window.hidden = !open;
    ui.launcher.classList.remove("unread");
    if (open) {
      ui.list.scrollTop = ui.list.scrollHeight;
      ui.input.focus();
    }
  }

  function bubble(direction, text) {
    var item = document.createElement("li");
    item.className = direction;
    item.textContent = text;
    return item;
  }

  function render() {
    if (!ui) { return; }
    var items = [];
    if (ui.welcome) { items.push(bubble("outbound welcome", ui.welcome)); }
    messages.forEach(function (message) {
      var item = bubble(message.direction, message.text);
      if (message.id !== null && message.id !== undefined) { item.dataset.id = message.id; }
      message.attachments.forEach(function (attachment) {
        var link = document.createElement("a");
        link.href = attachment.url;
        link.target = "_blank";
        link.rel = "noopener noreferrer";
        link.textContent = attachment.name;
        item.appendChild(document.createElement("br"));
        item.appendChild(link);
      });
      if (message.rating && message.direction === "outbound") { item.appendChild(ratingElement(message)); }
      if (message.pending || message.error) {
        var note = document.createElement("span");
        note.className = "note";
        note.textContent = message.error ? t("not_sent").replace("%(reason)s", function () { return message.error; }) : t("sending");
        item.appendChild(note);
        item.classList.add(message.error ? "failed" : "pending");
      }
      items.push(item);
    });
    var focused = ui.root.activeElement;
    ui.list.replaceChildren.apply(ui.list, items);
    if (focused && focused.isConnected && ui.root.activeElement !== focused) { focused.focus(); }
    ui.list.scrollTop = ui.list.scrollHeight;
  }

  function setStatus(text) {
    if (ui) { ui.status.textContent = text; }
  }

  function setState(state) {
    if (ui) { ui.host.dataset.state = state; }
  }

  window.PingBackWidget = {
    open: function () { if (ui) { toggle(true); } },
    close: function () { if (ui) { toggle(false); } },
    identify: identify
  };
  connect();
})();
