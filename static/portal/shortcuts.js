// Keyboard triage (issue 18). In a task list (processes/tasklist): j and k move to the next and
// previous row, Enter opens it, c claims it (queue), x ticks it for the bulk claim (queue). On a
// task page with a decision: a picks the first choice (approve) and r the second (reject), then
// the comment field takes the focus; nothing is submitted, the person still confirms. ? opens
// the list of shortcuts. No shortcut fires while typing (a text field, textarea, select or
// contenteditable has the focus) or with Ctrl, Alt or Meta held.
(function () {
  "use strict";
  if (window.portalShortcuts) return;
  // Django's JavaScript catalog (/jsi18n/, loaded before this file) in the page's language.
  var _ = window.gettext || function (text) { return text; };

  var SHORTCUTS = [
    ["j", _("Next task in the list")],
    ["k", _("Previous task in the list")],
    ["Enter", _("Open the selected task")],
    ["c", _("Claim the selected task (queue)")],
    ["x", _("Tick the selected task for a bulk claim (queue)")],
    ["a", _("On a task: choose approve and write a comment")],
    ["r", _("On a task: choose reject and write a comment")],
    ["?", _("Show these shortcuts")]
  ];

  function typing(target) {
    if (!target || target === document.body) return false;
    if (target.isContentEditable) return true;
    var tag = target.tagName;
    if (tag === "TEXTAREA" || tag === "SELECT") return true;
    if (tag === "INPUT") {
      var type = (target.getAttribute("type") || "text").toLowerCase();
      return ["checkbox", "radio", "button", "submit", "reset", "image", "file", "range", "color"].indexOf(type) === -1;
    }
    return false;
  }

  // ---- the task list
  function rows() {
    return Array.prototype.slice.call(document.querySelectorAll(".portal-tasklist #live-rows tbody tr"));
  }

  var currentId = null; // the selected row's id: it survives live updates of the rows

  function current() {
    return currentId ? document.getElementById(currentId) : null;
  }

  function select(row) {
    rows().forEach(function (other) {
      other.classList.remove("portal-current");
      other.removeAttribute("aria-current");
    });
    if (!row) { currentId = null; return; }
    currentId = row.id;
    row.classList.add("portal-current");
    row.setAttribute("aria-current", "true");
    var link = row.querySelectorAll("td a")[1] || row.querySelector("td a"); // the subject, else the process
    if (link) link.focus(); // the focus ring shows it; a screen reader reads the subject
    row.scrollIntoView({ block: "nearest" });
  }

  function move(step) {
    var all = rows();
    if (!all.length) return false;
    var index = all.indexOf(current());
    var next = index === -1 ? (step > 0 ? 0 : all.length - 1) : Math.min(all.length - 1, Math.max(0, index + step));
    select(all[next]);
    return true;
  }

  function rowFromFocus() {
    var active = document.activeElement;
    var row = active && active.closest ? active.closest(".portal-tasklist #live-rows tbody tr") : null;
    return row || current();
  }

  function open() {
    var row = rowFromFocus();
    var link = row && (row.querySelectorAll("td a")[1] || row.querySelector("td a"));
    if (!link) return false;
    link.click();
    return true;
  }

  function claim() {
    var row = rowFromFocus();
    var button = row && row.querySelector("button[formaction*='/claim/']");
    if (!button) return false;
    button.click();
    return true;
  }

  function tick() {
    var row = rowFromFocus();
    var box = row && row.querySelector("input[type=checkbox][name=task]");
    if (!box) return false;
    box.click();
    return true;
  }

  // ---- the task page
  function decide(index) {
    var choices = document.querySelectorAll("input[type=radio][name=decision]");
    var comment = document.querySelector("textarea[name=comment]");
    if (choices.length < 2 || !comment) return false;
    choices[index].click();
    comment.focus();
    return true;
  }

  // ---- the shortcuts dialog
  function help() {
    var dialog = document.getElementById("portal-shortcuts");
    if (!dialog) {
      dialog = document.createElement("dialog");
      dialog.id = "portal-shortcuts";
      dialog.className = "portal-shortcuts";
      dialog.setAttribute("aria-labelledby", "portal-shortcuts-title");
      var title = document.createElement("h2");
      title.id = "portal-shortcuts-title";
      title.textContent = _("Keyboard shortcuts");
      dialog.appendChild(title);
      var list = document.createElement("dl");
      SHORTCUTS.forEach(function (pair) {
        var key = document.createElement("dt");
        var kbd = document.createElement("kbd");
        kbd.textContent = pair[0];
        key.appendChild(kbd);
        var what = document.createElement("dd");
        what.textContent = pair[1];
        list.appendChild(key);
        list.appendChild(what);
      });
      dialog.appendChild(list);
      var note = document.createElement("p");
      note.textContent = _("Shortcuts do nothing while you type in a field.");
      dialog.appendChild(note);
      var close = document.createElement("button");
      close.type = "button";
      close.className = "mdc-button mdc-button--raised";
      close.textContent = _("Close");
      close.addEventListener("click", function () { dialog.close(); });
      dialog.appendChild(close);
      document.body.appendChild(dialog);
    }
    if (!dialog.open) dialog.showModal(); // focus moves into it; Esc closes it and gives focus back
    return true;
  }

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.ctrlKey || event.altKey || event.metaKey || event.isComposing) return;
    if (typing(event.target)) return;
    var dialog = document.getElementById("portal-shortcuts");
    if (dialog && dialog.open) return; // the dialog has the keyboard
    var done = false;
    switch (event.key) {
      case "j": done = move(1); break;
      case "k": done = move(-1); break;
      case "Enter":
        // A focused link or button does its own thing; Enter opens the selected row otherwise.
        if (event.target.closest && event.target.closest("a, button, input")) return;
        done = open();
        break;
      case "c": done = claim(); break;
      case "x": done = tick(); break;
      case "a": done = decide(0); break;
      case "r": done = decide(1); break;
      case "?": done = help(); break;
      default: return;
    }
    if (done) event.preventDefault();
  });

  // Live updates re-render the rows: the selected row stays selected (without moving the focus).
  document.addEventListener("portal:rows-updated", function () {
    var row = current();
    if (row) { row.classList.add("portal-current"); row.setAttribute("aria-current", "true"); }
  });
  document.addEventListener("turbo:load", function () { currentId = null; });

  window.portalShortcuts = { list: SHORTCUTS };
})();
