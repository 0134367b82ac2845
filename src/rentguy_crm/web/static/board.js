// The pipeline board: cards dragged to another stage (SortableJS) submit the card's own "Move" form, the same
// request the keyboard makes. The board does not reload under a drag or an open edit form.
(function () {
  "use strict";
  var dragging = false;

  function attach(root) {
    if (!window.Sortable || !root || !root.querySelectorAll) { return; }
    root.querySelectorAll(".stage-cards").forEach(function (list) {
      if (list.dataset.sortable) { return; }
      list.dataset.sortable = "on";
      window.Sortable.create(list, {
        group: "deals",
        draggable: ".deal-card[data-draggable]",
        filter: "input, select, button, a, label",
        preventOnFilter: false,
        animation: 120,
        onStart: function () { dragging = true; },
        onEnd: function (event) {
          dragging = false;
          if (event.from === event.to) { return; }
          var form = event.item.querySelector(".move-form");
          var select = form && form.querySelector("select[name=stage]");
          if (!select) { return; }
          select.value = event.to.dataset.stage;
          form.requestSubmit();
        }
      });
    });
  }

  document.addEventListener("htmx:afterSwap", function (event) { attach(event.detail.target); });
  document.addEventListener("htmx:beforeRequest", function (event) {
    var board = document.getElementById("board");
    if (board && event.detail.elt === board && (dragging || board.querySelector(".deal-edit"))) {
      event.preventDefault();
    }
  });
})();
