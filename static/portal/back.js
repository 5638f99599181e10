// "Back" buttons without inline script (the Content-Security-Policy allows none): a link marked
// data-portal-back goes back in history; data-portal-back="reload" then reloads that page, as
// viewflow's bulk assign pages did with their inline onclick. Without script, the link's href works.
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("[data-portal-back]");
    if (!link || window.history.length < 2) return;
    event.preventDefault();
    window.history.back();
    if (link.getAttribute("data-portal-back") === "reload" && window.Turbo) {
      setTimeout(function () { window.Turbo.visit("."); }, 100);
    }
  });
})();
