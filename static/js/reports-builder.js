// The report builder: the form works without JavaScript (each button sends it and the page comes
// back with the preview). With it, htmx posts the form on every change (reports:report_preview)
// and replaces the preview; its status line announces the update. Here: the error summary takes
// the focus when the page comes back with errors.
(function () {
  "use strict";

  var errors = document.getElementById("builder-errors") || document.getElementById("schedule-errors");
  if (errors) {
    errors.focus();
  }
})();
