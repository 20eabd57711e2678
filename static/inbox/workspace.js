// The agent workspace: one page with the conversation list, the open
// conversation and the customer panel (templates/conversations/workspace.html).
//
// Nothing reloads the page: opening a conversation swaps in its thread pane
// and customer panel (server-rendered partials), changing the view or a
// filter swaps in the list pane, and actions (status, snooze, assignee, team,
// labels, bulk changes) go through the REST API with the agent's session and
// then refresh the parts they change. The address follows: /conversations/<id>/
// with the list's query string, so links, reloads and the back button work.
//
// Events this script fires on `document`: `pingback:pane-loaded` (detail
// {conversationId}) after a thread pane is swapped in, `pingback:list-loaded`
// after the list is. It listens to `pingback:event` (live.js) to keep the
// views' counts and the open conversation's header current.
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

  var selected = new Set();
  var countsTimer = null;
  var headerTimer = null;
  var loading = null;  // the conversation id being opened

  // ------------------------------------------------------------------ helpers

  function csrfToken() {
    var meta = document.querySelector("meta[name=csrf-token]");
    return meta ? meta.content : "";
  }

  function request(method, url, body) {
    var options = {
      method: method,
      credentials: "same-origin",
      headers: {"X-Requested-With": "fetch", "X-CSRFToken": csrfToken()}
    };
    if (body instanceof FormData) {
      options.body = body;
    } else if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return fetch(url, options);
  }

  function getHtml(url) {
    return request("GET", url).then(function (response) {
      if (!response.ok) { throw new Error(response.status + " " + response.statusText); }
      return response.text();
    });
  }

  // A refused API call's reason, in words: DRF answers {"field": ["…"]} or
  // {"detail": "…"}.
  function reasonOf(response) {
    return response.text().then(function (text) {
      try {
        var data = JSON.parse(text);
        if (data.detail) { return data.detail; }
        var words = [];
        Object.keys(data).forEach(function (key) {
          var value = data[key];
          words.push(key + ": " + (Array.isArray(value) ? value.join(" ") : value));
        });
        return words.join("; ") || response.statusText;
      } catch (error) {
        return text || response.statusText;
      }
    });
  }

  function currentId() { return root.dataset.conversationId || ""; }

  function listQuery() {
    var head = document.getElementById("list-head");
    return head ? head.dataset.query : "";
  }

  function withQuery(path, query) { return query ? path + "?" + query : path; }

  function conversationPath(id) { return "/conversations/" + id + "/"; }

  function paint(scope) {
    // Label colours come as data (the page's policy allows no inline style).
    (scope || document).querySelectorAll("[data-color]").forEach(function (element) {
      if (/^#[0-9a-fA-F]{6}$/.test(element.dataset.color)) {
        element.style.setProperty("--label-color", element.dataset.color);
      }
    });
  }

  function markActive() {
    var id = currentId();
    document.querySelectorAll("#conversation-list .conversation-row").forEach(function (row) {
      var active = row.dataset.conversationId === id;
      row.classList.toggle("is-active", active);
      var link = row.querySelector(".row-link");
      if (link) {
        if (active) { link.setAttribute("aria-current", "true"); }
        else { link.removeAttribute("aria-current"); }
      }
      var box = row.querySelector(".row-select");
      if (box) { box.checked = selected.has(row.dataset.conversationId); }
    });
  }

  function setTitle() {
    var name = document.querySelector(".thread-header h1 .name");
    var base = gettext("Inbox") + " · PingBack";
    var unread = (document.title.match(/^\(\d+\) /) || [""])[0];
    document.title = unread + (name ? "\u2068" + name.textContent + "\u2069 · " + base : base);
  }

  // ------------------------------------------------------ open a conversation

  // `messageId` (a search result): the thread opens scrolled to that
  // message, marked (`?message=` in the address too, so a reload does it).
  function openConversation(id, push, messageId) {
    id = String(id);
    loading = id;
    var query = listQuery();
    var found = messageId ? "message=" + encodeURIComponent(messageId) : "";
    if (push) {
      history.pushState({conversationId: id}, "",
        withQuery(conversationPath(id), [query, found].filter(Boolean).join("&")));
    }
    var pane = document.getElementById("thread-pane");
    pane.setAttribute("aria-busy", "true");
    return Promise.all([
      getHtml(withQuery(conversationPath(id) + "pane/", found)),
      getHtml(conversationPath(id) + "panel/")
    ]).then(function (parts) {
      if (loading !== id) { return; }
      overlayOpen = false;
      root.dataset.conversationId = id;
      root.classList.add("has-conversation");
      pane.innerHTML = parts[0];
      document.getElementById("customer-panel").innerHTML = parts[1];
      pane.removeAttribute("aria-busy");
      paint(pane);
      markOnline(pane);
      paint(document.getElementById("customer-panel"));
      applyPanelState();
      markActive();
      setTitle();
      scrollThreadToEnd();
      document.dispatchEvent(new CustomEvent("pingback:pane-loaded", {detail: {conversationId: Number(id)}}));
      scheduleCounts();
    }).catch(function () {
      pane.removeAttribute("aria-busy");
      if (loading === id) { location.assign(withQuery(conversationPath(id), query)); }
    });
  }

  function closeConversation(push) {
    loading = null;
    root.dataset.conversationId = "";
    root.classList.remove("has-conversation");
    if (push) { history.pushState({}, "", withQuery(root.dataset.inboxUrl, listQuery())); }
    document.getElementById("thread-pane").innerHTML =
      '<div class="pane-empty"><p class="pane-empty-title">' + gettext("No conversation open") + "</p>" +
      "<p>" + gettext("Pick one from the list.") + "</p></div>";
    document.getElementById("customer-panel").innerHTML = "";
    markActive();
    setTitle();
    document.dispatchEvent(new CustomEvent("pingback:pane-loaded", {detail: {conversationId: null}}));
    var row = document.querySelector("#conversation-list .conversation-row .row-link");
    if (row && window.matchMedia("(max-width: 760px)").matches) { row.focus(); }
  }

  function scrollThreadToEnd() {
    var scroller = document.getElementById("thread-scroll");
    if (!scroller) { return; }
    // A search result's message, once: scrolled to and focused instead.
    var found = scroller.querySelector("[data-found-message]");
    if (found) {
      found.removeAttribute("data-found-message");
      found.scrollIntoView({block: "center"});
      found.focus({preventScroll: true});
      return;
    }
    scroller.scrollTop = scroller.scrollHeight;
  }

  var headerStale = false;

  function refreshHeader() {
    var pane = document.querySelector(".thread-pane");
    if (!pane) { return; }
    // Never swap a menu away under the agent's pointer: refresh once it closes.
    var header = document.getElementById("thread-header");
    if (header && window.PingBack.menus && window.PingBack.menus.openIn(header)) {
      headerStale = true;
      return;
    }
    headerStale = false;
    var id = pane.dataset.conversationId;
    Promise.all([getHtml(pane.dataset.headerUrl), getHtml(pane.dataset.panelUrl)]).then(function (parts) {
      if (currentId() !== id) { return; }
      var header = document.getElementById("thread-header");
      if (window.PingBack.menus && window.PingBack.menus.openIn(header)) {
        headerStale = true;  // a menu opened meanwhile
        return;
      }
      var focused = document.activeElement;
      var focusKey = focused && header.contains(focused) ? focused.dataset.shortcut || focused.getAttribute("aria-controls") : null;
      // Who views or types stays shown: the old line moves into the new header.
      var presence = header.querySelector("[data-presence-for]");
      header.innerHTML = parts[0];
      var fresh = header.querySelector("[data-presence-for]");
      if (presence && fresh) { fresh.replaceWith(presence); }
      // Never swap the panel away while the agent edits in it (panel.js).
      var panel = document.getElementById("customer-panel");
      if (!panel.querySelector("[data-editing]")) { panel.innerHTML = parts[1]; }
      paint(header);
      markOnline(header);
      paint(document.getElementById("customer-panel"));
      applyPanelState();
      if (focusKey) {
        var again = header.querySelector('[data-shortcut="' + focusKey + '"], [aria-controls="' + focusKey + '"]');
        if (again) { again.focus(); }
      }
    }).catch(function () {});
  }

  function scheduleHeader() {
    clearTimeout(headerTimer);
    headerTimer = setTimeout(refreshHeader, 150);
  }

  // ------------------------------------------------------------------- list

  function loadList(query, push) {
    var path = currentId() ? conversationPath(currentId()) : root.dataset.inboxUrl;
    if (push) { history.pushState({conversationId: currentId()}, "", withQuery(path, query)); }
    return getHtml(withQuery(root.dataset.listUrl, query)).then(function (html) {
      var pane = document.getElementById("list-pane");
      var focusedQuery = document.activeElement && document.activeElement.closest && document.activeElement.closest(".view-tab, .chip-saved") ? document.activeElement.dataset.query : null;
      pane.innerHTML = html;
      paint(pane);
      markOnline(pane);
      selected.clear();
      updateBulkBar();
      markActive();
      if (focusedQuery !== null) {
        var again = pane.querySelector('.view-tab[data-query="' + focusedQuery + '"]');
        if (again) { again.focus(); }
      }
      document.dispatchEvent(new CustomEvent("pingback:list-loaded"));
    }).catch(function () {
      location.assign(withQuery(path, query));
    });
  }

  // A background refresh (after a reconnection): new rows and counts, but the
  // head (menus the agent may have open) and the selection stay as they are.
  function refreshRows() {
    var query = listQuery();
    return getHtml(withQuery(root.dataset.listUrl, query)).then(function (html) {
      if (query !== listQuery()) { return; }
      var holder = document.createElement("template");
      holder.innerHTML = html;
      var fresh = holder.content.getElementById("conversation-list");
      var list = document.getElementById("conversation-list");
      if (!fresh || !list) { return; }
      list.replaceWith(fresh);
      holder.content.querySelectorAll("[data-count]").forEach(function (count) {
        var shown = document.querySelector('#list-head [data-count="' + count.dataset.count + '"]');
        if (shown) { shown.textContent = count.textContent; }
      });
      var present = new Set(Array.prototype.map.call(
        fresh.querySelectorAll(".conversation-row"),
        function (row) { return row.dataset.conversationId; }
      ));
      selected.forEach(function (id) { if (!present.has(id)) { selected.delete(id); } });
      paint(fresh);
      markActive();
      updateBulkBar();
      document.dispatchEvent(new CustomEvent("pingback:list-loaded"));
    }).catch(function () {});
  }

  function refreshCounts() {
    request("GET", root.dataset.countsUrl).then(function (response) {
      return response.ok ? response.json() : null;
    }).then(function (counts) {
      if (!counts) { return; }
      Object.keys(counts).forEach(function (key) {
        document.querySelectorAll('[data-count="' + key + '"]').forEach(function (element) {
          element.textContent = counts[key];
        });
      });
    }).catch(function () {});
  }

  function scheduleCounts() {
    clearTimeout(countsTimer);
    countsTimer = setTimeout(refreshCounts, 300);
  }

  // ------------------------------------------------------------------ bulk

  function updateBulkBar() {
    var bar = document.getElementById("bulk-bar");
    if (!bar) { return; }
    bar.hidden = selected.size === 0;
    var count = bar.querySelector("[data-bulk-count]");
    if (count) { count.textContent = selected.size; }
  }

  function bulk(change) {
    var ids = Array.from(selected).map(Number);
    if (!ids.length) { return; }
    change.ids = ids;
    var error = document.querySelector("[data-bulk-error]");
    if (error) { error.textContent = ""; }
    request("POST", root.dataset.apiUrl + "bulk", change).then(function (response) {
      if (response.ok) {
        selected.clear();
        loadList(listQuery(), false);
        scheduleCounts();
        if (ids.indexOf(Number(currentId())) !== -1) { scheduleHeader(); }
        return;
      }
      return reasonOf(response).then(function (reason) {
        if (error) { error.textContent = interpolate(gettext("Nothing was changed: %(reason)s"), {reason: reason}, true); }
      });
    });
  }

  // ---------------------------------------------------------------- actions

  function patch(change) {
    var id = currentId();
    if (!id) { return; }
    var error = document.querySelector("[data-action-error]");
    if (error) { error.textContent = ""; }
    return request("PATCH", root.dataset.apiUrl + id, change).then(function (response) {
      if (response.ok) {
        refreshHeader();
        scheduleCounts();
        return;
      }
      return reasonOf(response).then(function (reason) {
        var error = document.querySelector("[data-action-error]");
        if (error) { error.textContent = reason; }
      });
    });
  }

  function snooze(form) {
    var pane = document.querySelector(".thread-pane");
    if (!pane) { return; }
    return request("POST", pane.dataset.snoozeUrl, form).then(function (response) {
      if (response.ok) { refreshHeader(); scheduleCounts(); return; }
      return response.text().then(function (reason) {
        var error = document.querySelector("[data-action-error]");
        if (error) { error.textContent = reason; }
      });
    });
  }

  function labelsChosen(menu) {
    return Array.prototype.filter.call(
      menu.querySelectorAll("[data-label]"),
      function (item) { return item.getAttribute("aria-checked") === "true"; }
    ).map(function (item) { return item.dataset.label; });
  }

  document.addEventListener("menu:choose", function (event) {
    var item = event.target;
    if (item.dataset.query !== undefined) { loadList(item.dataset.query, true); return; }
    if (item.dataset.patch) { patch(JSON.parse(item.dataset.patch)); return; }
    if (item.dataset.label !== undefined) {
      var on = item.getAttribute("aria-checked") !== "true";
      item.setAttribute("aria-checked", on ? "true" : "false");
      patch({labels: labelsChosen(item.closest("[data-labels-menu]"))});
      return;
    }
    if (item.dataset.snooze) {
      var form = new FormData();
      form.append("preset", item.dataset.snooze);
      snooze(form);
      return;
    }
    if (item.dataset.bulk) { bulk(JSON.parse(item.dataset.bulk)); return; }
    if (item.dataset.bulkLabel) { bulk({labels_add: [item.dataset.bulkLabel]}); return; }
    if (item.dataset.bulkUnlabel) { bulk({labels_remove: [item.dataset.bulkUnlabel]}); }
  });

  // Retry and "Mark as sent" on a reply: through the API, in place; the
  // thread follows on the message's status events.
  function messageAction(form) {
    var error = form.parentElement.querySelector(".delivery-action-error");
    var button = form.querySelector("button");
    button.disabled = true;
    request("POST", form.dataset.apiAction).then(function (response) {
      if (response.ok) {
        if (window.PingBack.live) { window.PingBack.live.refreshThread(); }
        return;
      }
      return reasonOf(response).then(function (reason) {
        button.disabled = false;
        if (error) { error.textContent = reason; }
      });
    }).catch(function () { button.disabled = false; });
  }

  // A quick reaction on a message: through the API, in place.
  function react(form, button) {
    var error = form.querySelector(".react-error");
    request("POST", form.dataset.reactAction, {emoji: button ? button.value : ""})
      .then(function (response) {
        if (response.ok) {
          var menu = form.closest("details");
          if (menu) { menu.open = false; }
          if (window.PingBack.live) { window.PingBack.live.refreshThread(); }
          return;
        }
        return reasonOf(response).then(function (reason) {
          if (error) { error.textContent = reason; }
        });
      });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.dataset.reactAction) {
      event.preventDefault();
      react(form, event.submitter);
      return;
    }
    if (form.dataset.apiAction) {
      event.preventDefault();
      messageAction(form);
      return;
    }
    if (form.matches("[data-snooze-custom]")) {
      event.preventDefault();
      snooze(new FormData(form));
      if (window.PingBack.menus) { window.PingBack.menus.close(); }
      return;
    }
    if (form.matches("[data-save-filter]")) {
      event.preventDefault();
      var data = new FormData(form);
      request("POST", "/api/v1/saved_filters/", {name: data.get("name"), query: data.get("query")})
        .then(function (response) {
          if (response.ok) { loadList(listQuery(), false); return; }
          return reasonOf(response).then(function (reason) {
            var input = form.querySelector("input[name=name]");
            input.setCustomValidity(reason);
            input.reportValidity();
            input.addEventListener("input", function () { input.setCustomValidity(""); }, {once: true});
          });
        });
    }
  });

  document.addEventListener("change", function (event) {
    var box = event.target;
    if (!box.classList.contains("row-select")) { return; }
    if (box.checked) { selected.add(box.value); } else { selected.delete(box.value); }
    updateBulkBar();
  });

  document.addEventListener("click", function (event) {
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey ||
        event.shiftKey || event.altKey) { return; }
    var target = event.target;
    if (target.closest("[data-menu] [role^=menuitem]")) { return; }  // menus.js: menu:choose
    var patchButton = target.closest("[data-patch]");
    if (patchButton) { patch(JSON.parse(patchButton.dataset.patch)); return; }
    if (target.closest("[data-bulk-clear]")) {
      selected.clear();
      markActive();
      updateBulkBar();
      return;
    }
    if (target.closest("[data-panel-toggle]")) { togglePanel(); return; }
    if (target.closest("[data-save-filter-open]")) {
      var form = document.querySelector("[data-save-filter]");
      if (form) { form.hidden = false; form.querySelector("input[name=name]").focus(); }
      target.closest("[data-save-filter-open]").hidden = true;
      return;
    }
    if (target.closest("[data-back]")) { event.preventDefault(); closeConversation(true); return; }
    var link = target.closest("a[href]");
    if (!link || link.target || link.origin !== location.origin) { return; }
    if (link.dataset.query !== undefined && link.closest("#list-pane")) {
      event.preventDefault();
      loadList(link.dataset.query, true);
      return;
    }
    var match = link.pathname.match(/^\/conversations\/(\d+)\/$/);
    if (match && (link.closest("#list-pane") || link.closest("#customer-panel"))) {
      event.preventDefault();
      openConversation(match[1], true, link.dataset.messageId);
    }
  });

  window.addEventListener("popstate", function () {
    var match = location.pathname.match(/^\/conversations\/(\d+)\/$/);
    var query = location.search.replace(/^\?/, "").replace(/(^|&)message=\d+/, "").replace(/^&/, "");
    if (query !== listQuery()) { loadList(query, false); }
    if (match && match[1] !== currentId()) { openConversation(match[1], false); }
    else if (!match && currentId()) { closeConversation(false); }
  });

  // ------------------------------------------------------------------ panel

  // Wide windows show the panel beside the thread unless the agent hid it
  // (remembered). Narrow ones (the panel would float over the thread) keep
  // it closed until the agent opens it, for as long as the conversation.
  var narrow = window.matchMedia("(max-width: 1100px)");
  var overlayOpen = false;

  function panelCollapsed() {
    if (narrow.matches) { return !overlayOpen; }
    return localStorage.getItem("pingback.panel") === "collapsed";
  }

  function applyPanelState() {
    var collapsed = panelCollapsed();
    root.classList.toggle("panel-collapsed", collapsed);
    document.querySelectorAll("[data-panel-toggle]").forEach(function (button) {
      button.setAttribute("aria-expanded", collapsed ? "false" : "true");
    });
  }

  function togglePanel() {
    if (narrow.matches) {
      overlayOpen = !overlayOpen;
    } else {
      localStorage.setItem("pingback.panel", panelCollapsed() ? "open" : "collapsed");
    }
    applyPanelState();
    if (!panelCollapsed()) {
      var close = document.querySelector("#customer-panel [data-panel-toggle]");
      if (close && narrow.matches) { close.focus(); }
    }
  }

  narrow.addEventListener("change", function () { overlayOpen = false; applyPanelState(); });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && narrow.matches && overlayOpen && !window.PingBack.menus.isOpen()) {
      overlayOpen = false;
      applyPanelState();
      var toggle = document.querySelector("#thread-header [data-panel-toggle]");
      if (toggle) { toggle.focus(); }
    }
  });

  // ------------------------------------------------------------ live events

  // Who is online: a dot beside each online agent in the Assign menus.
  var online = new Set();

  function markOnline(scope) {
    (scope || document).querySelectorAll("[data-online-user]").forEach(function (dot) {
      dot.hidden = !online.has(dot.dataset.onlineUser);
    });
  }

  document.addEventListener("pingback:event", function (event) {
    var data = event.detail || {};
    if (data.type === "agents_online") {
      online = new Set((data.agents || []).map(function (agent) { return String(agent.id); }));
      markOnline(document);
    }
    if (data.type === "conversation") {
      scheduleCounts();
      if (String(data.conversation_id) === currentId()) { scheduleHeader(); }
    }
  });
  document.addEventListener("menu:closed", function () {
    if (headerStale) { setTimeout(refreshHeader, 0); }
  });
  document.addEventListener("pingback:row-placed", function (event) {
    paint(event.detail);
    markActive();
  });
  document.addEventListener("pingback:thread-updated", function () {
    paint(document.getElementById("thread-container"));
  });
  document.addEventListener("pingback:replied", function () {
    scrollThreadToEnd();
  });

  window.PingBack = window.PingBack || {};
  window.PingBack.workspace = {
    refreshList: refreshRows,
    open: function (id, messageId) { return openConversation(id, true, messageId); },
    listQuery: listQuery
  };

  history.replaceState({conversationId: currentId()}, "", location.href);
  paint(document);
  applyPanelState();
  markActive();
  scrollThreadToEnd();
  // After every deferred script has run, so their listeners hear it.
  document.addEventListener("DOMContentLoaded", function () {
    if (currentId()) {
      document.dispatchEvent(new CustomEvent("pingback:pane-loaded", {detail: {conversationId: Number(currentId())}}));
    }
  });
})();
