// Field work pages (sales): keyboard navigation of the calendar and the names of the files
// chosen on the visit page. No inline scripts: CSP.
(function () {
  "use strict";

  function typing(target) {
    return target && (target.isContentEditable || /^(INPUT|SELECT|TEXTAREA)$/.test(target.tagName));
  }

  // Calendar: Page Up / Page Down go to the previous / next period, Home to today.
  var keys = { PageUp: "calendar-previous", PageDown: "calendar-next", Home: "calendar-today" };
  document.addEventListener("keydown", function (event) {
    if (event.altKey || event.ctrlKey || event.metaKey || typing(event.target)) {
      return;
    }
    var id = keys[event.key];
    var link = id && document.getElementById(id);
    if (link) {
      event.preventDefault();
      window.location.assign(link.href);
    }
  });

  // Visit page: say which photos and documents are about to be sent.
  var status = document.getElementById("visit-files-chosen");
  if (status) {
    var inputs = document.querySelectorAll("#visit-record input[type=file]");
    var update = function () {
      var names = [];
      inputs.forEach(function (input) {
        Array.prototype.forEach.call(input.files || [], function (file) {
          names.push(file.name);
        });
      });
      status.textContent = names.length ? status.dataset.prefix + " " + names.join(", ") : "";
    };
    inputs.forEach(function (input) {
      input.addEventListener("change", update);
    });
  }
})();
