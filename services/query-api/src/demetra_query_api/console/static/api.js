// The console's only way to the data: the public query API of this origin, read and written as any client.

const KEY_STORAGE = "demetra.apiKey"; // sessionStorage only: gone when the browser session ends

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

// "field: message" for FastAPI's 422 details, the detail string otherwise.
function describe(body, fallback) {
  const detail = body?.detail;
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    return detail
      .map((item) => `${(item.loc ?? []).filter((part) => part !== "query" && part !== "body").join(".")}: ${item.msg}`)
      .join("; ");
  }
  return fallback;
}

export function url(path, params = {}) {
  const target = new URL(path, window.location.origin);
  for (const [name, value] of Object.entries(params)) {
    if (value === null || value === undefined || value === "") continue;
    if (Array.isArray(value)) value.forEach((item) => target.searchParams.append(name, item));
    else target.searchParams.set(name, value);
  }
  return `${target.pathname}${target.search}`;
}

async function request(method, path, { params, body, key } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (key) headers[(await schema()).keyHeader] = key;
  const response = await fetch(url(path, params), {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, describe(data, `${response.status} ${response.statusText}`));
  return data;
}

export function get(path, params) {
  return request("GET", path, { params });
}

// The OpenAPI document, read once: the enums (sort keys, channels, metrics, kinds) and the key header come
// from the API itself, so the console offers exactly what the API accepts.
let schemaPromise = null;
export function schema() {
  schemaPromise ??= fetch("/openapi.json", { headers: { Accept: "application/json" } })
    .then((response) => response.json())
    .then((document) => new Schema(document));
  return schemaPromise;
}

class Schema {
  constructor(document) {
    this.document = document;
    const scheme = Object.values(document.components?.securitySchemes ?? {}).find((item) => item.in === "header");
    this.keyHeader = scheme?.name ?? "X-API-Key";
  }

  operation(path, method = "get") {
    return this.document.paths?.[path]?.[method];
  }

  has(path, method = "get") {
    return Boolean(this.operation(path, method));
  }

  resolve(node) {
    let current = node;
    while (current?.$ref) {
      current = current.$ref
        .replace(/^#\//, "")
        .split("/")
        .reduce((part, name) => part?.[name], this.document);
    }
    return current;
  }

  parameter(path, name) {
    return (this.operation(path)?.parameters ?? []).find((item) => item.name === name);
  }

  // The allowed values of a query parameter (an enum, or an array of an enum), [] if free-form or absent.
  enumOf(path, name) {
    const parameter = this.parameter(path, name);
    if (!parameter) return [];
    let node = this.resolve(parameter.schema);
    if (node?.anyOf) node = node.anyOf.map((item) => this.resolve(item)).find((item) => item.type !== "null");
    if (node?.type === "array") node = this.resolve(node.items);
    return node?.enum ?? [];
  }
}

// --- writes: ask for the key once per browser session -------------------------------------------------

function askKey(reason) {
  const dialog = document.getElementById("key-dialog");
  const form = document.getElementById("key-form");
  const field = document.getElementById("key-input");
  document.getElementById("key-reason").textContent =
    reason ?? "Starting or retrying a sync needs the API key. It is kept for this browser session only.";
  field.value = "";
  return new Promise((resolve, reject) => {
    const cancel = document.getElementById("key-cancel");
    const done = (value) => {
      form.removeEventListener("submit", submit);
      cancel.removeEventListener("click", dismiss);
      dialog.removeEventListener("cancel", dismiss);
      if (dialog.open) dialog.close();
      if (value) resolve(value);
      else reject(new ApiError(0, "no API key given"));
    };
    const submit = (event) => {
      event.preventDefault();
      done(field.value.trim());
    };
    const dismiss = (event) => {
      event.preventDefault();
      done(null);
    };
    form.addEventListener("submit", submit);
    cancel.addEventListener("click", dismiss);
    dialog.addEventListener("cancel", dismiss);
    dialog.showModal();
    field.focus();
  });
}

export async function post(path, body) {
  let key = sessionStorage.getItem(KEY_STORAGE) ?? (await askKey());
  for (let attempt = 0; ; attempt += 1) {
    try {
      const result = await request("POST", path, { body, key });
      sessionStorage.setItem(KEY_STORAGE, key);
      return result;
    } catch (error) {
      if ((error.status !== 401 && error.status !== 403) || attempt > 0) throw error;
      sessionStorage.removeItem(KEY_STORAGE);
      key = await askKey(`The API refused the key (${error.message}). Enter it again.`);
    }
  }
}
