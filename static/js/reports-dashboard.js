// The reports dashboard (templates/reports/dashboard.html): draws each chart with Chart.js from
// the JSON the page carries (json_script "dashboard-charts"). Every chart has its data as a table
// next to it, so nothing is lost without JavaScript or without sight.
(function () {
  "use strict";

  var source = document.getElementById("dashboard-charts");
  if (!source || typeof window.Chart === "undefined") {
    return;
  }
  var specs = JSON.parse(source.textContent);
  var language = document.documentElement.lang || "es";
  var reduceMotion = window.matchMedia("(prefers-reduced-motion: reduce)").matches;
  // Okabe-Ito: told apart with the common kinds of colour blindness.
  var palette = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000"];
  var number = new Intl.NumberFormat(language);

  function datasets(spec) {
    return spec.datasets.map(function (dataset, index) {
      var colour = palette[index % palette.length];
      return {
        label: dataset.label,
        data: dataset.data,
        backgroundColor: colour,
        borderColor: colour,
        borderWidth: spec.type === "line" ? 2 : 0,
        pointRadius: spec.type === "line" ? 3 : undefined,
        // Besides colour, lines differ by their dash (WCAG 1.4.1).
        borderDash: spec.type === "line" && index > 0 ? [6 * index, 4] : undefined,
        tension: 0
      };
    });
  }

  function options(spec) {
    var horizontal = Boolean(spec.horizontal);
    var valueAxis = {
      beginAtZero: true,
      stacked: Boolean(spec.stacked),
      ticks: {
        // Counts are whole numbers: no 0.5 case on the axis.
        precision: spec.decimals ? undefined : 0,
        callback: function (value) {
          return number.format(value);
        }
      },
      title: { display: Boolean(spec.yTitle), text: spec.yTitle || "" }
    };
    var labelAxis = { stacked: Boolean(spec.stacked) };
    return {
      responsive: true,
      maintainAspectRatio: false,
      animation: reduceMotion ? false : { duration: 300 },
      indexAxis: horizontal ? "y" : "x",
      scales: horizontal ? { x: valueAxis, y: labelAxis } : { x: labelAxis, y: valueAxis },
      plugins: {
        legend: { display: spec.datasets.length > 1, position: "bottom" },
        tooltip: {
          callbacks: {
            label: function (context) {
              var value = horizontal ? context.parsed.x : context.parsed.y;
              return context.dataset.label + ": " + number.format(value);
            }
          }
        }
      }
    };
  }

  Array.prototype.forEach.call(document.querySelectorAll("canvas[data-chart]"), function (canvas) {
    var spec = specs[canvas.getAttribute("data-chart")];
    if (!spec) {
      return;
    }
    new window.Chart(canvas, {
      type: spec.type,
      data: { labels: spec.labels, datasets: datasets(spec) },
      options: options(spec)
    });
  });
})();
