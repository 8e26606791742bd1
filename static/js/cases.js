// The case page: after an action the server refused, take the user to its errors (the summary
// links to each field). Without JS the summary is still there, at the top of the open form.
(function () {
  "use strict";
  var summary = document.getElementById("action-errors");
  if (summary) {
    summary.focus();
  }
})();
