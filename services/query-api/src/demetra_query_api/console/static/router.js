// Navigation helpers shared by the pages: the page's state lives in the hash's query string.

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
