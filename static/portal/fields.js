// Ties each form field's helper line to its input for assistive technology. viewflow's Material
// fields show a field's error (or help text) in a helper line beside the input but do not
// reference it: screen readers announce the label only. For every input, select and textarea in a
// field row, this gives its helper text an id (`<input id>_helper`), points the input's
// aria-describedby at it, and marks an invalid field aria-invalid="true". Fields are rendered by
// web components after the page loads (and again by Turbo), so a MutationObserver keeps it done.
(function () {
  "use strict";

  function describe(row) {
    var control = row.querySelector("input:not([type=hidden]), select, textarea");
    var helper = row.querySelector(".mdc-text-field-helper-text, .mdc-select-helper-text, .vf-field__helper");
    if (!control || !control.id || !helper || !helper.textContent.trim()) return;
    if (!helper.id) helper.id = control.id + "_helper";
    if (control.getAttribute("aria-describedby") !== helper.id) control.setAttribute("aria-describedby", helper.id);
    var invalid = !!row.querySelector(".mdc-text-field--invalid, .mdc-select--invalid, .vf-field--invalid");
    if (invalid) {
      if (control.getAttribute("aria-invalid") !== "true") control.setAttribute("aria-invalid", "true");
    } else if (control.hasAttribute("aria-invalid")) {
      control.removeAttribute("aria-invalid");
    }
  }

  function describeAll() {
    document.querySelectorAll(".vf-field__row").forEach(describe);
  }

  var scheduled = false;
  function schedule() {
    if (scheduled) return;
    scheduled = true;
    window.requestAnimationFrame(function () {
      scheduled = false;
      describeAll();
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    describeAll();
    new MutationObserver(schedule).observe(document.body, { childList: true, subtree: true });
  });
  document.addEventListener("turbo:load", schedule);
  document.addEventListener("turbo:render", schedule);
})();
