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
})();
