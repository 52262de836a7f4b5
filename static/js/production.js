// The production section (templates/printshops/partials/production*.html): each characteristic's
// measurements per part against its tolerance band, drawn with uPlot from the JSON the polled
// timeline carries and drawn again whenever a poll brings it anew; and the records' disclosure,
// kept open across those polls once the reader opened it.
(function () {
  const opened = new Set();
  document.addEventListener("toggle", function (evt) {
    const details = evt.target;
    if (!(details instanceof HTMLDetailsElement) || !details.hasAttribute("data-keep-open")) return;
    if (details.open) opened.add(details.id); else opened.delete(details.id);
  }, true);

  const COLORS = { band: "#dc3545", nominal: "#6c757d", pass: "#198754", fail: "#dc3545", earlier: "#adb5bd" };
  const charts = [];

  function options(chart, width) {
    const xs = chart.parts.map(function (_, i) { return i + 1; });
    const line = function (label, stroke, dash) { return { label: label, stroke: stroke, dash: dash, width: 1, points: { show: false } }; };
    const dots = function (label, fill, size) {
      return { label: label, stroke: fill, fill: fill, paths: function () { return null; }, points: { show: true, size: size, fill: fill, stroke: fill } };
    };
    return {
      width: width,
      height: 200,
      legend: { live: false },
      scales: { x: { time: false, range: [0.5, xs.length + 0.5] } },
      axes: [
        { splits: function () { return xs; }, values: function (u, splits) { return splits.map(function (i) { return chart.parts[i - 1] || ""; }); } },
        { size: 56 },
      ],
      series: [
        {},
        line("upper limit", COLORS.band, [6, 4]),
        line("nominal", COLORS.nominal, [2, 4]),
        line("lower limit", COLORS.band, [6, 4]),
        dots("pass", COLORS.pass, 9),
        dots("fail", COLORS.fail, 9),
        dots("before a retest", COLORS.earlier, 7),
      ],
    };
  }

  function draw() {
    charts.splice(0).forEach(function (chart) { chart.destroy(); });
    const source = document.getElementById("quality-chart-data");
    if (!source || !window.uPlot) return;
    JSON.parse(source.textContent).forEach(function (chart, index) {
      const box = document.querySelector('.quality-chart[data-index="' + index + '"] .plot');
      if (!box) return;
      const xs = chart.parts.map(function (_, i) { return i + 1; });
      const data = [xs, chart.upper, chart.nominal, chart.lower, chart.passed, chart.failed, chart.superseded];
      charts.push(new uPlot(options(chart, Math.max(box.clientWidth, 240)), data, box));
    });
  }

  document.addEventListener("DOMContentLoaded", draw);
  let resizing = null;
  window.addEventListener("resize", function () { clearTimeout(resizing); resizing = setTimeout(draw, 200); });
  document.addEventListener("htmx:afterSettle", function (evt) {
    if (!evt.target || !evt.target.closest || !evt.target.closest("#production")) return;
    opened.forEach(function (id) { const details = document.getElementById(id); if (details) details.open = true; });
    draw();
  });
})();
