// Building DOM nodes without innerHTML: every value from the API is text, never markup.

export function h(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") element.className = value;
    else if (name === "dataset") Object.assign(element.dataset, value);
    else if (name.startsWith("on") && typeof value === "function") {
      element.addEventListener(name.slice(2), value);
    } else if (name === "value" && "value" in element) element.value = value;
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  append(element, children);
  return element;
}

export function append(element, children) {
  for (const child of [children].flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

export function replace(element, ...children) {
  element.replaceChildren();
  return append(element, children);
}

export function toast(message) {
  const box = document.getElementById("toast");
  box.textContent = message;
  box.classList.add("show");
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => box.classList.remove("show"), 5000);
}

let uid = 0;
export function nextId(prefix) {
  uid += 1;
  return `${prefix}-${uid}`;
}

// A labelled <select>; options are [value, label] pairs or plain values.
export function select(label, name, options, value, attrs = {}) {
  const id = nextId(name);
  const control = h(
    "select",
    { id, name, ...attrs },
    options.map((option) => {
      const [optionValue, optionLabel] = Array.isArray(option) ? option : [option, option];
      return h("option", { value: optionValue, selected: String(optionValue) === String(value ?? "") }, optionLabel);
    }),
  );
  return h("div", { class: "field" }, h("label", { for: id }, label), control);
}

export function input(label, name, value, attrs = {}) {
  const id = nextId(name);
  return h(
    "div",
    { class: "field" },
    h("label", { for: id }, label),
    h("input", { id, name, value: value ?? "", ...attrs }),
  );
}

// A group of checkboxes (e.g. channels) in a fieldset with a legend.
export function checkboxes(legend, name, options, checked) {
  const chosen = new Set(checked ?? []);
  return h(
    "fieldset",
    { class: "checks" },
    h("legend", {}, legend),
    options.map(([value, label]) => {
      const id = nextId(`${name}-${value}`);
      return h(
        "span",
        { class: "check" },
        h("input", { type: "checkbox", id, name, value, checked: chosen.has(value) }),
        h("label", { for: id }, label),
      );
    }),
  );
}

// A table with a caption and column headers; rows are arrays of cells (nodes or text).
export function table(caption, headers, rows, attrs = {}) {
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      attrs,
      h("caption", {}, caption),
      h("thead", {}, h("tr", {}, headers.map((header) => h("th", { scope: "col" }, header)))),
      h("tbody", {}, rows),
    ),
  );
}
