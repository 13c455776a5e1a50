// A campaign: its latest state, its daily history chart, its restatements and its insights.
import { get, schema } from "./api.js";
import { lineChart } from "./charts.js";
import { h, select, table } from "./dom.js";
import { addDays, channelLabel, dateTime, label, metric, today } from "./format.js";
import { navigate } from "./router.js";
import { insightRows, INSIGHT_HEADERS } from "./insights.js";

const SHOWN = ["impressions", "clicks", "cost", "conversions", "revenue", "ctr", "cpc", "cpa", "roas"];

export async function campaignPage({ match, query }) {
  const campaignId = decodeURIComponent(match[1]);
  const dateTo = query.get("date_to") ?? today();
  const dateFrom = query.get("date_from") ?? addDays(dateTo, -89);
  const chartMetric = query.get("metric") ?? "cost";
  const [api, campaign, history, restatements, insights] = await Promise.all([
    schema(),
    get(`/api/campaigns/${encodeURIComponent(campaignId)}`),
    get(`/api/campaigns/${encodeURIComponent(campaignId)}/history`, { date_from: dateFrom, date_to: dateTo }),
    get("/api/restatements", { campaign_id: campaignId, limit: 50 }),
    get("/api/insights", { campaign_id: campaignId, limit: 50 }),
  ]);
  const metrics = api.enumOf("/api/metrics/timeseries", "metrics");
  const points = history.days.map((day) => ({ x: day.date, y: day[chartMetric] }));

  const form = h(
    "form",
    {
      class: "toolbar",
      "aria-label": "History range",
      onsubmit: (event) => {
        event.preventDefault();
        const data = new FormData(event.target);
        navigate(`/campaigns/${encodeURIComponent(campaignId)}`, Object.fromEntries(data.entries()));
      },
    },
    h("div", { class: "field" }, h("label", { for: "c-from" }, "From"), h("input", { id: "c-from", type: "date", name: "date_from", value: dateFrom })),
    h("div", { class: "field" }, h("label", { for: "c-to" }, "To"), h("input", { id: "c-to", type: "date", name: "date_to", value: dateTo })),
    select("Chart metric", "metric", metrics.map((name) => [name, label(name)]), chartMetric),
    h("button", { type: "submit", class: "primary" }, "Show"),
  );

  const latest = h(
    "dl",
    { class: "facts" },
    [
      ["Channel", channelLabel(campaign.channel)],
      ["Campaign id", campaign.campaign_id],
      ["Latest day", campaign.date ?? "–"],
      ["Fetched", dateTime(campaign.fetched_at)],
      ["Last sync", campaign.sync_id ?? "–"],
    ].map(([term, value]) => [h("dt", {}, term), h("dd", {}, value)]),
  );

  const dayRows = [...history.days].reverse().slice(0, 31).map((day) =>
    h("tr", {}, h("th", { scope: "row" }, day.date), SHOWN.map((name) => h("td", { class: "num" }, metric(name, day[name])))),
  );
  const restatementRows = restatements.items.map((item) =>
    h(
      "tr",
      {},
      h("th", { scope: "row" }, item.date),
      h("td", {}, label(item.metric)),
      h("td", { class: "num" }, metric(item.metric, item.old_value)),
      h("td", { class: "num" }, metric(item.metric, item.new_value)),
      h("td", {}, dateTime(item.recorded_at)),
      h("td", {}, item.sync_id ?? "–"),
    ),
  );

  return h(
    "div",
    { class: "page campaign" },
    h("p", {}, h("a", { href: "#/campaigns" }, "← Campaigns")),
    h("h1", {}, campaign.name),
    latest,
    form,
    h("section", { "aria-labelledby": "history-title" }, h("h2", { id: "history-title" }, "Daily history"),
      lineChart(`${label(chartMetric)} per day`, chartMetric, [{ key: campaign.channel, label: campaign.name, points }]),
      table("The latest 31 days of the range, newest first", ["Day", ...SHOWN.map(label)], dayRows, { id: "history-table" })),
    h("section", { "aria-labelledby": "insights-title" }, h("h2", { id: "insights-title" }, "Insights"),
      insights.items.length
        ? table("Insights about this campaign", INSIGHT_HEADERS, insightRows(insights.items, { showCampaign: false }), { id: "campaign-insights" })
        : h("p", { class: "empty" }, "No insight about this campaign.")),
    h("section", { "aria-labelledby": "restated-title" }, h("h2", { id: "restated-title" }, "Restatements"),
      restatements.items.length
        ? table("Past days a newer fetch changed, newest first", ["Day", "Metric", "Was", "Now", "When", "Sync"], restatementRows, { id: "restatements" })
        : h("p", { class: "empty" }, "No past day of this campaign was restated.")),
  );
}
