// The reports page's chart: conversations opened, resolved and reopened per
// day, drawn by Chart.js (static/vendor/chartjs) from the JSON the page holds.
(function () {
  "use strict";
  function draw() {
    var canvas = document.getElementById("reports-chart");
    var source = document.getElementById("reports-chart-data");
    var names = document.getElementById("reports-chart-names");
    if (!canvas || !source || !names || typeof window.Chart === "undefined") {
      return;
    }
    var data = JSON.parse(source.textContent);
    var series = [
      ["opened", "#2553c7"],
      ["resolved", "#1f8a4c"],
      ["reopened", "#c2410c"],
    ];
    var chart = new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: data.labels,
        datasets: series.map(function (s) {
          return {
            label: names.dataset[s[0]],
            data: data[s[0]],
            backgroundColor: s[1],
          };
        }),
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
      },
    });
    canvas.dataset.drawn = String(chart.data.labels.length);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
