// The notification bell: a live unread count and a dropdown of recent notifications, older ones on demand.

import { api, ApiError } from "./realtime.js";
import { el, timeElement, toLogin } from "./dom.js";

export function setUpBell(client) {
  const button = document.getElementById("bell-button");
  const panel = document.getElementById("bell-panel");
  const list = document.getElementById("bell-list");
  const empty = document.getElementById("bell-empty");
  const badge = document.getElementById("bell-count");
  const readAll = document.getElementById("bell-read-all");
  if (!button) return;
  let loaded = false;
  let nextPage = null; // the path of the next (older) page of notifications, or null
  const more = el("button", { className: "link-button bell-more", text: "Show older notifications", attrs: { type: "button" } });
  more.hidden = true;
  list.after(more);

  function setCount(count) {
    const n = Math.max(0, Number(count) || 0);
    badge.dataset.count = String(n);
    badge.textContent = n > 99 ? "99+" : String(n);
    badge.hidden = n === 0;
    button.setAttribute("aria-label", n ? `Notifications, ${n} unread` : "Notifications");
  }

  function item(notification) {
    const conversationId = notification.data && notification.data.conversation_id;
    const label = el("span", { className: "bell-text", text: notification.text });
    const content = Number.isInteger(conversationId)
      ? el("a", { attrs: { href: `/conversations/${conversationId}/` } }, label)
      : label;
    const li = el("li", { className: notification.read_at ? "read" : "unread", dataset: { id: notification.id } }, content, timeElement(notification.created_at));
    if (content.tagName === "A") {
      content.addEventListener("click", () => markRead([notification.id]));
    }
    return li;
  }

  function render(notifications) {
    list.replaceChildren(...notifications.map(item));
    empty.hidden = notifications.length > 0;
  }

  async function load(path) {
    try {
      return await api(path, { paged: true });
    } catch (error) {
      if (error instanceof ApiError && error.isAuth) toLogin();
      return null;
    }
  }

  function showNext(next) {
    nextPage = next;
    more.hidden = next === null;
  }

  more.addEventListener("click", async () => {
    if (!nextPage) return;
    const answer = await load(nextPage);
    if (!answer) return;
    list.append(...(answer.data.notifications || []).map(item));
    setCount(answer.data.unread_count);
    showNext(answer.next);
  });

  async function markRead(ids) {
    try {
      await api("/api/notifications/read/", { method: "POST", body: ids ? { ids } : { all: true } });
    } catch {
      return;
    }
    if (!ids) {
      setCount(0);
      for (const li of list.children) li.className = "read";
    }
  }

  function close() {
    panel.hidden = true;
    button.setAttribute("aria-expanded", "false");
  }

  button.addEventListener("click", async () => {
    if (!panel.hidden) return close();
    panel.hidden = false;
    button.setAttribute("aria-expanded", "true");
    const answer = await load("/api/notifications/");
    if (answer) {
      loaded = true;
      render(answer.data.notifications || []);
      setCount(answer.data.unread_count);
      showNext(answer.next);
    }
  });
  readAll.addEventListener("click", () => markRead(null));
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !panel.hidden) {
      close();
      button.focus();
    }
  });
  document.addEventListener("click", (event) => {
    if (!panel.hidden && !panel.contains(event.target) && !button.contains(event.target)) close();
  });

  client.addEventListener("notification", ({ detail }) => {
    setCount(detail.unread_count);
    if (loaded) {
      list.prepend(item(detail));
      empty.hidden = true;
    }
  });
  async function refreshCount() {
    const answer = await load("/api/notifications/?unread=1&limit=1");
    if (answer) setCount(answer.data.unread_count);
  }

  refreshCount();
  // After a reconnect: notifications may have come while the socket was down.
  client.addEventListener("authenticated", ({ detail }) => {
    if (detail.reconnect) refreshCount();
  });
}
