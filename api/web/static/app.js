// Enhancement only: every page works without it. Moves focus to the error summary after a failed
// submission, so screen-reader and keyboard users land on the list of what to fix.
document.addEventListener("DOMContentLoaded", function () {
  var summary = document.querySelector("[data-focus-on-load]");
  if (summary) {
    summary.focus();
  }
});
