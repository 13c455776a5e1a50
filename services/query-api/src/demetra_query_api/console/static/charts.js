// Line charts with Chart.js (vendored from npm, window.Chart). Colours come from the stylesheet so the light
// and dark themes apply to the charts as well.
import { h } from "./dom.js";
import { channelLabel, label, metric } from "./format.js";

const charts = new WeakMap();

function cssColor(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

function seriesColor(key, index) {
  return cssColor(`--series-${key}`) || cssColor(`--series-${index % 5}`);
}

// A chart of one metric: ``series`` is [{key, label, points: [{x, y}]}]. Returns a figure element whose
// canvas has a text alternative (the last value of every series) for screen readers.
export function lineChart(title, metricName, series) {
  const canvas = h("canvas", { role: "img", "aria-label": describe(title, metricName, series) });
  const figure = h("figure", { class: "chart" }, h("figcaption", {}, title), h("div", { class: "chart-box" }, canvas));
  if (!window.Chart) {
    figure.append(h("p", { class: "muted" }, "Charts are unavailable: the chart library was not served."));
    return figure;
  }
  const labels = [...new Set(series.flatMap((item) => item.points.map((point) => point.x)))].sort();
  const text = cssColor("--text-muted");
  const grid = cssColor("--border");
  const chart = new window.Chart(canvas, {
    type: "line",
    data: {
      labels,
      datasets: series.map((item, index) => {
        const byX = new Map(item.points.map((point) => [point.x, point.y]));
        const color = seriesColor(item.key, index);
        return {
          label: item.label,
          data: labels.map((x) => byX.get(x) ?? null),
          borderColor: color,
          backgroundColor: color,
          borderWidth: 2,
          pointRadius: labels.length > 40 ? 0 : 2,
          tension: 0.2,
          spanGaps: true,
        };
      }),
    },
    options: {
      animation: false,
      maintainAspectRatio: false,
      interaction: { mode: "index", intersect: false },
      plugins: {
        legend: { labels: { color: text } },
        tooltip: { callbacks: { label: (ctx) => `${ctx.dataset.label}: ${metric(metricName, ctx.parsed.y)}` } },
      },
      scales: {
        x: { ticks: { color: text, maxTicksLimit: 10 }, grid: { color: grid } },
        y: { ticks: { color: text, callback: (value) => metric(metricName, value, { short: true }) }, grid: { color: grid } },
      },
    },
  });
  charts.set(figure, chart);
  return figure;
}

function describe(title, metricName, series) {
  const last = series
    .map((item) => {
      const point = item.points.at(-1);
      return point ? `${item.label} ${metric(metricName, point.y)} on ${point.x}` : null;
    })
    .filter(Boolean)
    .join(", ");
  return `${title}. ${label(metricName)}, latest: ${last || "no data"}.`;
}

export function channelSeries(series, metricName) {
  return series.map((item) => ({
    key: item.channel ?? "total",
    label: item.channel ? channelLabel(item.channel) : "All channels",
    points: item.points.map((point) => ({ x: point.period, y: point[metricName] })),
  }));
}
