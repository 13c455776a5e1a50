import { h } from "./dom.js";

// How figures are shown. Raw values stay on the elements (data-value) so tests compare them with the API.

const integer = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
const decimal = new Intl.NumberFormat("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const compact = new Intl.NumberFormat("en-US", { notation: "compact", maximumFractionDigits: 1 });
const percent = new Intl.NumberFormat("en-US", { style: "percent", minimumFractionDigits: 2, maximumFractionDigits: 2 });
const signedPercent = new Intl.NumberFormat("en-US", {
  style: "percent",
  maximumFractionDigits: 1,
  signDisplay: "exceptZero",
});

export const CHANNEL_LABELS = {
  facebook: "Facebook",
  instagram: "Instagram",
  google_ads: "Google Ads",
  tiktok: "TikTok",
};

export function channelLabel(channel) {
  return CHANNEL_LABELS[channel] ?? channel;
}

export function label(name) {
  const special = { ctr: "CTR", cpc: "CPC", cpm: "CPM", cpa: "CPA", roas: "ROAS", roi: "ROI", cost: "Spend" };
  if (special[name]) return special[name];
  const text = name.replaceAll("_", " ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

// The kind of figure a metric is, for formatting.
const KINDS = {
  impressions: "count",
  clicks: "count",
  engagement: "count",
  campaigns: "count",
  conversions: "decimal",
  cost: "money",
  revenue: "money",
  cpc: "money",
  cpm: "money",
  cpa: "money",
  money_at_stake: "money",
  ctr: "percent",
  conversion_rate: "percent",
  roas: "ratio",
  roi: "percent",
};

export function metric(name, value, { short = false } = {}) {
  if (value === null || value === undefined) return "–";
  switch (KINDS[name]) {
    case "count":
      return short ? compact.format(value) : integer.format(value);
    case "money":
      return short && Math.abs(value) >= 100000 ? compact.format(value) : decimal.format(value);
    case "percent":
      return percent.format(value);
    case "ratio":
      return `${decimal.format(value)}×`;
    default:
      return decimal.format(value);
  }
}

// The change from ``before`` to ``now`` as a signed percentage; null when there is nothing to compare.
export function change(now, before) {
  if (now === null || now === undefined || !before) return null;
  return (now - before) / Math.abs(before);
}

export function changeText(ratio) {
  if (ratio === null) return "no previous figure";
  return [signedPercent.format(ratio), h("span", { class: "sr-only" }, " vs previous period")];
}

export function dateTime(value) {
  if (!value) return "–";
  return new Date(value).toLocaleString("en-GB", { dateStyle: "medium", timeStyle: "medium", timeZone: "UTC" }) + " UTC";
}

export function ago(value, now = Date.now()) {
  if (!value) return "never";
  const seconds = Math.max(0, Math.round((now - new Date(value).getTime()) / 1000));
  if (seconds < 90) return `${seconds} s ago`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 90) return `${minutes} min ago`;
  const hours = Math.round(minutes / 60);
  if (hours < 36) return `${hours} h ago`;
  return `${Math.round(hours / 24)} days ago`;
}

export function seconds(value) {
  return value === null || value === undefined ? "–" : `${decimal.format(value)} s`;
}

// Dates as the API takes them (ISO, UTC days).
export function isoDay(date) {
  return date.toISOString().slice(0, 10);
}

export function addDays(day, days) {
  const date = new Date(`${day}T00:00:00Z`);
  date.setUTCDate(date.getUTCDate() + days);
  return isoDay(date);
}

export function today() {
  return isoDay(new Date());
}

export function daysBetween(from, to) {
  return Math.round((new Date(`${to}T00:00:00Z`) - new Date(`${from}T00:00:00Z`)) / 86400000) + 1;
}
