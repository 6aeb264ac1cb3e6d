// Moves a progress bar while a background job runs, by polling /jobs/<id>; reloads the page when it ends.
// Without JavaScript the page offers a refresh link that shows the same numbers.
(function () {
  "use strict";
  var box = document.querySelector("[data-job]");
  if (!box) { return; }
  var id = box.getAttribute("data-job");
  var bar = box.querySelector("progress");
  var text = box.querySelector("[data-job-text]");
  function poll() {
    fetch("/jobs/" + encodeURIComponent(id), { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (job) {
        if (!job) { return; }
        if (bar) {
          if (job.total) { bar.max = job.total; bar.value = job.done; } else { bar.removeAttribute("value"); }
        }
        if (text) {
          text.textContent = job.done + (job.total ? " of " + job.total : "") + (job.unit ? " " + job.unit : "") +
            (job.message ? " · " + job.message : "");
        }
        if (job.status === "running") { window.setTimeout(poll, 700); } else { window.location.reload(); }
      })
      .catch(function () { window.setTimeout(poll, 2000); });
  }
  window.setTimeout(poll, 300);
})();
