// Accessibility repairs for markup the portal does not write itself: viewflow's Material widgets
// (drawn by its web components) and Django admin's widgets. Each control without an accessible
// name gets one from its visible label, column header or title; ARIA attributes a role does not
// allow are moved or dropped. A MutationObserver repeats this for what scripts add later.
(function () {
  "use strict";
  if (window.portalA11y) return;

  function text(node) { return node ? (node.textContent || "").replace(/\s+/g, " ").trim() : ""; }

  function named(control) {
    if (control.getAttribute("aria-label") || control.getAttribute("aria-labelledby")) return true;
    if (control.labels && Array.prototype.some.call(control.labels, function (label) { return text(label); })) return true;
    return false;
  }

  function nameFor(control) {
    // viewflow's Material field: its floating label or label element, in the same field box.
    var field = control.closest(".vf-field, .mdc-text-field, .mdc-select, .vf-form__field, [class*='vf-field']");
    if (field) {
      var label = field.querySelector(".mdc-floating-label, label, .vf-field__label");
      if (text(label)) return text(label);
    }
    // A table cell (the admin's list_editable columns): the column's header, and the row's first cell.
    var cell = control.closest("td, th");
    var table = cell && cell.closest("table");
    if (table && table.tHead) {
      var header = table.tHead.rows[0] && table.tHead.rows[0].cells[cell.cellIndex];
      var row = cell.parentElement;
      var first = row.querySelector("th, td a");
      var name = text(header);
      if (name) return first && first !== cell ? name + " (" + text(first) + ")" : name;
    }
    // The admin's split date and time: the form row's label, and which half this is.
    var formRow = control.closest(".form-row, .fieldBox");
    if (formRow) {
      var rowLabel = text(formRow.querySelector("label"));
      var half = control.classList.contains("vTimeField") ? "time" : control.classList.contains("vDateField") ? "date" : "";
      if (rowLabel) return half ? rowLabel.replace(/:$/, "") + " (" + half + ")" : rowLabel;
    }
    return control.getAttribute("title") || control.getAttribute("placeholder") || control.name || "";
  }

  function repair(root) {
    // Buttons (submit, reset, button, image) are named by their value or alt: never renamed here.
    var fields = "input:not([type=hidden]):not([type=submit]):not([type=reset]):not([type=button]):not([type=image]), select, textarea";
    root.querySelectorAll(fields).forEach(function (control) {
      if (control.hidden || named(control)) return;
      var name = nameFor(control);
      if (name) control.setAttribute("aria-label", name);
    });
    // aria-required is not allowed on the select's anchor (role button/combobox without it in MDC):
    // the hidden native control keeps `required`.
    root.querySelectorAll(".mdc-select__anchor[aria-required]").forEach(function (anchor) {
      if (anchor.getAttribute("role") !== "combobox") anchor.removeAttribute("aria-required");
    });
    // The admin's help icons carry aria-label on a bare span: give them the img role it needs.
    root.querySelectorAll("span[aria-label]:not([role])").forEach(function (icon) { icon.setAttribute("role", "img"); });
  }

  var pending = null;
  function soon() {
    if (pending) return;
    pending = window.setTimeout(function () { pending = null; repair(document); }, 30);
  }

  // Turbo Drive swaps <body> on each visit: watch the body that is there now.
  var observer = new MutationObserver(soon);
  var watched = null;
  function start() {
    repair(document);
    if (document.body && document.body !== watched) {
      observer.disconnect();
      observer.observe(document.body, { childList: true, subtree: true });
      watched = document.body;
    }
  }

  window.portalA11y = { repair: repair };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
  document.addEventListener("turbo:load", start);
})();
