// Overview: KPI tiles per channel and in total for a period, their change vs the previous period of the
// same length, data freshness per channel, and a trend chart per metric and channel.
import { get, schema } from "./api.js";
import { channelSeries, lineChart } from "./charts.js";
import { h, select } from "./dom.js";
import { addDays, ago, change, changeText, channelLabel, daysBetween, label, metric, today } from "./format.js";
import { navigate } from "./router.js";

export const KPIS = ["cost", "impressions", "clicks", "conversions", "revenue", "ctr", "cpc", "cpa", "roas"];
// Lower is better for these: a rise is shown as a worsening.
const LOWER_IS_BETTER = new Set(["cpc", "cpa", "cpm"]);
const PERIODS = [
  ["7", "Last 7 days"],
  ["28", "Last 28 days"],
  ["90", "Last 90 days"],
  ["custom", "Custom range"],
];

function period(query) {
  const from = query.get("date_from");
  const to = query.get("date_to");
  if (from && to && from <= to) return { preset: "custom", from, to };
  const days = Number(query.get("days") ?? 28) || 28;
  const end = addDays(today(), -1); // complete days only: today is still being spent
  return { preset: String(days), from: addDays(end, 1 - days), to: end };
}

function tile(scope, name, now, before) {
  const ratio = change(now?.[name], before?.[name]);
  const direction = ratio === null || ratio === 0 ? "flat" : (ratio > 0) !== LOWER_IS_BETTER.has(name) ? "up" : "down";
  return h(
    "div",
    { class: "tile" },
    h("div", { class: "tile-label" }, label(name)),
    h(
      "div",
      {
        class: "tile-value",
        title: metric(name, now?.[name]),
        dataset: { channel: scope, metric: name, value: String(now?.[name] ?? "") },
      },
      metric(name, now?.[name], { short: true }),
    ),
    h("div", { class: `tile-change ${direction}` }, changeText(ratio)),
  );
}

export async function overviewPage({ query }) {
  const range = period(query);
  const length = daysBetween(range.from, range.to);
  const previous = { from: addDays(range.from, -length), to: addDays(range.from, -1) };
  const chartMetric = query.get("metric") ?? "cost";
  const granularity = query.get("granularity") ?? "day";
  const [api, summary, before, series] = await Promise.all([
    schema(),
    get("/api/metrics/summary", { date_from: range.from, date_to: range.to }),
    get("/api/metrics/summary", { date_from: previous.from, date_to: previous.to }),
    get("/api/metrics/timeseries", {
      date_from: range.from,
      date_to: range.to,
      metrics: chartMetric,
      granularity,
    }),
  ]);
  const beforeByChannel = new Map(before.channels.map((item) => [item.channel, item]));

  const form = h(
    "form",
    {
      class: "toolbar",
      "aria-label": "Period",
      onsubmit: (event) => {
        event.preventDefault();
        const data = new FormData(event.target);
        const preset = data.get("days");
        navigate("/overview", {
          days: preset === "custom" ? null : preset,
          date_from: preset === "custom" ? data.get("date_from") : null,
          date_to: preset === "custom" ? data.get("date_to") : null,
          metric: data.get("metric"),
          granularity: data.get("granularity"),
        });
      },
    },
    select("Period", "days", PERIODS, range.preset),
    h("div", { class: "field" }, h("label", { for: "ov-from" }, "From"), h("input", { id: "ov-from", type: "date", name: "date_from", value: range.from })),
    h("div", { class: "field" }, h("label", { for: "ov-to" }, "To"), h("input", { id: "ov-to", type: "date", name: "date_to", value: range.to })),
    select("Chart metric", "metric", api.enumOf("/api/metrics/timeseries", "metrics").map((name) => [name, label(name)]), chartMetric),
    select("Granularity", "granularity", api.enumOf("/api/metrics/timeseries", "granularity"), granularity),
    h("button", { type: "submit", class: "primary" }, "Show"),
  );

  const channels = summary.channels.map((item) =>
    h(
      "section",
      { class: "card channel", "aria-labelledby": `ch-${item.channel}`, dataset: { channel: item.channel } },
      h(
        "header",
        {},
        h("h3", { id: `ch-${item.channel}` }, channelLabel(item.channel)),
        h(
          "p",
          { class: "freshness", title: item.as_of ?? "" },
          `Data as of ${ago(item.as_of)}`,
        ),
      ),
      h("div", { class: "tiles small" }, KPIS.map((name) => tile(item.channel, name, item, beforeByChannel.get(item.channel)))),
    ),
  );

  return h(
    "div",
    { class: "page overview" },
    h("h1", {}, "Overview"),
    h("p", { class: "muted" }, `${range.from} to ${range.to} (${length} days), compared with ${previous.from} to ${previous.to}.`),
    form,
    h(
      "section",
      { "aria-labelledby": "total-title" },
      h("h2", { id: "total-title" }, "All channels"),
      h("div", { class: "tiles", dataset: { channel: "total" } }, KPIS.map((name) => tile("total", name, summary.totals, before.totals))),
    ),
    h("section", { "aria-labelledby": "trend-title" }, h("h2", { id: "trend-title" }, "Trend"),
      lineChart(`${label(chartMetric)} by ${granularity}, per channel`, chartMetric, channelSeries(series.series, chartMetric))),
    h("section", { "aria-labelledby": "channels-title" }, h("h2", { id: "channels-title" }, "Channels"), h("div", { class: "cards" }, channels)),
  );
}
