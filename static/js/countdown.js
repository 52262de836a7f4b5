// Countdowns: an element with data-countdown="<ISO time>" says how long is left, to the second in
// the last hour, and "passed" once the time has come (the page's other figures then follow on its
// next poll or reload). The server writes the first text, so pages read the same without script.
(function () {
  function left(ms) {
    if (ms <= 0) return "passed";
    const s = Math.floor(ms / 1000), d = Math.floor(s / 86400), h = Math.floor(s / 3600) % 24;
    const m = Math.floor(s / 60) % 60, sec = s % 60;
    if (d) return d + " d " + h + " h left";
    if (h) return h + " h " + m + " min left";
    return m + " min " + String(sec).padStart(2, "0") + " s left";
  }
  function tick() {
    document.querySelectorAll("[data-countdown]").forEach(function (el) {
      el.textContent = left(Date.parse(el.dataset.countdown) - Date.now());
    });
  }
  document.addEventListener("DOMContentLoaded", function () { tick(); setInterval(tick, 1000); });
})();
