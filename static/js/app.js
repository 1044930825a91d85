// Orderly's own script: small, and nothing the pages need to work (they work without it).
(function () {
  "use strict";

  // Show each <time> in the reader's time zone too, and how long ago it was.
  function localiseTimes(root) {
    var formatter = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
    var relative = window.Intl && Intl.RelativeTimeFormat ? new Intl.RelativeTimeFormat(undefined, { numeric: "auto" }) : null;
    root.querySelectorAll("time[datetime]").forEach(function (el) {
      var when = new Date(el.getAttribute("datetime"));
      if (isNaN(when)) return;
      if (!el.dataset.utc) el.dataset.utc = el.textContent;
      var text = formatter.format(when);
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

  document.addEventListener("DOMContentLoaded", function () { localiseTimes(document); });
  document.addEventListener("htmx:afterSettle", function (event) { localiseTimes(event.target); });
})();
