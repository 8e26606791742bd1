// The promotion module's pages.
// Board (templates/sales/board.html): cards move between stage columns by drag and drop
// (native HTML5) or by their "previous/next stage" buttons. Both send the same POST as the
// buttons' forms, asking for JSON; the card moves once the server (which checks and audits
// the move) agrees, and the live region announces it. Without JS the forms post and redirect.
(function () {
  "use strict";

  var switcher = document.querySelector("[data-board-switch]");
  if (switcher) {
    switcher.addEventListener("change", function () {
      window.location.assign(switcher.value);
    });
  }

  var board = document.querySelector("[data-board]");
  if (!board || !board.hasAttribute("data-may-move")) {
    return;
  }
  var status = document.getElementById("board-status");
  var columns = Array.prototype.slice.call(board.querySelectorAll("[data-stage]"));

  function announce(text) {
    status.textContent = "";
    window.setTimeout(function () {
      status.textContent = text;
    }, 50);
  }

  function csrfToken(card) {
    var input = card.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function columnOf(card) {
    return card.closest("[data-stage]");
  }

  function refreshButtons(card) {
    var index = columns.indexOf(columnOf(card));
    var previous = card.querySelector("[data-move=previous]");
    var next = card.querySelector("[data-move=next]");
    if (previous) {
      previous.hidden = index <= 0;
      previous.value = index > 0 ? columns[index - 1].dataset.stage : "";
    }
    if (next) {
      next.hidden = index >= columns.length - 1;
      next.value = index < columns.length - 1 ? columns[index + 1].dataset.stage : "";
    }
  }

  function adjustCount(column, delta) {
    var badge = column.querySelector("[data-column-count]");
    if (badge) {
      badge.textContent = String(parseInt(badge.textContent, 10) + delta);
    }
  }

  function move(card, target, focusSelector) {
    var source = columnOf(card);
    if (!target || target === source) {
      return;
    }
    var body = new FormData();
    body.append("stage", target.dataset.stage);
    body.append("csrfmiddlewaretoken", csrfToken(card));
    fetch(card.dataset.moveUrl, {
      method: "POST",
      body: body,
      headers: { Accept: "application/json", "X-CSRFToken": csrfToken(card) },
      credentials: "same-origin",
    })
      .then(function (response) {
        return response.json().then(function (data) {
          return { ok: response.ok && data.ok, data: data };
        });
      })
      .then(function (result) {
        if (!result.ok) {
          announce(result.data.error || board.dataset.errorText || "Error");
          return;
        }
        target.querySelector("[data-cards]").prepend(card);
        adjustCount(source, -1);
        adjustCount(target, 1);
        refreshButtons(card);
        announce(result.data.message);
        if (focusSelector) {
          var again = card.querySelector(focusSelector + ":not([hidden])");
          (again || card.querySelector("a")).focus();
        }
      })
      .catch(function () {
        announce(board.dataset.errorText || "Error");
      });
  }

  board.addEventListener("submit", function (event) {
    var form = event.target.closest("[data-move-form]");
    var button = event.submitter;
    if (!form || !button || !button.dataset.move) {
      return;
    }
    event.preventDefault();
    var card = form.closest("[data-opportunity]");
    var index = columns.indexOf(columnOf(card));
    var direction = button.dataset.move;
    var target = columns[direction === "next" ? index + 1 : index - 1];
    move(card, target, "[data-move=" + direction + "]");
  });

  var dragged = null;
  board.addEventListener("dragstart", function (event) {
    var card = event.target.closest && event.target.closest("[data-opportunity]");
    if (!card) {
      return;
    }
    dragged = card;
    card.classList.add("sales-dragging");
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", card.dataset.opportunity);
  });
  board.addEventListener("dragend", function () {
    if (dragged) {
      dragged.classList.remove("sales-dragging");
    }
    dragged = null;
    columns.forEach(function (column) {
      column.classList.remove("sales-drop-target");
    });
  });
  columns.forEach(function (column) {
    column.addEventListener("dragover", function (event) {
      if (dragged) {
        event.preventDefault();
        event.dataTransfer.dropEffect = "move";
        column.classList.add("sales-drop-target");
      }
    });
    column.addEventListener("dragleave", function (event) {
      if (!column.contains(event.relatedTarget)) {
        column.classList.remove("sales-drop-target");
      }
    });
    column.addEventListener("drop", function (event) {
      event.preventDefault();
      column.classList.remove("sales-drop-target");
      if (dragged) {
        move(dragged, column, null);
      }
    });
  });
})();

// Forms with errors (lead, opportunity, quote pages): take the user to the summary.
(function () {
  "use strict";
  var summary = document.querySelector("[data-error-summary]");
  if (summary) {
    summary.focus();
  }
})();
