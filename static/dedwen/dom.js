// Small DOM helpers. Text goes in with textContent only: user data is never parsed as HTML.

/** Create an element: el("li", {className: "x", text: "...", dataset: {id: 1}, attrs: {href: "/"}}, child...). */
export function el(tag, { className, text, dataset, attrs } = {}, ...children) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  for (const [key, value] of Object.entries(dataset || {})) node.dataset[key] = String(value);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
  for (const child of children) if (child) node.append(child);
  return node;
}

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const dateFormat = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });

/** Return a <time> element for an ISO timestamp: the time today, else the date and time. */
export function timeElement(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return el("time", { text: "" });
  const today = new Date().toDateString() === date.toDateString();
  return el("time", { text: (today ? timeFormat : dateFormat).format(date), attrs: { datetime: date.toISOString() } });
}

/** Send the browser to the login page (the session is gone). */
export function toLogin() {
  location.assign(`/accounts/login/?next=${encodeURIComponent(location.pathname)}`);
}
