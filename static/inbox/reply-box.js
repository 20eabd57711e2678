/* The reply box (templates/conversations/_reply_box.html).
 *
 * - Reply / Private note toggle (aria-pressed); notes post with private=1.
 * - Live character counter from data-max-length (data-note-max-length for
 *   notes), red and the send button disabled with the reason while over it.
 * - Files: chosen files listed (name, size, remove), checked against
 *   data-max-file-bytes and data-max-files before upload.
 * - "/" canned responses: typing "/" at the start or after whitespace opens a
 *   listbox filtered by what follows (GET data-canned-url?q=), arrows +
 *   Enter/Tab choose, Escape closes, click works.
 * - Drafts in localStorage per user and conversation, restored on load and
 *   when a page swaps the box in (pingback:pane-loaded); cleared on success.
 *   Files cannot be kept across reloads.
 * - Ctrl/Cmd+Enter sends. Sending uses fetch (X-Requested-With: fetch); on
 *   refusal text and files stay and the error shows (role=alert); on success
 *   the box clears and `pingback:replied` ({conversationId, messageId}) fires
 *   on document.
 *
 * Everything is delegated on document, so boxes swapped in later work.
 */
(function () {
  "use strict";
  // Translations: /jsi18n/ (Django's JavaScript catalog, loaded first by
  // base.html) defines gettext/ngettext/interpolate; English without it.
  var gettext = window.gettext || function (text) { return text; };
  var ngettext = window.ngettext || function (one, many, n) { return n === 1 ? one : many; };
  var interpolate = window.interpolate || function (format, values) {
    return format.replace(/%\((\w+)\)s/g, function (match, name) { return String(values[name]); });
  };

  var FORM = "form.reply-box-form";
  var files = new WeakMap(); // form -> [File]
  var canned = new WeakMap(); // form -> {items, active, start, seq, timer}
  var ready = new WeakSet(); // forms initialised (a copied form is not)
  // Numbers as the page's language writes them ("4,096" / "10.000").
  var numberFormat = new Intl.NumberFormat(document.documentElement.lang || "en");

  function formOf(node) {
    return node && node.closest ? node.closest(FORM) : null;
  }
  function part(form, selector) {
    return form.querySelector(selector);
  }
  function textarea(form) {
    return part(form, "textarea[name=text]");
  }
  function isNote(form) {
    return form.dataset.mode === "note";
  }
  function length(text) {
    // Characters as the server counts them (code points, after trimming).
    return Array.from(text.trim()).length;
  }
  function sizeLabel(bytes) {
    if (bytes < 1024) return interpolate(ngettext("%(count)s byte", "%(count)s bytes", bytes), {count: bytes}, true);
    if (bytes < 1048576) return Math.round(bytes / 1024) + " KB";
    return String(Math.round((bytes / 1048576) * 10) / 10) + " MB";
  }
  function draftKey(form) {
    var user = (document.body && document.body.dataset.userId) || "anonymous";
    return "pingback:reply-draft:" + user + ":" + form.dataset.conversationId;
  }

  // ------------------------------------------------------------------ drafts

  function saveDraft(form) {
    var text = textarea(form).value;
    try {
      if (text) {
        localStorage.setItem(
          draftKey(form),
          JSON.stringify({ text: text, mode: form.dataset.mode || "reply" })
        );
      } else {
        localStorage.removeItem(draftKey(form));
      }
    } catch (error) {
      /* storage full or disabled: the box still works without drafts */
    }
  }
  function restoreDraft(form) {
    var area = textarea(form);
    if (area.value) return;
    var draft = null;
    try {
      draft = JSON.parse(localStorage.getItem(draftKey(form)) || "null");
    } catch (error) {
      draft = null;
    }
    if (!draft || typeof draft.text !== "string") return;
    area.value = draft.text;
    if (draft.mode === "note") setMode(form, "note");
  }
  function clearDraft(form) {
    try {
      localStorage.removeItem(draftKey(form));
    } catch (error) {
      /* nothing to clear */
    }
  }

  // -------------------------------------------------------------- mode, state

  function setMode(form, mode) {
    form.dataset.mode = mode;
    var private_ = part(form, "input.reply-private");
    if (private_) private_.value = mode === "note" ? "1" : "0";
    form.querySelectorAll(".reply-mode-button").forEach(function (button) {
      button.setAttribute("aria-pressed", String(button.dataset.mode === mode));
    });
    var area = textarea(form);
    area.placeholder =
      mode === "note" ? area.dataset.placeholderNote : area.dataset.placeholderReply;
    [".reply-send", ".reply-label", ".reply-mode-hint"].forEach(function (selector) {
      var node = part(form, selector);
      if (node) node.textContent = mode === "note" ? node.dataset.note : node.dataset.reply;
    });
    update(form);
  }

  function limits(form) {
    return {
      text: Number(isNote(form) ? form.dataset.noteMaxLength : form.dataset.maxLength),
      fileBytes: Number(form.dataset.maxFileBytes),
      files: Number(form.dataset.maxFiles),
    };
  }

  /* Grow the text box with its text, up to 40% of the window. */
  function fit(area) {
    area.style.height = "auto";
    var most = Math.max(120, Math.round(window.innerHeight * 0.4));
    area.style.height = Math.min(area.scrollHeight + 2, most) + "px";
  }

  /* Refresh the counter and whether sending is possible (and why not). */
  function update(form) {
    fit(textarea(form));
    var limit = limits(form);
    var count = length(textarea(form).value);
    var chosen = files.get(form) || [];
    var counter = part(form, ".reply-counter");
    counter.textContent = numberFormat.format(count) + " / " + numberFormat.format(limit.text);
    counter.classList.toggle("over", count > limit.text);
    var reason = "";
    if (count > limit.text) {
      reason = isNote(form)
        ? interpolate(gettext("Notes are limited to %(limit)s characters."), {limit: numberFormat.format(limit.text)}, true)
        : interpolate(gettext("%(noun)s are limited to %(limit)s characters; this reply has %(count)s."),
          {noun: form.dataset.textNoun, limit: numberFormat.format(limit.text), count: numberFormat.format(count)}, true);
    } else if (isNote(form) && chosen.length) {
      reason = gettext("A private note is text only: remove the files or switch to Reply.");
    } else if (!count && !chosen.length) {
      reason = "";
    }
    var blocked = part(form, ".reply-blocked");
    blocked.textContent = reason;
    var send = part(form, ".reply-send");
    var empty = !count && (isNote(form) || !chosen.length);
    send.disabled = Boolean(reason) || empty || form.dataset.sending === "true";
    form.classList.toggle("is-over", Boolean(reason));
  }

  function showError(form, message) {
    var alert = part(form, ".reply-error");
    alert.textContent = message || "";
    alert.hidden = !message;
  }

  // -------------------------------------------------------------------- files

  function renderFiles(form) {
    var wrap = part(form, ".reply-files-wrap");
    if (!wrap) return;
    var list = part(form, ".reply-files");
    var chosen = files.get(form) || [];
    list.textContent = "";
    chosen.forEach(function (file, index) {
      var item = document.createElement("li");
      item.className = "reply-file";
      var name = document.createElement("span");
      name.className = "reply-file-name";
      name.textContent = file.name;
      var size = document.createElement("span");
      size.className = "reply-file-size";
      size.textContent = sizeLabel(file.size);
      var remove = document.createElement("button");
      remove.type = "button";
      remove.className = "reply-file-remove";
      remove.dataset.index = String(index);
      remove.setAttribute("aria-label", "Remove " + file.name);
      remove.textContent = "×";
      item.append(name, size, remove);
      list.append(item);
    });
    wrap.hidden = chosen.length === 0;
  }

  function addFiles(form, picked) {
    var limit = limits(form);
    var chosen = (files.get(form) || []).slice();
    var refused = [];
    Array.prototype.forEach.call(picked, function (file) {
      if (file.size > limit.fileBytes) {
        refused.push(
          interpolate(gettext("%(name)s is %(size)s; %(channel)s takes files up to %(limit)s. It was not attached."),
            {name: file.name, size: sizeLabel(file.size), channel: form.dataset.channelLabel, limit: sizeLabel(limit.fileBytes)}, true)
        );
      } else if (chosen.length >= limit.files) {
        refused.push(
          interpolate(gettext("%(name)s was not attached: %(noun)s may carry at most %(count)s files."),
            {name: file.name, noun: form.dataset.textNoun, count: limit.files}, true)
        );
      } else {
        chosen.push(file);
      }
    });
    files.set(form, chosen);
    renderFiles(form);
    showError(form, refused.join(" "));
    update(form);
  }

  // ---------------------------------------------------------- canned responses

  function cannedState(form) {
    var state = canned.get(form);
    if (!state) {
      state = { items: [], active: -1, start: -1, seq: 0, timer: 0 };
      canned.set(form, state);
    }
    return state;
  }
  function listbox(form) {
    return part(form, ".reply-canned");
  }
  function closeCanned(form) {
    var state = cannedState(form);
    state.items = [];
    state.active = -1;
    state.start = -1;
    state.seq += 1;
    var box = listbox(form);
    box.hidden = true;
    box.textContent = "";
    part(form, ".reply-compose").setAttribute("aria-expanded", "false");
    textarea(form).removeAttribute("aria-activedescendant");
  }
  function cannedOpen(form) {
    return !listbox(form).hidden;
  }

  /* The "/query" just before the caret, or null. */
  function slashQuery(area) {
    var before = area.value.slice(0, area.selectionStart);
    var match = /(^|\s)\/([^\s/]*)$/.exec(before);
    if (!match || area.selectionStart !== area.selectionEnd) return null;
    return { start: before.length - match[2].length - 1, query: match[2] };
  }

  function lookUp(form) {
    var area = textarea(form);
    var found = slashQuery(area);
    if (!found) {
      if (cannedOpen(form) || cannedState(form).start >= 0) closeCanned(form);
      return;
    }
    var state = cannedState(form);
    state.start = found.start;
    state.seq += 1;
    var seq = state.seq;
    clearTimeout(state.timer);
    state.timer = setTimeout(function () {
      var url = form.dataset.cannedUrl + "?q=" + encodeURIComponent(found.query);
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          return response.ok ? response.json() : [];
        })
        .then(function (items) {
          if (seq !== cannedState(form).seq) return; // a newer query is on its way
          renderCanned(form, items, found.query);
        })
        .catch(function () {
          /* offline: no suggestions */
        });
    }, 120);
  }

  function renderCanned(form, items, query) {
    var state = cannedState(form);
    var box = listbox(form);
    box.textContent = "";
    state.items = items;
    state.active = items.length ? 0 : -1;
    if (!items.length) {
      var empty = document.createElement("li");
      empty.className = "reply-canned-empty";
      empty.setAttribute("role", "option");
      empty.setAttribute("aria-disabled", "true");
      empty.textContent = query
        ? interpolate(gettext("No canned response matches “%(query)s”."), {query: query}, true)
        : gettext("No canned responses yet.");
      box.append(empty);
    }
    items.forEach(function (item, index) {
      var option = document.createElement("li");
      option.id = box.id + "-option-" + index;
      option.className = "reply-canned-option";
      option.setAttribute("role", "option");
      option.dataset.index = String(index);
      var code = document.createElement("span");
      code.className = "reply-canned-code";
      code.textContent = "/" + item.short_code;
      var content = document.createElement("span");
      content.className = "reply-canned-content";
      content.textContent = item.content;
      option.append(code, content);
      box.append(option);
    });
    box.hidden = false;
    part(form, ".reply-compose").setAttribute("aria-expanded", "true");
    highlight(form);
  }

  function highlight(form) {
    var state = cannedState(form);
    var area = textarea(form);
    listbox(form)
      .querySelectorAll(".reply-canned-option")
      .forEach(function (option) {
        var active = Number(option.dataset.index) === state.active;
        option.setAttribute("aria-selected", String(active));
        if (active) {
          area.setAttribute("aria-activedescendant", option.id);
          option.scrollIntoView({ block: "nearest" });
        }
      });
    if (state.active < 0) area.removeAttribute("aria-activedescendant");
  }

  function choose(form, index) {
    var state = cannedState(form);
    var item = state.items[index];
    if (!item || state.start < 0) return;
    var area = textarea(form);
    var end = area.selectionStart;
    area.value = area.value.slice(0, state.start) + item.content + area.value.slice(end);
    var caret = state.start + item.content.length;
    closeCanned(form);
    area.focus();
    area.setSelectionRange(caret, caret);
    saveDraft(form);
    update(form);
  }

  // -------------------------------------------------------------------- send

  function send(form) {
    if (form.dataset.sending === "true") return;
    update(form);
    if (part(form, ".reply-send").disabled) return;
    var area = textarea(form);
    var body = new FormData();
    var csrf = part(form, "input[name=csrfmiddlewaretoken]");
    body.append("csrfmiddlewaretoken", csrf ? csrf.value : "");
    body.append("text", area.value);
    body.append("private", isNote(form) ? "1" : "0");
    if (!isNote(form)) {
      (files.get(form) || []).forEach(function (file) {
        body.append("files", file, file.name);
      });
    }
    form.dataset.sending = "true";
    form.setAttribute("aria-busy", "true");
    update(form);
    showError(form, "");
    fetch(form.action, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { "X-Requested-With": "fetch", Accept: "application/json" },
    })
      .then(function (response) {
        return response
          .json()
          .catch(function () {
            return { error: interpolate(gettext("PingBack could not send this (%(status)s). Try again."), {status: response.status}, true) };
          })
          .then(function (data) {
            return { ok: response.ok && data.ok, data: data };
          });
      })
      .then(function (result) {
        if (!result.ok) {
          showError(form, result.data.error || gettext("PingBack could not send this. Try again."));
          if (result.data.field === "text") area.focus();
          return;
        }
        area.value = "";
        files.set(form, []);
        renderFiles(form);
        clearDraft(form);
        var replied = new CustomEvent("pingback:replied", {
          cancelable: true,
          detail: {
            conversationId: Number(form.dataset.conversationId),
            messageId: result.data.message_id,
          },
        });
        // Unless a listener takes over (preventDefault), show the new message
        // in the thread now, websocket or not.
        if (document.dispatchEvent(replied)) refreshThread(form);
      })
      .catch(function () {
        showError(form, gettext("PingBack could not be reached; your reply is still here. Try again."));
      })
      .finally(function () {
        form.dataset.sending = "false";
        form.removeAttribute("aria-busy");
        update(form);
      });
  }

  /* Refetch the conversation page's thread (#thread-container) after a send. */
  function refreshThread(form) {
    var thread = document.getElementById("thread-container");
    if (!thread || !thread.dataset.refreshUrl) return;
    if (thread.dataset.conversationId !== form.dataset.conversationId) return;
    fetch(thread.dataset.refreshUrl, { credentials: "same-origin" })
      .then(function (response) {
        return response.ok ? response.text() : null;
      })
      .then(function (html) {
        if (html !== null) thread.innerHTML = html;
      })
      .catch(function () {
        /* the live updates will bring it */
      });
  }

  // ------------------------------------------------------------ initialising

  function init(form) {
    if (ready.has(form)) return;
    ready.add(form);
    form.dataset.replyBoxReady = "true";
    if (!files.has(form)) files.set(form, []);
    restoreDraft(form);
    setMode(form, form.dataset.mode || "reply");
    renderFiles(form);
    update(form);
  }
  function initAll() {
    document.querySelectorAll(FORM).forEach(init);
  }

  document.addEventListener("DOMContentLoaded", initAll);
  document.addEventListener("pingback:pane-loaded", initAll);
  if (document.readyState !== "loading") initAll();

  // -------------------------------------------------------------- delegation

  document.addEventListener("input", function (event) {
    var form = formOf(event.target);
    if (!form || event.target !== textarea(form)) return;
    init(form);
    saveDraft(form);
    update(form);
    lookUp(form);
  });

  document.addEventListener("change", function (event) {
    var form = formOf(event.target);
    if (!form || !event.target.classList.contains("reply-files-input")) return;
    init(form);
    addFiles(form, event.target.files);
    event.target.value = "";
  });

  document.addEventListener("click", function (event) {
    var form = formOf(event.target);
    if (!form) return;
    init(form);
    var modeButton = event.target.closest(".reply-mode-button");
    if (modeButton) {
      setMode(form, modeButton.dataset.mode);
      saveDraft(form);
      textarea(form).focus();
      return;
    }
    var remove = event.target.closest(".reply-file-remove");
    if (remove) {
      var chosen = (files.get(form) || []).slice();
      chosen.splice(Number(remove.dataset.index), 1);
      files.set(form, chosen);
      renderFiles(form);
      showError(form, "");
      update(form);
      var next = part(form, ".reply-file-remove") || part(form, ".reply-attach");
      if (next) next.focus();
      return;
    }
    if (!event.target.closest(".reply-canned") && cannedOpen(form)) closeCanned(form);
  });

  // A press on an option keeps the focus in the box; the press chooses it.
  document.addEventListener("mousedown", function (event) {
    var option = event.target.closest && event.target.closest(".reply-canned-option");
    if (!option) return;
    var form = formOf(option);
    if (!form) return;
    event.preventDefault();
    choose(form, Number(option.dataset.index));
  });

  document.addEventListener("keydown", function (event) {
    var form = formOf(event.target);
    if (!form) return;
    if (event.target.classList.contains("reply-attach") && (event.key === "Enter" || event.key === " ")) {
      event.preventDefault();
      var input = part(form, ".reply-files-input");
      if (input) input.click();
      return;
    }
    if (event.target !== textarea(form)) return;
    init(form);
    if (cannedOpen(form)) {
      var state = cannedState(form);
      var count = state.items.length;
      if (event.key === "ArrowDown" && count) {
        event.preventDefault();
        state.active = (state.active + 1) % count;
        highlight(form);
        return;
      }
      if (event.key === "ArrowUp" && count) {
        event.preventDefault();
        state.active = (state.active - 1 + count) % count;
        highlight(form);
        return;
      }
      if ((event.key === "Enter" || event.key === "Tab") && state.active >= 0 && !event.ctrlKey && !event.metaKey) {
        event.preventDefault();
        choose(form, state.active);
        return;
      }
      if (event.key === "Escape") {
        event.preventDefault();
        closeCanned(form);
        return;
      }
    }
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      send(form);
    }
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches(FORM)) return;
    event.preventDefault();
    init(form);
    send(form);
  });
})();
