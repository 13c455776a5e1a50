// Campaigns: the list with every filter and sort the API offers (read from its OpenAPI document), keyset
// paging with its cursors, name search and CSV export when the API has them.
import { get, schema, url } from "./api.js";
import { checkboxes, h, input, select, table } from "./dom.js";
import { channelLabel, dateTime, label, metric } from "./format.js";
import { filterForm, hashFor, navigate } from "./router.js";

const PATH = "/api/campaigns";
// Filters the form offers, each shown only when the API takes that parameter.
const TEXT_FILTERS = [
  ["name", "Name contains", { type: "search" }],
  ["campaign_id_prefix", "Campaign id starts with", {}],
  ["date_from", "Date from", { type: "date" }],
  ["date_to", "Date to", { type: "date" }],
  ["min_roi", "ROI at least", { type: "number", step: "any" }],
  ["max_roi", "ROI at most", { type: "number", step: "any" }],
  ["min_cost", "Spend at least", { type: "number", step: "any", min: "0" }],
  ["max_cost", "Spend at most", { type: "number", step: "any", min: "0" }],
];
const HIDDEN_COLUMNS = new Set(["sync_id", "campaign_id", "name"]);

// A page of the API may hold fewer than `limit` items and still have a next cursor (each request reads a
// bounded stretch of the order): the console follows the cursor for up to FOLLOW_PAGES more requests to fill
// the page it shows, and says so when the stretch it read still holds fewer.
const FOLLOW_PAGES = 8;

async function fullPage(params, limit) {
  const page = await get(PATH, params);
  const items = [...page.items];
  let next = page.next_cursor;
  for (let i = 0; i < FOLLOW_PAGES && next && items.length < limit; i += 1) {
    const more = await get(PATH, { ...params, cursor: next, limit: String(limit - items.length) });
    items.push(...more.items);
    next = more.next_cursor;
  }
  return { ...page, items, next_cursor: next };
}

// Previous pages' cursors of the current filter set, to page back (keyset cursors only go forward).
const trail = { key: null, cursors: [] };

function columnsOf(api) {
  const ok = api.operation(PATH)?.responses?.["200"]?.content?.["application/json"]?.schema;
  const page = api.resolve(ok);
  const item = api.resolve(page?.properties?.items?.items);
  return Object.keys(item?.properties ?? {}).filter((name) => !HIDDEN_COLUMNS.has(name));
}

function cell(name, value, row) {
  if (name === "channel") return channelLabel(value);
  if (name === "fetched_at") return dateTime(value);
  if (name === "date") return value ?? "–";
  return h("span", { class: "num", dataset: { value: String(value ?? "") } }, metric(name, value));
}

export async function campaignsPage({ query }) {
  const api = await schema();
  const params = {};
  for (const [name, value] of query.entries()) {
    if (api.parameter(PATH, name)) params[name] = name === "channel" ? query.getAll(name) : value;
  }
  const filterKey = JSON.stringify({ ...params, cursor: undefined });
  if (trail.key !== filterKey) Object.assign(trail, { key: filterKey, cursors: [] });
  const limit = Number(params.limit ?? api.parameter(PATH, "limit")?.schema?.default ?? 50);
  const page = await fullPage(params, limit);
  const sorts = api.enumOf(PATH, "sort");
  const orders = api.enumOf(PATH, "order");
  const columns = columnsOf(api);
  const sort = params.sort ?? api.parameter(PATH, "sort")?.schema?.default ?? sorts[0];
  const order = params.order ?? api.parameter(PATH, "order")?.schema?.default ?? "desc";

  const base = { ...params, cursor: null };
  const sortBy = (name) => {
    const nextOrder = sort === name && order === "desc" ? "asc" : "desc";
    navigate("/campaigns", { ...base, sort: name, order: nextOrder });
  };
  const header = (name) =>
    sorts.includes(name)
      ? h(
          "button",
          {
            type: "button",
            class: "sort",
            "aria-label": `Sort by ${label(name)}`,
            "aria-pressed": sort === name ? "true" : "false",
            onclick: () => sortBy(name),
          },
          label(name),
          sort === name ? (order === "asc" ? " ▲" : " ▼") : "",
        )
      : label(name);

  const form = filterForm(
    "/campaigns",
    api.parameter(PATH, "channel")
      ? checkboxes("Channels", "channel", api.enumOf(PATH, "channel").map((c) => [c, channelLabel(c)]), params.channel)
      : null,
    TEXT_FILTERS.filter(([name]) => api.parameter(PATH, name)).map(([name, text, attrs]) => input(text, name, params[name], attrs)),
    select("Sort by", "sort", sorts.map((name) => [name, label(name)]), sort),
    select("Order", "order", orders.map((name) => [name, name === "asc" ? "Ascending" : "Descending"]), order),
    select("Per page", "limit", ["25", "50", "100", "200"], params.limit ?? "50"),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Apply"), h("a", { href: "#/campaigns", class: "button" }, "Reset")),
  );

  const rows = page.items.map((item) =>
    h(
      "tr",
      { dataset: { campaignId: item.campaign_id } },
      h("th", { scope: "row" }, h("a", { href: `#/campaigns/${encodeURIComponent(item.campaign_id)}` }, item.name), h("div", { class: "muted small" }, item.campaign_id)),
      columns.map((name) => h("td", { dataset: { column: name } }, cell(name, item[name], item))),
    ),
  );

  const exportLink = api.parameter(PATH, "format")
    ? h("a", { class: "button", href: url(PATH, { ...base, format: "csv", limit: null }), download: "campaigns.csv" }, "Export CSV")
    : null;
  const previous = trail.cursors.length
    ? h("button", {
        type: "button",
        onclick: () => {
          const cursor = trail.cursors.pop();
          navigate("/campaigns", { ...base, cursor: cursor || null });
        },
      }, "Previous page")
    : params.cursor
      ? h("a", { class: "button", href: hashFor("/campaigns", base) }, "First page")
      : null;
  const next = page.next_cursor
    ? h("button", {
        type: "button",
        class: "primary",
        onclick: () => {
          trail.cursors.push(params.cursor ?? "");
          navigate("/campaigns", { ...base, cursor: page.next_cursor });
        },
      }, "Next page")
    : null;

  return h(
    "div",
    { class: "page campaigns" },
    h("h1", {}, "Campaigns"),
    form,
    h("div", { class: "toolbar" }, h("p", { class: "muted" }, `${page.items.length} campaigns on this page, sorted by ${label(sort)} (${order}).`), exportLink),
    table("Campaigns", [h("span", {}, "Campaign"), ...columns.map(header)], rows, { id: "campaign-table" }),
    page.items.length
      ? null
      : page.next_cursor
        ? h("p", { class: "empty" }, "No match in this stretch of the list yet: Next page searches further.")
        : h("p", { class: "empty" }, "No campaign matches these filters."),
    h("nav", { class: "pager", "aria-label": "Pages" }, previous, next),
  );
}
