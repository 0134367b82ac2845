// The pipeline board: cards dragged to another stage (SortableJS) submit the card's own "Move" form, the same
// request the keyboard makes. The board does not reload under a drag or an open edit form; a reload asked for
// meanwhile runs once the drag has ended and no edit form is open.
(function () {
  "use strict";
  var dragging = false;
  var reloadWanted = false;

  // An open edit form is found by its data-editing attribute, not its class: htmx keeps the old element's class on
  // a swapped-in element until it settles, and a reload queued behind the form's request runs before that.
  function busy(board) { return dragging || Boolean(board.querySelector("[data-editing]")); }

  function reloadIfWanted() {
    var board = document.getElementById("board");
    if (board && reloadWanted && !busy(board)) {
      reloadWanted = false;
      window.htmx.trigger(board, "live-refresh");
    }
  }

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
        onStart: function () {
          dragging = true;
          // A reload in flight would replace the card being dragged: stop it; the board reloads after the drop.
          var board = document.getElementById("board");
          if (board) { window.htmx.trigger(board, "htmx:abort"); }
        },
        onEnd: function (event) {
          dragging = false;
          var form = event.from === event.to ? null : event.item.querySelector(".move-form");
          var select = form && form.querySelector("select[name=stage]");
          if (!select) { reloadIfWanted(); return; }
          select.value = event.to.dataset.stage;
          form.requestSubmit();
        }
      });
    });
  }

  document.addEventListener("htmx:afterSwap", function (event) { attach(event.detail.target); });
  document.addEventListener("htmx:beforeRequest", function (event) {
    var board = document.getElementById("board");
    if (board && event.detail.elt === board && busy(board)) {
      reloadWanted = true;
      event.preventDefault();
    }
  });
  document.addEventListener("htmx:beforeSwap", function (event) {
    var board = document.getElementById("board");
    if (board && event.detail.target === board && dragging) {
      reloadWanted = true;
      event.detail.shouldSwap = false;
    }
  });
  document.addEventListener("htmx:afterSettle", reloadIfWanted);
})();
