// The console's router: one page per hash route, the page's state in the hash's query so links, reloads
// and the back button work.
import { ApiError } from "./api.js";
import { h, replace } from "./dom.js";
import { campaignPage } from "./campaign.js";
import { campaignsPage } from "./campaigns.js";
import { insightsPage } from "./insights.js";
import { overviewPage } from "./overview.js";
import { syncsPage } from "./syncs.js";
import { currentQuery } from "./router.js";

const ROUTES = [
  [/^\/?(overview)?$/, "overview", overviewPage],
  [/^\/campaigns\/([^/]+)$/, "campaigns", campaignPage],
  [/^\/campaigns$/, "campaigns", campaignsPage],
  [/^\/insights$/, "insights", insightsPage],
  [/^\/syncs$/, "syncs", syncsPage],
];

let leaving = []; // what the current page asked to run when the user leaves it (timers, pollers)

function onLeave(callback) {
  leaving.push(callback);
}

function errorView(error) {
  const status = error instanceof ApiError && error.status ? ` (HTTP ${error.status})` : "";
  return h("div", { class: "error", role: "alert" }, h("h1", {}, "Something went wrong"), h("p", {}, `${error.message}${status}`));
}

async function render() {
  for (const callback of leaving) callback();
  leaving = [];
  const hash = window.location.hash.replace(/^#/, "");
  const path = hash.split("?")[0] || "/overview";
  const main = document.getElementById("main");
  const route = ROUTES.find(([pattern]) => pattern.test(path));
  for (const link of document.querySelectorAll("[data-nav]")) {
    if (route && link.dataset.nav === route[1]) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (!route) {
    replace(main, h("h1", {}, "Not found"), h("p", {}, h("a", { href: "#/overview" }, "Back to the overview")));
    return;
  }
  const [pattern, , page] = route;
  const match = path.match(pattern);
  const token = Symbol("render");
  render.current = token;
  try {
    const view = await page({ match, query: currentQuery(), onLeave });
    if (render.current === token) replace(main, view);
  } catch (error) {
    if (render.current === token) replace(main, errorView(error));
    console.warn("console page failed", error); // a warning, not an error: the page shows it
  }
}

window.addEventListener("hashchange", render);
render();
