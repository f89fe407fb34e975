// The inbox: conversations with their last message, unread count and presence, kept live; start a new one.

import { api, ApiError } from "./realtime.js";
import { el, timeElement, toLogin } from "./dom.js";
import { applyKnownPresence, followPresence } from "./presence.js";

export function init({ client, me }) {
  const list = document.getElementById("conversation-list");
  const status = document.getElementById("inbox-status");
  const more = document.getElementById("inbox-more");
  const conversations = new Map(); // id -> conversation object from the API, kept up to date
  let loaded = false;
  let loading = null;
  let nextPage = null; // the path of the next (older) page of conversations, or null

  function others(conversation) {
    return (conversation.participants || []).filter((person) => person.id !== me.id);
  }

  function title(conversation) {
    return conversation.title || others(conversation).map((person) => person.username).join(", ") || "Just you";
  }

  function row(conversation) {
    const people = others(conversation);
    const direct = conversation.kind !== "group" && people.length === 1;
    const dot = direct
      ? el("span", { className: "dot", dataset: { presenceUser: people[0].id, status: "unknown" }, attrs: { "aria-hidden": "true" } })
      : el("span", { className: "dot group", attrs: { "aria-hidden": "true" } });
    const last = conversation.last_message;
    const snippet = el("span", { className: "snippet" });
    if (last) {
      snippet.append(el("span", { className: "sender", text: last.sender.id === me.id ? "You: " : `${last.sender.username}: ` }));
      snippet.append(document.createTextNode(last.body.length > 140 ? `${last.body.slice(0, 140)}…` : last.body));
    } else {
      snippet.textContent = "No messages yet";
    }
    const unread = conversation.unread_count || 0;
    const badge = el("span", { className: "badge unread", text: unread, dataset: { count: unread } });
    badge.hidden = unread === 0;
    const presenceText = direct ? el("span", { className: "visually-hidden presence-text", text: "status unknown" }) : null;
    const link = el(
      "a",
      { className: "conversation-link", attrs: { href: `/conversations/${conversation.id}/` } },
      dot,
      el("span", { className: "title", text: title(conversation) }, direct ? el("span", { className: "last-seen muted small" }) : null),
      presenceText,
      badge,
      el("span", { className: "visually-hidden", text: unread ? `, ${unread} unread` : "" }),
      snippet,
      last ? timeElement(last.created_at) : null,
    );
    return el("li", { className: unread ? "has-unread" : "", dataset: { conversationId: conversation.id } }, link);
  }

  function render() {
    const sorted = [...conversations.values()].sort(
      (a, b) => (b.last_message ? b.last_message.id : 0) - (a.last_message ? a.last_message.id : 0) || b.id - a.id,
    );
    list.replaceChildren(...sorted.map(row));
    status.textContent = sorted.length ? "" : "No conversations yet. Find someone above to start one.";
    applyKnownPresence(client, list);
  }

  function add(page, next) {
    for (const conversation of page) {
      conversations.set(conversation.id, conversation);
      client.remember(conversation.last_message);
    }
    nextPage = next;
    more.hidden = next === null;
    render();
  }

  async function loadMore() {
    if (!nextPage || loading) return;
    more.disabled = true;
    try {
      const { data, next } = await api(nextPage, { paged: true });
      add(data, next);
    } catch (error) {
      if (error instanceof ApiError && error.isAuth) return toLogin();
      status.textContent = `Could not load more conversations: ${error.message}`;
    } finally {
      more.disabled = false;
    }
  }

  async function load() {
    loading ??= (async () => {
      try {
        const { data, next } = await api("/api/conversations/", { paged: true });
        conversations.clear();
        add(data, next);
        client.baseline();
        loaded = true;
      } catch (error) {
        if (error instanceof ApiError && error.isAuth) return toLogin();
        status.textContent = "Could not load your conversations; retrying when the connection is back.";
      } finally {
        loading = null;
      }
    })();
    return loading;
  }

  client.addEventListener("message", ({ detail: { conversationId, message } }) => {
    const conversation = conversations.get(conversationId);
    if (!conversation) return load(); // a conversation this page has not seen yet
    const last = conversation.last_message;
    if (last && last.id >= message.id) return; // already counted in what the API answered
    conversation.last_message = message;
    if (message.sender.id !== me.id) conversation.unread_count = (conversation.unread_count || 0) + 1;
    render();
  });
  client.addEventListener("authenticated", () => {
    if (!loaded) load();
  });
  followPresence(client, list);
  more.addEventListener("click", loadMore);
  load();
  setUpStart();
}

function setUpStart() {
  const form = document.getElementById("start-form");
  const input = document.getElementById("start-query");
  const results = document.getElementById("start-results");
  const status = document.getElementById("start-status");
  let timer;
  let latest = 0;

  async function search() {
    const query = input.value.trim();
    const ticket = ++latest;
    if (!query) {
      results.replaceChildren();
      status.textContent = "";
      return;
    }
    let people;
    try {
      people = await api(`/api/users/?q=${encodeURIComponent(query)}`);
    } catch (error) {
      if (ticket === latest) status.textContent = error.message;
      return;
    }
    if (ticket !== latest) return; // an older answer arriving late
    results.replaceChildren(
      ...people.map((person) => {
        const button = el("button", { className: "person", attrs: { type: "button" } }, el("span", { text: person.username }));
        button.setAttribute("aria-label", `Start a conversation with ${person.username}`);
        button.addEventListener("click", () => start(person));
        return el("li", {}, button);
      }),
    );
    status.textContent = people.length ? `${people.length} found` : "Nobody found.";
  }

  async function start(person) {
    status.textContent = `Opening a conversation with ${person.username}…`;
    try {
      const conversation = await api("/api/conversations/", { method: "POST", body: { participants: [person.id] } });
      location.assign(`/conversations/${conversation.id}/`);
    } catch (error) {
      status.textContent = `Could not start the conversation: ${error.message}`;
    }
  }

  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(search, 200);
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    clearTimeout(timer);
    search();
  });
}
