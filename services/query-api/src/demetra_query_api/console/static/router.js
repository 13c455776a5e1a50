// Navigation helpers shared by the pages: the page's state lives in the hash's query string.
import { h } from "./dom.js";

export function currentQuery() {
  const hash = window.location.hash.replace(/^#/, "");
  const at = hash.indexOf("?");
  return new URLSearchParams(at >= 0 ? hash.slice(at + 1) : "");
}

// Go to ``path`` with ``params`` (values: string or array; empty ones dropped).
export function hashFor(path, params = {}) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    for (const item of [value].flat()) if (item !== null && item !== undefined && item !== "") query.append(name, item);
  }
  const text = query.toString();
  return `#${path}${text ? `?${text}` : ""}`;
}

export function navigate(path, params = {}) {
  window.location.hash = hashFor(path, params);
}

// A page's filter form: submitting it goes to ``path`` with every field's values (repeated names, such as
// checkbox groups, as lists).
export function filterForm(path, ...fields) {
  const submit = (event) => {
    event.preventDefault();
    const data = new FormData(event.target);
    navigate(path, Object.fromEntries([...new Set(data.keys())].map((name) => [name, data.getAll(name)])));
  };
  return h("form", { class: "filters", "aria-label": "Filters", onsubmit: submit }, fields);
}
