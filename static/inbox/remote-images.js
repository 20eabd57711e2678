// E-mail remote images: PingBack shows them without a source (loading one
// would tell the sender who read the message and when). A message's "Load
// remote images" button (button.load-remote-images) gives each of its held
// images (img.remote-image) the PingBack link in its data-proxy-src, so the
// image arrives through PingBack's server, never from the sender's.
// The thread is re-rendered by live.js; messages whose images were loaded
// get them again.
(function () {
  "use strict";
  // Translations: /jsi18n/ (Django's JavaScript catalog, loaded first by
  // base.html) defines gettext/ngettext/interpolate; English without it.
  var gettext = window.gettext || function (text) { return text; };
  var ngettext = window.ngettext || function (one, many, n) { return n === 1 ? one : many; };
  var interpolate = window.interpolate || function (format, values) {
    return format.replace(/%\((\w+)\)s/g, function (match, name) { return String(values[name]); });
  };

  var loaded = {};

  function load(message) {
    message.querySelectorAll("img.remote-image[data-proxy-src]").forEach(function (image) {
      if (!image.getAttribute("src")) { image.src = image.dataset.proxySrc; }
    });
    var button = message.querySelector("button.load-remote-images");
    if (button) {
      button.disabled = true;
      button.hidden = true;
    }
    var note = message.querySelector(".remote-images-note");
    if (note) { note.textContent = gettext("Remote images loaded through PingBack."); }
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("button.load-remote-images");
    if (!button) { return; }
    var message = button.closest("li.message");
    if (!message) { return; }
    loaded[message.id] = true;
    load(message);
  });

  function reapply() {
    Object.keys(loaded).forEach(function (id) {
      var message = document.getElementById(id);
      if (message) { load(message); }
    });
  }

  var thread = document.getElementById("thread-container");
  if (thread && window.MutationObserver) {
    new MutationObserver(reapply).observe(thread, {childList: true});
  }
})();
