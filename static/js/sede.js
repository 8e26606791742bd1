/* The public site's forms (templates/cases/public/). Everything works without this file; with it:
 * - the error summary gets the focus when a form comes back with errors, and its links move
 *   the focus to the field they name (not only scroll to it);
 * - "Use my location" fills an alert's latitude and longitude from the browser's geolocation
 *   (no map service: the coordinates never leave the form until it is sent);
 * - the organisation's fields show only while "on behalf of an organisation" is ticked. */
(function () {
  "use strict";

  function focusErrorSummary() {
    var summary = document.querySelector("[data-error-summary]");
    if (summary) {
      summary.focus();
    }
  }

  function focusFieldFromSummary(event) {
    var link = event.target.closest("[data-focus-field]");
    if (!link) {
      return;
    }
    var field = document.getElementById(link.getAttribute("data-focus-field"));
    if (!field) {
      return;
    }
    event.preventDefault();
    var label = document.querySelector("label[for='" + field.id + "']");
    var legend = field.closest("fieldset") && field.closest("fieldset").querySelector("legend");
    (label || legend || field).scrollIntoView({ block: "center" });
    field.focus({ preventScroll: true });
  }

  function setUpGeolocation() {
    var button = document.querySelector("[data-geolocate]");
    if (!button || !("geolocation" in navigator)) {
      return;
    }
    var latitude = document.getElementById(button.getAttribute("data-latitude"));
    var longitude = document.getElementById(button.getAttribute("data-longitude"));
    var status = document.getElementById(button.getAttribute("data-status"));
    button.hidden = false;
    button.addEventListener("click", function () {
      status.textContent = button.getAttribute("data-searching");
      button.disabled = true;
      navigator.geolocation.getCurrentPosition(
        function (position) {
          latitude.value = position.coords.latitude.toFixed(6);
          longitude.value = position.coords.longitude.toFixed(6);
          status.textContent = button.getAttribute("data-found");
          button.disabled = false;
        },
        function () {
          status.textContent = button.getAttribute("data-denied");
          button.disabled = false;
        },
        { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 }
      );
    });
  }

  function setUpOrganization() {
    var box = document.querySelector("[data-organization-toggle]");
    var fields = document.querySelector("[data-organization-fields]");
    if (!box || !fields) {
      return;
    }
    function sync() {
      fields.hidden = !box.checked;
    }
    box.setAttribute("aria-controls", fields.id);
    box.addEventListener("change", sync);
    sync();
  }

  document.addEventListener("click", focusFieldFromSummary);
  document.addEventListener("DOMContentLoaded", function () {
    setUpOrganization();
    setUpGeolocation();
    focusErrorSummary();
  });
})();
