// The machine page's chart (uPlot): each sensor's temperature and the job's completion over the
// last hours. It polls the samples endpoint with ?after= the newest sequence it has, so each
// poll carries only what the machine delivered since.
(function () {
  const card = document.getElementById("machine-chart");
  if (!card || !window.uPlot) return;
  const POLL_MS = 5000;
  const HEIGHT = 300;
  const COMPLETION = "#0f766e";
  const SENSOR_COLOURS = [
    "#dc2626", "#2563eb", "#d97706", "#7c3aed", "#db2777", "#0891b2", "#65a30d", "#475569",
  ];
  const url = card.dataset.samplesUrl;
  const timeZone = card.dataset.timeZone || "UTC";
  const plot = card.querySelector(".chart-plot");
  const empty = card.querySelector(".chart-empty");
  const summary = card.querySelector(".chart-summary");
  const thinned = card.querySelector(".chart-thinned");
  const buttons = card.querySelectorAll("button[data-hours]");

  let hours = Number(card.dataset.hours);
  let samples = []; // what is drawn, oldest first
  let after = 0;
  let sensors = [];
  let chart = null;
  // Changing the hours starts over; an answer to a request made before that is dropped.
  let generation = 0;
  let timer = null;

  // Times as the rest of the page writes them: 24-hour, in the site's time zone.
  const tick = new Intl.DateTimeFormat("en-GB", { timeZone, hour: "2-digit", minute: "2-digit" });
  const day = new Intl.DateTimeFormat("en-GB", { timeZone, day: "numeric", month: "short" });
  const moment = new Intl.DateTimeFormat("en-GB", {
    timeZone, day: "numeric", month: "short", hour: "2-digit", minute: "2-digit", second: "2-digit",
  });
  const at = (seconds) => new Date(seconds * 1e3);
  // A tick at midnight names the day instead, so that a window over two days reads right.
  const tickLabel = (seconds) => {
    const label = tick.format(at(seconds));
    return label === "00:00" ? day.format(at(seconds)) : label;
  };
  const unit = (suffix) => (u, value) => (value == null ? "—" : value.toFixed(1) + suffix);

  function options() {
    return {
      width: plot.clientWidth,
      height: HEIGHT,
      // The page's times are in the site's time zone, the chart's too.
      tzDate: (seconds) => uPlot.tzDate(at(seconds), timeZone),
      scales: { x: { time: true }, temperature: {}, completion: { range: [0, 100] } },
      series: [
        {
          label: "Time",
          value: (u, seconds) => (seconds == null ? "—" : moment.format(at(seconds))),
        },
        ...sensors.map((name, i) => ({
          label: name,
          scale: "temperature",
          stroke: SENSOR_COLOURS[i % SENSOR_COLOURS.length],
          width: 1.5,
          value: unit(" °C"),
        })),
        {
          label: "Completion",
          scale: "completion",
          stroke: COMPLETION,
          width: 2,
          dash: [6, 4],
          value: unit(" %"),
        },
      ],
      axes: [
        { label: `Time (${timeZone})`, values: (u, ticks) => ticks.map(tickLabel) },
        { scale: "temperature", label: "Temperature (°C)" },
        { scale: "completion", label: "Completion (%)", side: 1, grid: { show: false } },
      ],
    };
  }

  function columns() {
    return [
      samples.map((s) => s.at_ms / 1000),
      ...sensors.map((name) => samples.map((s) => s.temperatures[name] ?? null)),
      samples.map((s) => s.completion),
    ];
  }

  function render() {
    empty.textContent = `No samples in the last ${hours} ${hours === 1 ? "hour" : "hours"}.`;
    empty.hidden = samples.length > 0;
    plot.hidden = summary.hidden = samples.length === 0;
    if (samples.length === 0) {
      if (chart) chart.destroy();
      chart = null;
      return;
    }
    const newest = at(samples[samples.length - 1].at_ms / 1000);
    const count = samples.length === 1 ? "1 sample" : `${samples.length} samples`;
    const taken = `${moment.format(newest)} (${timeZone})`;
    summary.textContent = `${count} drawn, the newest taken at ${taken}.`;
    const names = [...new Set(samples.flatMap((s) => Object.keys(s.temperatures)))].sort();
    // A sensor that appears (or leaves the window) changes the series: draw the chart anew.
    if (chart && names.join("\n") === sensors.join("\n")) {
      chart.setData(columns());
      return;
    }
    if (chart) chart.destroy();
    sensors = names;
    chart = new uPlot(options(), columns(), plot);
  }

  function merge(answer) {
    const fresh = answer.samples;
    if (fresh.length) {
      const newest = samples.length ? samples[samples.length - 1].at_ms : -Infinity;
      samples = samples.concat(fresh);
      // A machine back from being offline delivers samples older than those already drawn.
      if (fresh[0].at_ms < newest) samples.sort((a, b) => a.at_ms - b.at_ms);
      after = Math.max(after, ...fresh.map((s) => s.sequence));
    }
    const since = answer.now_ms - answer.hours * 3600e3;
    samples = samples.filter((s) => s.at_ms >= since);
  }

  async function poll() {
    const asked = generation;
    try {
      if (!document.hidden) {
        const response = await fetch(`${url}?hours=${hours}&after=${after}`, {
          headers: { Accept: "application/json" },
        });
        // Refused (a 4xx): the next poll tries again, and a reload shows why.
        if (response.ok && asked === generation) {
          const answer = await response.json();
          if (asked === generation) {
            if (after === 0) thinned.hidden = !answer.thinned;
            merge(answer);
            render();
          }
        }
      }
    } catch (error) {
      // The network is down for a moment, or the session ended (the login page is no JSON):
      // keep what is drawn and try again at the next poll.
    }
    if (asked === generation) timer = setTimeout(poll, POLL_MS);
  }

  function restart() {
    generation += 1;
    clearTimeout(timer);
    samples = [];
    after = 0;
    poll();
  }

  for (const button of buttons) {
    button.addEventListener("click", () => {
      hours = Number(button.dataset.hours);
      for (const other of buttons) {
        other.classList.toggle("active", other === button);
        other.setAttribute("aria-pressed", String(other === button));
      }
      restart();
    });
  }
  window.addEventListener("resize", () => {
    if (chart) chart.setSize({ width: plot.clientWidth, height: HEIGHT });
  });
  poll();
})();
