// Insights: open and resolved, by money at stake or time, filtered by severity, kind, channel and status,
// each with its explanation and a link to its campaign.
import { get, schema } from "./api.js";
import { checkboxes, h, select, table } from "./dom.js";
import { channelLabel, dateTime, label, metric } from "./format.js";
import { filterForm, hashFor } from "./router.js";

const PATH = "/api/insights";
export const INSIGHT_HEADERS = ["Severity", "Kind", "Campaign", "Days", "Observed", "Expected", "Money at stake", "Explanation", "Status"];

export function insightRows(items, { showCampaign = true } = {}) {
  return items.map((item) =>
    h(
      "tr",
      { dataset: { insightId: item.id } },
      h("td", {}, h("span", { class: `badge ${item.severity}` }, item.severity)),
      h("td", {}, label(item.kind)),
      h(
        "td",
        {},
        item.campaign_id
          ? showCampaign
            ? h("a", { href: `#/campaigns/${encodeURIComponent(item.campaign_id)}`, class: "campaign-link" }, item.campaign_id)
            : item.campaign_id
          : `${channelLabel(item.channel)} (channel total)`,
      ),
      h("td", {}, item.first_day === item.last_day ? item.first_day : `${item.first_day} – ${item.last_day}`),
      h("td", { class: "num" }, metric(item.metric, item.observed)),
      h("td", { class: "num" }, metric(item.metric, item.expected)),
      h("td", { class: "num" }, metric("money_at_stake", item.money_at_stake)),
      h("td", { class: "explanation" }, item.explanation),
      h("td", {}, item.status === "resolved" ? `resolved ${dateTime(item.resolved_at)}` : "open"),
    ),
  );
}

export async function insightsPage({ query }) {
  const api = await schema();
  const params = {
    status: query.get("status") ?? "open",
    sort: query.get("sort") ?? null,
    severity: query.getAll("severity"),
    kind: query.getAll("kind"),
    channel: query.getAll("channel"),
    cursor: query.get("cursor"),
    limit: 50,
  };
  const page = await get(PATH, { ...params, status: params.status === "all" ? null : params.status });
  const form = filterForm(
    "/insights",
    select("Status", "status", [["open", "Open"], ["resolved", "Resolved"], ["all", "All"]], params.status),
    select("Sort by", "sort", api.enumOf(PATH, "sort").map((name) => [name, name === "money" ? "Money at stake" : "Newest first"]), params.sort),
    checkboxes("Severity", "severity", api.enumOf(PATH, "severity").map((name) => [name, label(name)]), params.severity),
    checkboxes("Kind", "kind", api.enumOf(PATH, "kind").map((name) => [name, label(name)]), params.kind),
    checkboxes("Channels", "channel", api.enumOf(PATH, "channel").map((name) => [name, channelLabel(name)]), params.channel),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Apply")),
  );
  const next = page.next_cursor
    ? h("a", { class: "button", href: hashFor("/insights", { ...params, cursor: page.next_cursor, limit: null }) }, "Next page")
    : null;
  return h(
    "div",
    { class: "page insights" },
    h("h1", {}, "Insights"),
    form,
    page.items.length
      ? table("Insights, by the chosen order", INSIGHT_HEADERS, insightRows(page.items), { id: "insight-table" })
      : h("p", { class: "empty" }, "No insight matches these filters."),
    h("nav", { class: "pager", "aria-label": "Pages" }, params.cursor ? h("a", { class: "button", href: hashFor("/insights", { ...params, cursor: null, limit: null }) }, "First page") : null, next),
  );
}
