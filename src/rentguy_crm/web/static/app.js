// The web app's few behaviours (no inline script: the CSP allows scripts from this site only).
// Error state of a region htmx could not load, and the end of its loading state.
(function () {
  "use strict";

  function showError(target, text) {
    if (!target) { return; }
    var message = document.createElement("p");
    message.className = "state state-error";
    message.setAttribute("role", "alert");
    message.textContent = text;
    target.replaceChildren(message);
    target.setAttribute("aria-busy", "false");
  }

  document.addEventListener("htmx:sendError", function (event) {
    showError(event.detail.target, document.body.dataset.offlineText);
  });
  document.addEventListener("htmx:responseError", function (event) {
    // 4xx answers are pages of their own (not allowed, a mistake) and are swapped in; this is for the rest.
    if (event.detail.xhr && event.detail.xhr.status >= 500) {
      showError(event.detail.target, document.body.dataset.errorText);
    }
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target) { event.detail.target.setAttribute("aria-busy", "false"); }
  });

  // A live region (class "live-region") reloads itself when the server says something changed. A person's request
  // from inside it (complete a task, open an edit form) and the region's reloads share one queue: the person's
  // request cancels a reload in flight, whose answer was read before the change and would overwrite its result;
  // the cancelled reload and any asked for meanwhile run after the person's answer is in.
  function regionAround(elt) {
    var parent = elt && elt.parentElement;
    return parent ? parent.closest(".live-region") : null;
  }
  document.addEventListener("htmx:confirm", function (event) {
    var elt = event.detail.elt;
    if (elt.classList.contains("live-region") || elt.hasAttribute("hx-sync")) { return; }
    if (regionAround(elt)) { elt.setAttribute("hx-sync", "closest .live-region:replace"); }
  });
  document.addEventListener("htmx:sendAbort", function (event) {
    var region = event.detail.elt;
    if (!region || !region.classList.contains("live-region")) { return; }
    // Asked after the person's request has taken the queue, so the reload waits for its answer.
    window.setTimeout(function () { window.htmx.trigger(region, "live-refresh"); }, 0);
  });
})();
