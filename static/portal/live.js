// Live channel of the Approvals Portal: one websocket per tab, reconnecting with backoff.
// Later features hang their handlers on `window.portalLive.on(type, handler)`.
//
// Notifications: the socket URL says the last notification id this tab saw (`?after=`), so
// the server sends what was missed, in order; ids already shown are ignored. Live pages: the
// tab tells the server which page it shows (`watch`), and `<turbo-stream>` fragments keep the
// page current (Turbo.renderStreamMessage). The bell, the toasts and the "reconnecting" note
// are drawn here. Close code 4410 means the session ended: the page reloads (to the login page)
// and the socket is not reopened.
(function () {
  "use strict";
  // Django's JavaScript catalog (/jsi18n/, loaded before this file) in the page's language.
  var _ = window.gettext || function (text) { return text; };
  if (window.portalLive) return;
  var meta = document.querySelector('meta[name="portal-live-url"]');
  if (!meta || !window.WebSocket) return;

  var handlers = {};
  var attempt = 0;
  var socket = null;
  var root = document.documentElement;
  var lastMeta = document.querySelector('meta[name="portal-live-last-id"]');
  var lastId = lastMeta ? parseInt(lastMeta.getAttribute("content"), 10) || 0 : null;
  var seen = new Set();

  function url() {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    var query = lastId === null ? "" : "?after=" + lastId;
    return scheme + window.location.host + meta.getAttribute("content") + query;
  }

  function send(message) {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
  }

  var watched = null;
  function watch() {
    var location = window.location.pathname + window.location.search;
    if (watched === location) return; // turbo:load and onopen both ask on a first load
    watched = location;
    send({ type: "watch", location: location });
  }

  function connect() {
    socket = new WebSocket(url());
    socket.onopen = function () {
      attempt = 0;
      watched = null; // a new socket: the server sends the page's current state
      watch();
    };
    socket.onmessage = function (event) {
      var message = JSON.parse(event.data);
      if (message.type === "hello") {
        root.setAttribute("data-live", "on");
        if (lastId === null) lastId = message.last_id;
      }
      if (message.type === "notification") {
        if (seen.has(message.id)) return;
        seen.add(message.id);
        lastId = Math.max(lastId || 0, message.id);
        root.setAttribute("data-live-last-id", String(lastId));
      }
      (handlers[message.type] || []).forEach(function (handler) { handler(message); });
    };
    socket.onclose = function (event) {
      root.setAttribute("data-live", "off");
      if (event.code === 4401) return; // no session at connect: the next page load asks for a login
      if (event.code === 4410) {
        // The session ended (logout in this or another tab, expiry, deactivation): load the page
        // again, which asks for a login, rather than keep showing what the user may no longer see.
        // At most once in 30 s per tab: a page that still renders would otherwise reload forever.
        var reloaded = Number(window.sessionStorage.getItem("portal-live-reloaded") || 0);
        if (Date.now() - reloaded > 30000) {
          window.sessionStorage.setItem("portal-live-reloaded", String(Date.now()));
          window.location.reload();
        }
        return;
      }
      var delay = Math.min(30000, 500 * Math.pow(2, attempt++)) * (0.5 + Math.random() / 2);
      window.setTimeout(connect, delay);
    };
  }

  function on(type, handler) { (handlers[type] = handlers[type] || []).push(handler); }

  // ---- the bell, the notification center and toasts
  function setUnread(count) {
    document.querySelectorAll("[data-portal-unread]").forEach(function (badge) {
      badge.textContent = count > 99 ? "99+" : String(count);
      badge.hidden = count === 0;
    });
  }

  function toast(message) {
    var box = document.querySelector(".portal-toasts");
    if (!box) {
      box = document.createElement("div");
      box.className = "portal-toasts";
      box.setAttribute("role", "status"); // read politely, never focused
      box.setAttribute("aria-live", "polite");
      document.body.appendChild(box);
    }
    var item = document.createElement(message.url ? "a" : "div");
    item.className = "portal-toast portal-toast--" + message.kind.replace(".", "-");
    if (message.url) item.href = message.url;
    var title = document.createElement("strong");
    title.textContent = message.title;
    item.appendChild(title);
    if (message.body) {
      var body = document.createElement("span");
      body.textContent = message.body;
      item.appendChild(body);
    }
    box.appendChild(item);
    window.setTimeout(function () { item.classList.add("portal-toast--leaving"); }, 7000);
    window.setTimeout(function () { item.remove(); }, 7600);
  }

  function listItem(message) {
    var list = document.getElementById("portal-notification-list");
    if (!list || list.querySelector('[data-notification-id="' + message.id + '"]')) return;
    var item = document.createElement("li");
    item.className = "portal-notification" + (message.read ? "" : " portal-notification--unread");
    item.setAttribute("data-notification-id", message.id);
    var link = document.createElement("a");
    link.href = "/notifications/" + message.id + "/open/";
    link.textContent = message.title;
    item.appendChild(link);
    var body = document.createElement("span");
    body.className = "portal-notification__body";
    body.textContent = message.body;
    item.appendChild(body);
    list.insertBefore(item, list.firstChild);
    var empty = document.getElementById("portal-notification-empty");
    if (empty) empty.remove();
  }

  on("notification", function (message) {
    setUnread(message.unread);
    listItem(message);
    if (message.toast && !message.read) toast(message);
  });
  // The catch-up after a long absence sends only the newest missed notifications.
  on("catchup.truncated", function (message) {
    toast({
      kind: "catchup.truncated",
      title: _("You missed more notifications"),
      body: _("Older notifications are in the notification center."),
      url: message.url
    });
  });
  on("stream", function (message) {
    // An update rendered for the page this tab showed before its last visit: drop it.
    if (message.location && message.location !== window.location.pathname + window.location.search) return;
    if (window.Turbo && window.Turbo.renderStreamMessage) window.Turbo.renderStreamMessage(message.html);
  });

  // Screen readers hear list updates through a polite live region; focus never moves for them.
  function announce(text) {
    var region = document.getElementById("portal-announcer");
    if (!region) {
      region = document.createElement("div");
      region.id = "portal-announcer";
      region.className = "portal-announcer";
      region.setAttribute("role", "status");
      region.setAttribute("aria-live", "polite");
      document.body.appendChild(region);
    }
    region.textContent = "";
    window.setTimeout(function () { region.textContent = text; }, 50); // a change, even for the same words
  }

  // Where the focus is, as something that survives a re-render of rows: the row's id and the
  // control's position among the row's focusable controls.
  function focusMark() {
    var active = document.activeElement;
    var row = active && active.closest && active.closest("tr[id]");
    if (!row) return null;
    var controls = Array.prototype.slice.call(row.querySelectorAll("a, button, input, select"));
    return { row: row.id, index: controls.indexOf(active) };
  }

  function focusRestore(mark) {
    if (!mark || (document.activeElement && document.activeElement !== document.body)) return;
    var row = document.getElementById(mark.row);
    if (!row) return;
    var target = row.querySelectorAll("a, button, input, select")[mark.index];
    if (target) target.focus({ preventScroll: true });
  }

  // What someone is typing in a form that a live update re-renders (a reason in the process
  // page's Manage panel, a retry reason on the dashboard): each changed or focused field, by its
  // form's action and its name, with the caret.
  function typedKeep() {
    var kept = [];
    document.querySelectorAll("form[action] input[name], form[action] textarea[name], form[action] select[name]")
      .forEach(function (field) {
        if (field.type === "hidden" || field.type === "checkbox" || field.type === "radio") return;
        var changed = field.tagName === "SELECT"
          ? Array.prototype.some.call(field.options, function (o) { return o.selected !== o.defaultSelected; })
          : field.value !== field.defaultValue;
        var focused = field === document.activeElement;
        if (!changed && !focused) return;
        var caret = null;
        try { caret = [field.selectionStart, field.selectionEnd]; } catch (e) { caret = null; }
        kept.push({ action: field.form.getAttribute("action"), name: field.name, value: field.value,
                    focused: focused, caret: caret });
      });
    return kept;
  }

  function typedRestore(kept) {
    kept.forEach(function (item) {
      var form = Array.prototype.find.call(document.querySelectorAll("form[action]"), function (candidate) {
        return candidate.getAttribute("action") === item.action;
      });
      var field = form && form.elements.namedItem(item.name);
      if (!field || field.length !== undefined && field.tagName !== "SELECT") return;
      if (field.value !== item.value) field.value = item.value;
      if (item.focused && (!document.activeElement || document.activeElement === document.body)) {
        field.focus({ preventScroll: true });
        if (item.caret && item.caret[0] !== null) {
          try { field.setSelectionRange(item.caret[0], item.caret[1]); } catch (e) { /* no caret here */ }
        }
      }
    });
  }

  // A live update re-renders rows; the boxes someone ticked (bulk claim) stay ticked, what someone
  // typed stays typed, the focus stays where it was, and the new count is announced.
  document.addEventListener("turbo:before-stream-render", function (event) {
    var render = event.detail.render;
    event.detail.render = function (stream) {
      var ticked = Array.prototype.map.call(
        document.querySelectorAll("input[type=checkbox][name]:checked"),
        function (box) { return [box.name, box.value]; }
      );
      var mark = focusMark();
      var typed = typedKeep();
      var done = render(stream);
      ticked.forEach(function (pair) {
        document.querySelectorAll("input[type=checkbox][name]").forEach(function (box) {
          if (box.name === pair[0] && box.value === pair[1]) box.checked = true;
        });
      });
      Promise.resolve(done).then(function () {
        typedRestore(typed);
        focusRestore(mark);
        var count = document.querySelector("#live-count h2");
        if (count && stream.getAttribute("target") === "live-count") announce(count.textContent.trim());
        document.dispatchEvent(new CustomEvent("portal:rows-updated"));
      });
      return done;
    };
  });

  // ---- the drawer's Inbox and Queue counters (viewflow's flow menu): fetched again, once, shortly
  // after anything that may change them arrived
  var countsMeta = document.querySelector('meta[name="portal-task-counts-url"]');
  var countsTimer = null;
  function countsRefresh() {
    if (!countsMeta || !document.querySelector("[data-live-count]")) return;
    window.clearTimeout(countsTimer);
    countsTimer = window.setTimeout(function () {
      fetch(countsMeta.getAttribute("content"), { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (data) {
          if (!data) return;
          document.querySelectorAll("[data-live-count]").forEach(function (counter) {
            var count = data.counts[counter.getAttribute("data-live-count")];
            if (count !== undefined) counter.textContent = String(count);
          });
        })
        .catch(function () {});
    }, 250);
  }
  on("notification", countsRefresh);
  on("stream", countsRefresh);

  window.portalLive = { on: on, announce: announce, socket: function () { return socket; } };
  root.setAttribute("data-live", "off");
  // Turbo Drive keeps this script (and the socket) across visits: tell the server each new page.
  document.addEventListener("turbo:load", watch);
  connect();
})();
