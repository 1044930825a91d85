// Orderly's own script: small, and nothing the pages need to work (they work without it).
(function () {
  "use strict";

  // Keyboard shortcuts are this script's: only with it are they shown (the stylesheet hides
  // .shortcut and .js-only until <html> has the class "js") and announced (aria-keyshortcuts,
  // from each control's data-keyshortcuts).
  document.documentElement.classList.add("js");
  function announceShortcuts(root) {
    if (!root.querySelectorAll) return;
    var found = Array.prototype.slice.call(root.querySelectorAll("[data-keyshortcuts]"));
    if (root.hasAttribute && root.hasAttribute("data-keyshortcuts")) found.push(root);
    found.forEach(function (el) { el.setAttribute("aria-keyshortcuts", el.getAttribute("data-keyshortcuts")); });
  }
  document.addEventListener("DOMContentLoaded", function () { announceShortcuts(document); });
  document.addEventListener("htmx:load", function (event) { announceShortcuts(event.detail.elt); });

  // Show each <time> in the reader's time zone too, and how long ago it was.
  function localiseTimes(root) {
    var formatter = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
    // In a table column ([data-compact]) one short line; the full time is in the title.
    var compact = new Intl.DateTimeFormat(undefined, { dateStyle: "short", timeStyle: "short" });
    var relative = window.Intl && Intl.RelativeTimeFormat ? new Intl.RelativeTimeFormat(undefined, { numeric: "auto" }) : null;
    root.querySelectorAll("time[datetime]").forEach(function (el) {
      var when = new Date(el.getAttribute("datetime"));
      if (isNaN(when)) return;
      if (!el.dataset.utc) el.dataset.utc = el.textContent;
      var text = formatter.format(when);
      if (el.hasAttribute("data-compact")) {
        el.textContent = compact.format(when);
        el.title = text + " (" + el.dataset.utc + ")";
        return;
      }
      if (relative) {
        var seconds = Math.round((when - Date.now()) / 1000);
        var units = [["day", 86400], ["hour", 3600], ["minute", 60], ["second", 1]];
        for (var i = 0; i < units.length; i++) {
          if (Math.abs(seconds) >= units[i][1] || units[i][0] === "second") {
            text += " (" + relative.format(Math.round(seconds / units[i][1]), units[i][0]) + ")";
            break;
          }
        }
      }
      el.textContent = text;
      el.title = el.dataset.utc;
    });
  }

  // Is someone typing in this part of the page? Then a refresh must not wipe it out.
  function isBeingEdited(root) {
    var fields = root.querySelectorAll("input[type=text], input[type=search], textarea, select");
    for (var i = 0; i < fields.length; i++) {
      var f = fields[i];
      if (f.tagName === "SELECT" ? f.selectedIndex > 0 : f.value.trim() !== "") return true;
    }
    return false;
  }

  // The order page polls for changes made by others. If the person is in the middle of
  // typing, keep what they typed and say that the order changed instead.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    var trigger = event.detail.requestConfig && event.detail.requestConfig.elt;
    if (!trigger || !trigger.hasAttribute("data-poll") || event.detail.xhr.status !== 200) return;
    if (isBeingEdited(target)) {
      event.detail.shouldSwap = false;
      var notice = target.querySelector(".stale-notice");
      if (notice) notice.hidden = false;
    }
  });

  // An action on the order page draws its whole live part again: its answer shows the
  // form that was sent (with what was typed in it, if refused), but the other forms come
  // back empty. What was typed in them, and not sent, is carried into the new part, so
  // that a note half written survives someone's Cancel, refused or not. (Without
  // JavaScript only the form sent travels: the server keeps what it holds.)
  var typedElsewhere = null;
  function typedFields(root, sentForm) {
    var kept = [];
    root.querySelectorAll("textarea[id], input[type=text][id], select[id]").forEach(function (f) {
      if ((sentForm && f.form === sentForm) || f.readOnly || f.hasAttribute("data-scan-box")) return;
      if (f.tagName === "SELECT" ? f.selectedIndex > 0 : f.value.trim() !== "") kept.push([f.id, f.value]);
    });
    return kept;
  }
  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    typedElsewhere = null;
    if (!target || target.id !== "order-live" || !event.detail.shouldSwap) return;
    var sent = event.detail.requestConfig && event.detail.requestConfig.elt;
    var sentForm = sent && (sent.tagName === "FORM" ? sent : sent.form);
    typedElsewhere = typedFields(target, sentForm);
  });
  document.addEventListener("htmx:afterSwap", function () {
    var kept = typedElsewhere;
    typedElsewhere = null;
    (kept || []).forEach(function (entry) {
      var field = document.getElementById(entry[0]);
      if (!field || field.readOnly || field.value.trim() !== "") return;  // the answer's own value wins
      field.value = entry[1];
    });
  });

  // An action re-renders the part of the page it was in, and the control used goes with
  // it, leaving the keyboard nowhere. Unless the new part focuses a field itself
  // (autofocus) or htmx kept the focus (same id), put it back near where it was: the same
  // form's first field if that form is still there, else what the page names
  // ([data-refocus]: the order's status, the list's result count).
  var FIELDS = "input:not([type=hidden]), textarea, select, button";
  document.addEventListener("htmx:afterSettle", function (event) {
    var used = event.detail.requestConfig && event.detail.requestConfig.elt;
    if (!used || used.isConnected || used.hasAttribute("data-poll")) return;
    if (document.activeElement && document.activeElement !== document.body) return;
    var fallback = document.querySelector("[data-refocus]");
    if (!fallback) return;
    var again = used.id ? document.getElementById(used.id) : null;
    var field = again && again.tagName === "FORM" ? again.querySelector(FIELDS) : again;
    (field || fallback).focus();
  });

  // The scan box. A scanner types the next value and Enter the moment the last one is sent,
  // often before the answer is back. So the box is cleared as soon as a value is on its way;
  // values entered meanwhile wait their turn and are sent, one by one, when the answer has
  // replaced the box; what is typed without Enter yet is carried into the new box. Nothing
  // is appended to a sent value, and nothing is lost.
  var scanInFlight = false;
  var waitingScans = [];
  var boxBeforeSwap = null;
  function isScan(event) {
    var config = event.detail.requestConfig;
    var elt = config ? config.elt : event.detail.elt;
    // The packing station's scan form, or the returns station's.
    return !!elt && (elt.id === "scan-form" || elt.id === "return-scan-form");
  }
  document.addEventListener("htmx:beforeRequest", function (event) {
    if (!isScan(event)) return;
    scanInFlight = true;
    var box = event.detail.elt.querySelector("[data-scan-box]");
    if (box) box.value = "";
  });
  document.addEventListener("keydown", function (event) {
    var box = event.target;
    if (!scanInFlight || event.key !== "Enter" || !box.matches || !box.matches("[data-scan-box]")) return;
    event.preventDefault();
    if (box.value.trim()) waitingScans.push(box.value);
    box.value = "";
  }, true);
  // Any swap that replaces the box (an answer, or the page's poll) moves what was typed in
  // the old box into the new one at once, in the same task as the swap, so the keys that
  // follow land after it, in the box an Enter will send.
  document.addEventListener("htmx:beforeSwap", function () {
    boxBeforeSwap = document.querySelector("[data-scan-box]");
  });
  document.addEventListener("htmx:afterSwap", function () {
    var old = boxBeforeSwap;
    boxBeforeSwap = null;
    var box = document.querySelector("[data-scan-box]");
    if (!old || !box || old === box || !old.value) return;
    box.value = old.value + box.value;
    if (document.activeElement === box) box.setSelectionRange(box.value.length, box.value.length);
  });
  function scanDone(event) {
    if (!isScan(event)) return;
    scanInFlight = false;
    var box = document.querySelector("[data-scan-box]");
    if (!box) { waitingScans = []; return; }
    var typed = box.value;
    box.focus();
    if (waitingScans.length) {
      box.value = waitingScans.shift();
      box.form.requestSubmit();
    }
    box.value = typed;
  }
  document.addEventListener("htmx:afterSettle", scanDone);
  document.addEventListener("htmx:responseError", scanDone);
  document.addEventListener("htmx:sendError", scanDone);

  // The order list's "select all" box ticks every order on the page for printing.
  function wireSelectAll(root) {
    var all = root.querySelector ? root.querySelector("[data-select-all]") : null;
    if (!all) return;
    var form = all.getAttribute("data-select-all");
    var boxes = function () { return document.querySelectorAll('input[type=checkbox][name=order][form="' + form + '"]'); };
    var sync = function () {
      var list = boxes(), ticked = 0;
      list.forEach(function (b) { if (b.checked) ticked++; });
      all.checked = list.length > 0 && ticked === list.length;
      all.indeterminate = ticked > 0 && ticked < list.length;
    };
    all.hidden = false;
    all.addEventListener("change", function () {
      boxes().forEach(function (b) { b.checked = all.checked; });
    });
    boxes().forEach(function (b) { b.addEventListener("change", sync); });
    sync();
  }

  document.addEventListener("DOMContentLoaded", function () { localiseTimes(document); wireSelectAll(document); });
  document.addEventListener("htmx:afterSettle", function (event) { wireSelectAll(event.target); });

  // Until the user has a time zone, tell the server the browser's, once.
  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("browser-time-zone");
    var zone = window.Intl && Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (!form || !zone) return;
    form.elements.time_zone.value = zone;
    fetch(form.action, { method: "POST", body: new FormData(form), credentials: "same-origin", headers: { "X-Requested-With": "fetch" } });
  });
  document.addEventListener("htmx:afterSettle", function (event) { localiseTimes(event.target); });

  // An htmx request that failed must not fail silently: say so where it is seen and heard.
  function reportProblem(text) {
    var box = document.getElementById("request-problem");
    if (!box) {
      box = document.createElement("div");
      box.id = "request-problem";
      box.className = "request-problem";
      box.setAttribute("role", "alert");
      document.body.insertBefore(box, document.body.firstChild);
    }
    box.textContent = text;
  }
  var PROBLEMS = {
    400: "This page is out of date. Reload it and try again; nothing was changed.",
    403: "Your role does not allow this; nothing was changed.",
    404: "This is no longer there. Reload the page.",
    413: "That is too large to send.",
  };
  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr.status;
    reportProblem(PROBLEMS[status] || "Something went wrong on our side (" + status + "). Nothing you entered was lost: try again.");
  });
  document.addEventListener("htmx:sendError", function () {
    reportProblem("Orderly cannot be reached. Check the connection and try again; nothing you entered was lost.");
  });
  document.addEventListener("htmx:beforeRequest", function () {
    var box = document.getElementById("request-problem");
    if (box) box.remove();
  });
})();

// Packing summaries: printing is recorded on each order (who and when). The Print button
// opens the print dialog; whatever way printing was started, it is recorded once afterwards.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var form = document.querySelector("form[data-print-record]");
    if (!form) return;
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      window.print();
    });
    window.addEventListener("afterprint", function () {
      fetch(form.action, {
        method: "POST",
        body: new FormData(form),
        headers: { "X-Requested-With": "fetch" },
        credentials: "same-origin",
      });
    });
  });
})();

// The new-order page's fast path: item and kit boxes are comboboxes (WAI-ARIA 1.2, list
// autocomplete) whose options the server sends as the coordinator types; Enter in a count
// adds the next row; Ctrl+Enter (⌘+Enter) places the order from any field. Without this
// script every box has a "Find" button and the page still works.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  // A box that already holds text when htmx wires it (typed before the page's scripts
  // ran, or put back by the browser) asks for its options now.
  document.addEventListener("htmx:load", function (event) {
    var root = event.detail.elt;
    if (!root || !root.querySelectorAll || !window.htmx) return;
    var boxes = Array.prototype.slice.call(root.querySelectorAll('input[role="combobox"]'));
    if (root.matches && root.matches('input[role="combobox"]')) boxes.push(root);
    boxes.forEach(function (box) {
      if (box.value !== box.defaultValue) window.htmx.trigger(box, "input");
    });
  });

  // Presses that wait. The lines' requests take turns (hx-sync queue): a button pressed
  // while the rows are being redrawn waits for that answer. The answer replaces the
  // button, and htmx then drops the waiting request without a word. So a press made while
  // the rows are busy is noted; if its button is gone when its turn came, it is pressed
  // again on the button drawn in its place (same id and action). A press that names a row
  // by its number ("remove-item:1") is pressed again only if the rows were not renumbered
  // meanwhile; otherwise the page says so, rather than act on another row.
  var linesBusy = 0;
  var waiting = [];
  var replaying = false;
  function linesPath(path) {
    var lines = document.getElementById("order-lines");
    return !!lines && !!path && path === lines.getAttribute("data-lines-url");
  }
  function rowCount() { return document.querySelectorAll("#order-lines .line-row").length; }
  function buttonText(elt) { return (elt.textContent || "").replace(/\s+/g, " ").trim(); }
  document.addEventListener("htmx:confirm", function (event) {
    var elt = event.detail.elt;
    var press = event.detail.triggeringEvent;
    if (!linesPath(event.detail.path)) return;
    var notice = document.getElementById("lines-notice");
    if (notice && !replaying) notice.textContent = "";  // a new press: what was said is old news
    // Buttons only (a list's change is redrawn anyway), and not the second click of a
    // double-click: that one was never meant as a second row.
    if (!linesBusy || !elt.id || !elt.matches("button[type=submit]") || (press && press.detail > 1)) return;
    waiting.push({ elt: elt, id: elt.id, value: elt.value, rows: rowCount(), text: buttonText(elt) });
  });
  document.addEventListener("htmx:beforeRequest", function (event) {
    if (!linesPath(event.detail.requestConfig && event.detail.requestConfig.path)) return;
    linesBusy += 1;
    var elt = event.detail.elt;
    waiting = waiting.filter(function (press) { return press.elt !== elt; });
  });
  function pressAgainWhatWasDropped() {
    var dropped = waiting.filter(function (press) { return !press.elt.isConnected; });
    // With nothing on its way, nothing still waits: a press htmx let go of is forgotten.
    waiting = linesBusy ? waiting.filter(function (press) { return press.elt.isConnected; }) : [];
    var said = [];
    dropped.forEach(function (press) {
      var again = document.getElementById(press.id);
      var numbered = String(press.value || "").indexOf(":") >= 0;
      if (again && again.value === press.value && (!numbered || rowCount() === press.rows)) {
        replaying = true;
        try { again.click(); } finally { replaying = false; }
      } else {
        said.push("“" + press.text + "” was pressed while the rows were being redrawn, and they changed: press it again if you still want it.");
      }
    });
    var notice = document.getElementById("lines-notice");
    if (notice && said.length) notice.textContent = said.join(" ");
  }
  document.addEventListener("htmx:afterRequest", function (event) {
    if (!linesPath(event.detail.requestConfig && event.detail.requestConfig.path)) return;
    linesBusy = Math.max(0, linesBusy - 1);
    // htmx issues the next waiting request right after this event: look once it has.
    setTimeout(pressAgainWhatWasDropped, 0);
  });

  function listboxOf(input) { return document.getElementById(input.getAttribute("aria-controls")); }
  function options(listbox) { return listbox ? Array.prototype.slice.call(listbox.querySelectorAll("[role=option]")) : []; }

  function setActive(input, option) {
    var listbox = listboxOf(input);
    options(listbox).forEach(function (o) { o.setAttribute("aria-selected", o === option ? "true" : "false"); });
    if (option) {
      input.setAttribute("aria-activedescendant", option.id);
      option.scrollIntoView({ block: "nearest" });
    } else {
      input.removeAttribute("aria-activedescendant");
    }
  }

  function open(input, yes) {
    var listbox = listboxOf(input);
    if (!listbox) return;
    var has = yes && options(listbox).length > 0;
    listbox.hidden = !has;
    input.setAttribute("aria-expanded", has ? "true" : "false");
    if (!has) setActive(input, null);
  }

  function pick(input, option) {
    input.value = option.getAttribute("data-value");
    open(input, false);
    // The row's note and the summary follow the change, as when a name is typed.
    input.dispatchEvent(new Event("change", { bubbles: true }));
    var count = document.getElementById(input.getAttribute("data-count"));
    if (count) { count.focus(); count.select(); }
  }

  document.addEventListener("keydown", function (event) {
    var target = event.target;
    var form = target.closest && target.closest("form[data-order-form]");
    if (!form) return;
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      var place = form.querySelector("[data-primary]");
      if (place && !place.disabled) place.click();
      return;
    }
    if (event.altKey && !event.ctrlKey && !event.metaKey) {
      var shortcut = form.querySelector('[data-shortcut="Alt+' + (event.code || "").replace("Key", "") + '"]');
      if (shortcut) { event.preventDefault(); shortcut.click(); }
      return;
    }
    if (target.getAttribute("role") === "combobox") {
      var listbox = listboxOf(target);
      var all = options(listbox);
      var current = document.getElementById(target.getAttribute("aria-activedescendant") || "");
      var index = all.indexOf(current);
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        if (!all.length) return;
        event.preventDefault();
        open(target, true);
        var step = event.key === "ArrowDown" ? 1 : -1;
        setActive(target, all[(index + step + all.length) % all.length]);
      } else if (event.key === "Enter" && current && !listbox.hidden) {
        event.preventDefault();
        pick(target, current);
      } else if (event.key === "Escape" && !listbox.hidden) {
        event.preventDefault();
        open(target, false);
      }
      return;
    }
    // Enter in a count adds the next row of its kind (and the new row takes the focus).
    if (event.key === "Enter" && target.hasAttribute("data-add-row")) {
      var add = document.getElementById(target.getAttribute("data-add-row"));
      if (add) { event.preventDefault(); add.click(); }
      return;
    }
    // ↓ from the recipient search goes to the first result; ↑/↓ move between results.
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      var results = Array.prototype.slice.call(form.querySelectorAll("#recipient-results button.result"));
      var at = results.indexOf(target);
      if (target.id === "recipient-query" && event.key === "ArrowDown" && results.length) {
        event.preventDefault();
        results[0].focus();
      } else if (at >= 0) {
        event.preventDefault();
        if (event.key === "ArrowUp" && at === 0) document.getElementById("recipient-query").focus();
        else if (results[at + (event.key === "ArrowDown" ? 1 : -1)]) results[at + (event.key === "ArrowDown" ? 1 : -1)].focus();
      }
    }
  });

  // New options arrived: open the list (or close it when nothing matches) and say how many.
  document.addEventListener("htmx:afterSwap", function (event) {
    var listbox = event.detail.target;
    if (!listbox || listbox.getAttribute("role") !== "listbox") return;
    var input = document.querySelector('[aria-controls="' + listbox.id + '"]');
    if (!input) return;
    var count = options(listbox).length;
    open(input, document.activeElement === input && input.value.trim() !== "");
    var status = document.getElementById(input.id.replace(/-ref$/, "-status"));
    if (status) status.textContent = input.value.trim() === "" ? "" : count === 0 ? "Nothing matches." : count + (count === 1 ? " match" : " matches") + ": ↓ to choose.";
    // Nothing matches: said where it is seen too, under the box.
    var none = document.getElementById(input.id.replace(/-ref$/, "-none"));
    if (none) none.textContent = input.value.trim() !== "" && count === 0 ? "Nothing on offer matches “" + input.value.trim() + "”." : "";
  });

  // The mouse: a click on an option picks it; the box keeps the focus meanwhile.
  document.addEventListener("mousedown", function (event) {
    if (event.target.closest && event.target.closest("[role=listbox]")) event.preventDefault();
  });
  document.addEventListener("click", function (event) {
    var option = event.target.closest && event.target.closest("[role=option]");
    if (!option) return;
    var input = document.querySelector('[aria-controls="' + option.parentElement.id + '"]');
    if (input) pick(input, option);
  });
  document.addEventListener("focusout", function (event) {
    if (event.target.getAttribute && event.target.getAttribute("role") === "combobox") open(event.target, false);
  });

  // The server names the field to go on with when it lies outside the part it redrew.
  document.addEventListener("orderly:focus", function (event) {
    var field = document.getElementById(event.detail.value);
    if (field) field.focus();
  });
})();
