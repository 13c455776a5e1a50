// Syncs: the newest first, per-channel status and counts, live while any is running (polling the API), the
// failed channels with their errors and a retry button; a form to start a sync or a backfill.
import { get, post, schema } from "./api.js";
import { checkboxes, h, input, replace, table, toast } from "./dom.js";
import { channelLabel, dateTime, metric, seconds } from "./format.js";
import { hashFor } from "./router.js";

const POLL_MS = 2000;
const RETRY_PATH = "/api/syncs/{sync_id}/retry";
const COUNTS = ["fetched", "loaded", "inserted", "updated", "unchanged", "rejected", "rows_loaded", "restated"];

function badge(status) {
  return h("span", { class: `badge ${status}`, dataset: { status } }, status);
}

function channelRows(sync) {
  return sync.channels.map((channel) =>
    h(
      "tr",
      { dataset: { channel: channel.channel, status: channel.status } },
      h("th", { scope: "row" }, channelLabel(channel.channel)),
      h("td", {}, badge(channel.status)),
      COUNTS.map((name) => h("td", { class: "num", dataset: { count: name } }, channel[name] === null ? "–" : metric("impressions", channel[name]))),
      h("td", { class: "error-text" }, channel.error ?? ""),
    ),
  );
}

function syncCard(sync, { canRetry, onChange }) {
  const failed = sync.channels.filter((channel) => channel.status === "failed").map((channel) => channel.channel);
  const retry =
    canRetry && failed.length && sync.status !== "running"
      ? h(
          "button",
          {
            type: "button",
            class: "primary retry",
            onclick: async (event) => {
              event.target.disabled = true;
              try {
                await post(RETRY_PATH.replace("{sync_id}", encodeURIComponent(sync.sync_id)), {});
                toast(`Retrying ${failed.map(channelLabel).join(", ")} of ${sync.sync_id}`);
                onChange(sync.sync_id, sync.status);
              } catch (error) {
                toast(`Retry failed: ${error.message}`);
                event.target.disabled = false;
              }
            },
          },
          `Retry failed channels (${failed.map(channelLabel).join(", ")})`,
        )
      : null;
  return h(
    "article",
    { class: "card sync", dataset: { syncId: sync.sync_id, status: sync.status } },
    h(
      "header",
      {},
      h("h2", {}, sync.sync_id),
      badge(sync.status),
      h(
        "p",
        { class: "muted" },
        `${sync.trigger ?? "unknown trigger"} · started ${dateTime(sync.started_at)} · ${seconds(sync.duration_s)}`,
        sync.date_from ? ` · backfill ${sync.date_from} to ${sync.date_to}` : "",
      ),
    ),
    table(`Channels of ${sync.sync_id}`, ["Channel", "Status", ...COUNTS.map((name) => name.replace("_", " ")), "Error"], channelRows(sync)),
    retry,
  );
}

function startForm(api, onStarted) {
  const channels = api.enumOf("/api/campaigns", "channel");
  return h(
    "form",
    {
      class: "filters start",
      "aria-label": "Start a sync",
      onsubmit: async (event) => {
        event.preventDefault();
        const data = new FormData(event.target);
        const body = {};
        const chosen = data.getAll("channel");
        if (chosen.length) body.channels = chosen;
        if (data.get("date_from")) body.date_from = data.get("date_from");
        if (data.get("date_to")) body.date_to = data.get("date_to");
        const button = event.target.querySelector("button[type=submit]");
        button.disabled = true;
        try {
          const created = await post("/api/syncs", body);
          toast(`Sync ${created.sync_id} requested`);
          onStarted(created.sync_id);
        } catch (error) {
          toast(`Could not start the sync: ${error.message}`);
        } finally {
          button.disabled = false;
        }
      },
    },
    h("h2", {}, "Start a sync"),
    checkboxes("Channels (none: all)", "channel", channels.map((c) => [c, channelLabel(c)]), []),
    input("Backfill from", "date_from", "", { type: "date" }),
    input("Backfill to", "date_to", "", { type: "date" }),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Start sync")),
  );
}

export async function syncsPage({ query, onLeave }) {
  const api = await schema();
  const canRetry = api.has(RETRY_PATH, "post");
  const params = { status: query.get("status"), cursor: query.get("cursor"), limit: 10 };
  const list = h("div", { class: "sync-list", "aria-live": "polite" });
  let timer = null;
  let stopped = false;
  onLeave(() => {
    stopped = true;
    clearTimeout(timer);
  });

  // Syncs just requested or retried here, polled for until the API shows the change (the request's event is
  // recorded a moment after the request is accepted): id -> {leaving: the status shown before, or null for a
  // new sync; until: when to give up}.
  const awaited = new Map();
  const expect = (syncId, leaving) => awaited.set(syncId, { leaving, until: Date.now() + 30000 });
  const refresh = async (requested, leaving = null) => {
    clearTimeout(timer);
    if (typeof requested === "string") expect(requested, leaving);
    if (stopped) return;
    let page;
    try {
      page = await get("/api/syncs", params);
    } catch (error) {
      replace(list, h("p", { class: "error", role: "alert" }, `Could not read the syncs: ${error.message}`));
      timer = setTimeout(refresh, POLL_MS * 2);
      return;
    }
    if (stopped) return;
    replace(
      list,
      page.items.length ? page.items.map((sync) => syncCard(sync, { canRetry, onChange: refresh })) : h("p", { class: "empty" }, "No sync yet."),
      page.next_cursor ? h("a", { class: "button", href: hashFor("/syncs", { ...params, cursor: page.next_cursor, limit: null }) }, "Older syncs") : null,
    );
    for (const sync of page.items) {
      const wanted = awaited.get(sync.sync_id);
      if (wanted && (wanted.leaving === null || wanted.leaving !== sync.status)) awaited.delete(sync.sync_id);
    }
    for (const [syncId, wanted] of awaited) if (Date.now() > wanted.until) awaited.delete(syncId);
    // Live while anything shown is still running or a requested sync is not listed yet; quiet otherwise.
    const running = page.items.some((sync) => sync.status === "running");
    if (running || awaited.size) timer = setTimeout(refresh, awaited.size && !running ? POLL_MS / 4 : POLL_MS);
  };
  await refresh();
  return h("div", { class: "page syncs" }, h("h1", {}, "Syncs"), startForm(api, refresh), list);
}
