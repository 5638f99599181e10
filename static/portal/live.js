// Live channel of the Approvals Portal: one websocket per tab, reconnecting with backoff.
// Later features hang their handlers on `window.portalLive.on(type, handler)`.
(function () {
  "use strict";
  if (window.portalLive) return;
  var meta = document.querySelector('meta[name="portal-live-url"]');
  if (!meta || !window.WebSocket) return;

  var handlers = {};
  var attempt = 0;
  var socket = null;
  var root = document.documentElement;

  function url() {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    return scheme + window.location.host + meta.getAttribute("content");
  }

  function connect() {
    socket = new WebSocket(url());
    socket.onopen = function () { attempt = 0; };
    socket.onmessage = function (event) {
      var message = JSON.parse(event.data);
      if (message.type === "hello") root.setAttribute("data-live", "on");
      (handlers[message.type] || []).forEach(function (handler) { handler(message); });
    };
    socket.onclose = function (event) {
      root.setAttribute("data-live", "off");
      if (event.code === 4401) return; // logged out: the next page load asks for a login
      var delay = Math.min(30000, 500 * Math.pow(2, attempt++)) * (0.5 + Math.random() / 2);
      window.setTimeout(connect, delay);
    };
  }

  window.portalLive = {
    on: function (type, handler) { (handlers[type] = handlers[type] || []).push(handler); },
    socket: function () { return socket; },
  };
  root.setAttribute("data-live", "off");
  connect();
})();
