// The segment editor: each condition shows only the inputs of its chosen type (without JS every
// input is shown, and the server ignores those a type does not use). The live count is htmx's
// (hx-post on the form, campaigns:segment_count).
(function () {
  "use strict";

  function update(condition) {
    var select = condition.querySelector("[data-condition-type]");
    var type = select ? select.value : "";
    condition.querySelectorAll("[data-for]").forEach(function (part) {
      var types = part.getAttribute("data-for").split(" ");
      part.hidden = types.indexOf(type) === -1;
    });
  }

  document.querySelectorAll("[data-condition]").forEach(function (condition) {
    update(condition);
    var select = condition.querySelector("[data-condition-type]");
    if (select) {
      select.addEventListener("change", function () {
        update(condition);
      });
    }
  });

  var errors = document.getElementById("rule-errors") || document.getElementById("form-errors");
  if (errors) {
    errors.focus();
  }
})();
