// Agent presence on the inbox pages, over the agents' websocket (live.js):
// who else views or types in a conversation, who is online, and the customer
// typing. Frames and events are described in conversations/consumers.py and
// conversations/realtime.py.
//
// - Sends {"type": "presence", "conversation_id": id | null} on each
//   (re)connection (`pingback:connected`), when a conversation pane is loaded
//   (`pingback:pane-loaded`, detail {conversationId}; null when none is open)
//   and every 30 s as a heartbeat.
// - Sends {"type": "typing", "conversation_id": id} at most every 2 s while
//   the agent types in #reply-text (the conversation named by the page's
//   [data-presence-for] element).
// - Renders `presence` events into [data-presence-for="<conversation id>"]
//   ("Ana Silva is typing…", "The customer is typing…", "Ana Silva is
//   viewing"), never naming the current agent (body data-user-id), and
//   `agents_online` events into every [data-online-agents] element.
(function () {
  "use strict";
  // Translations: /jsi18n/ (Django's JavaScript catalog, loaded first by
  // base.html) defines gettext/ngettext/interpolate; English without it.
  var gettext = window.gettext || function (text) { return text; };
  var ngettext = window.ngettext || function (one, many, n) { return n === 1 ? one : many; };
  var interpolate = window.interpolate || function (format, values) {
    return format.replace(/%\((\w+)\)s/g, function (match, name) { return String(values[name]); });
  };

  var HEARTBEAT = 30000;
  var TYPING_EVERY = 2000;
  var me = Number(document.body.dataset.userId) || null;
  var current = null;
  var lastTyping = 0;
  var lastTypingFor = null;
  var known = {};
  var online = null;

  function send(frame) {
    var live = window.PingBack && window.PingBack.live;
    return live ? live.send(frame) : false;
  }

  function conversationOfPage() {
    var element = document.querySelector("[data-presence-for]");
    var id = element ? Number(element.getAttribute("data-presence-for")) : 0;
    return id > 0 ? id : null;
  }

  function announce() {
    send({type: "presence", conversation_id: current});
  }

  document.addEventListener("pingback:connected", function () {
    current = conversationOfPage() || current;
    announce();
  });

  document.addEventListener("pingback:pane-loaded", function (event) {
    var id = event.detail ? Number(event.detail.conversationId) : 0;
    current = id > 0 ? id : null;
    announce();
    if (current && known[current]) { render(known[current]); }
    if (online) { renderOnline(online); }
  });

  document.addEventListener("pingback:list-loaded", function () {
    if (online) { renderOnline(online); }
  });

  setInterval(announce, HEARTBEAT);

  // At most one typing frame per TYPING_EVERY for a conversation: the first
  // at once, and one at the end of the interval if the agent typed during it.
  var typingLater = null;

  function sendTyping() {
    var id = conversationOfPage() || current;
    if (id && send({type: "typing", conversation_id: id})) {
      lastTyping = Date.now();
      lastTypingFor = id;
    }
  }

  document.addEventListener("input", function (event) {
    if (!event.target || event.target.id !== "reply-text" || typingLater) { return; }
    var id = conversationOfPage() || current;
    var wait = lastTyping + TYPING_EVERY - Date.now();
    if (id === lastTypingFor && wait > 0) {
      typingLater = setTimeout(function () { typingLater = null; sendTyping(); }, wait);
      return;
    }
    sendTyping();
  });

  // ---------------------------------------------------------------- render

  function names(people) {
    var list = people.map(function (person) { return person.name; });
    if (list.length <= 1) { return list.join(""); }
    return interpolate(gettext("%(names)s and %(last)s"), {names: list.slice(0, -1).join(", "), last: list[list.length - 1]}, true);
  }

  function line(className, text) {
    var span = document.createElement("span");
    span.className = className;
    span.textContent = text;
    return span;
  }

  function render(event) {
    var selector = '[data-presence-for="' + Number(event.conversation_id) + '"]';
    var elements = document.querySelectorAll(selector);
    if (!elements.length) { return; }
    var others = function (person) { return person.id === null || person.id !== me; };
    var typing = event.typing.filter(others);
    var customer = typing.some(function (person) { return person.id === null; });
    var agents = typing.filter(function (person) { return person.id !== null; });
    var typingIds = agents.map(function (person) { return person.id; });
    var viewing = event.viewing.filter(others).filter(function (person) {
      return typingIds.indexOf(person.id) === -1;
    });
    var lines = [];
    if (customer) { lines.push(line("presence-typing presence-customer", gettext("The customer is typing…"))); }
    if (agents.length) {
      lines.push(line("presence-typing", interpolate(ngettext("%(names)s is typing…", "%(names)s are typing…", agents.length), {names: names(agents)}, true)));
    }
    if (viewing.length) {
      lines.push(line("presence-viewing", interpolate(ngettext("%(names)s is viewing", "%(names)s are viewing", viewing.length), {names: names(viewing)}, true)));
    }
    elements.forEach(function (element) {
      element.classList.add("presence");
      element.replaceChildren.apply(element, lines);
      element.hidden = lines.length === 0;
    });
  }

  function renderOnline(event) {
    document.querySelectorAll("[data-online-agents]").forEach(function (element) {
      var items = event.agents.map(function (agent) {
        var item = document.createElement("li");
        item.className = "presence-agent";
        item.dataset.userId = agent.id;
        var dot = document.createElement("span");
        dot.className = "presence-dot";
        dot.setAttribute("aria-hidden", "true");
        item.appendChild(dot);
        item.appendChild(document.createTextNode((agent.id === me ? interpolate(gettext("%(name)s (you)"), {name: agent.name}, true) : agent.name)));
        return item;
      });
      var list = document.createElement("ul");
      list.className = "presence-online";
      list.setAttribute("aria-label", "Agents online");
      list.replaceChildren.apply(list, items);
      element.replaceChildren(list);
    });
  }

  document.addEventListener("pingback:event", function (event) {
    var data = event.detail || {};
    if (data.type === "presence" && Array.isArray(data.viewing) && Array.isArray(data.typing)) {
      known[data.conversation_id] = data;
      render(data);
    } else if (data.type === "agents_online" && Array.isArray(data.agents)) {
      online = data;
      renderOnline(data);
    }
  });

  // live.js may have connected before this script ran.
  if (document.body.dataset.live === "connected") {
    current = conversationOfPage();
    announce();
  }
})();
