// A conversation: the newest messages rendered with the page, earlier ones on demand (?before=), live messages
// (at most MAX_SHOWN kept on screen), typing, read markers, sending, leaving a group.

import { api, ApiError } from "./realtime.js";
import { el, timeElement, toLogin } from "./dom.js";
import { followPresence } from "./presence.js";

const MAX_SHOWN = 200; // messages kept on the page: past it, live ones push the oldest out (load them again on demand)
const TYPING_SHOWN_FOR = 4000; // ms a typing notice stays without a new `typing` frame

export function init({ client, me }) {
  const section = document.querySelector("[data-conversation-id]");
  const conversationId = Number(section.dataset.conversationId);
  const maxLength = Number(section.dataset.maxLength) || 4000;
  const PAGE = Number(section.dataset.historyWindow) || 50;
  const leaveButton = document.getElementById("leave-button");
  const history = document.getElementById("history");
  const top = document.getElementById("history-top");
  const list = document.getElementById("messages");
  const historyStatus = document.getElementById("history-status");
  const olderButton = document.getElementById("load-older");
  const typingLine = document.getElementById("typing");
  const form = document.getElementById("send-form");
  const textarea = document.getElementById("send-body");
  const sendError = document.getElementById("send-error");

  const people = new Map(); // the other participants: id -> {username, lastRead}
  for (const li of section.querySelectorAll(".participants [data-user-id]")) {
    people.set(Number(li.dataset.userId), { username: li.dataset.username, lastRead: Number(li.dataset.lastRead) || 0 });
  }
  const byId = new Map(); // message id -> <li>
  const pending = new Map(); // client id -> <li>
  const typing = new Map(); // user id -> timer
  let oldestId = null;
  let newestId = 0;
  let hasOlder = false;
  let loadingOlder = false;
  let loaded = false;

  // --- Rendering ------------------------------------------------------------------------------

  function messageItem(message, { pendingClientId } = {}) {
    const mine = message.sender.id === me.id;
    const li = el(
      "li",
      { className: `message ${mine ? "mine" : "theirs"}` },
      el("span", { className: "author", text: mine ? "You" : message.sender.username }),
      el("p", { className: "body", text: message.body }),
      el("span", { className: "meta" }, message.created_at ? timeElement(message.created_at) : null, el("span", { className: "status" }), el("span", { className: "seen" })),
    );
    if (pendingClientId) {
      li.classList.add("pending");
      li.dataset.clientId = pendingClientId;
      li.querySelector(".status").textContent = "Sending…";
    } else {
      li.dataset.id = String(message.id);
    }
    return li;
  }

  function nearBottom() {
    return history.scrollHeight - history.scrollTop - history.clientHeight < 80;
  }

  function scrollToBottom() {
    history.scrollTop = history.scrollHeight;
  }

  /** Put a confirmed message's <li> in id order, before any still-pending ones. */
  function place(li, id) {
    for (const other of list.children) {
      const otherId = other.dataset.id ? Number(other.dataset.id) : Infinity;
      if (other !== li && otherId > id) return list.insertBefore(li, other);
    }
    list.append(li);
  }

  function show(message) {
    if (byId.has(message.id)) return;
    const stick = nearBottom();
    const sentHere = message.client_id && pending.get(message.client_id);
    if (sentHere && message.sender.id === me.id) {
      pending.delete(message.client_id);
      sentHere.remove(); // the acknowledged message takes the pending one's place
    }
    const li = messageItem(message);
    byId.set(message.id, li);
    place(li, message.id);
    if (oldestId === null || message.id < oldestId) oldestId = message.id;
    if (message.id > newestId) newestId = message.id;
    if (stick || message.sender.id === me.id) scrollToBottom();
    if (stick) trim();
    stopTyping(message.sender.id);
    if (!hasOlder && loaded) historyStatus.textContent = "This is the beginning of the conversation.";
  }

  /** Keep at most MAX_SHOWN confirmed messages: drop the oldest (the reader is at the bottom) and offer them again. */
  function trim() {
    const shown = list.querySelectorAll(".message[data-id]");
    for (let i = 0; i < shown.length - MAX_SHOWN; i++) {
      byId.delete(Number(shown[i].dataset.id));
      shown[i].remove();
    }
    if (shown.length <= MAX_SHOWN) return;
    oldestId = Number(shown[shown.length - MAX_SHOWN].dataset.id);
    hasOlder = true;
    olderButton.hidden = false;
  }

  function showSeen() {
    for (const seen of list.querySelectorAll(".seen")) seen.textContent = "";
    const mine = [...list.querySelectorAll(".message.mine[data-id]")];
    const names = new Map(); // <li> -> names that read up to it
    for (const { username, lastRead } of people.values()) {
      let latest = null;
      for (const li of mine) if (Number(li.dataset.id) <= lastRead) latest = li;
      if (latest) names.set(latest, [...(names.get(latest) || []), username]);
    }
    for (const [li, readers] of names) {
      li.querySelector(".seen").textContent = people.size === 1 ? "Seen" : `Seen by ${readers.join(", ")}`;
    }
  }

  function markRead() {
    if (document.visibilityState !== "visible" || !nearBottom()) return;
    if (newestId > 0) client.markRead(conversationId, newestId);
  }

  // --- History --------------------------------------------------------------------------------

  async function fetchPage(before) {
    const query = new URLSearchParams({ limit: String(PAGE) });
    if (before) query.set("before", String(before));
    return api(`/api/conversations/${conversationId}/messages/?${query}`);
  }

  function failed(error, what) {
    if (error instanceof ApiError && error.isAuth) return toLogin();
    if (error instanceof ApiError && error.status === 404) {
      historyStatus.textContent = "This conversation is not available any more.";
      form.hidden = true;
      return;
    }
    historyStatus.textContent = `Could not load ${what}; retrying when the connection is back.`;
  }

  /** Show the newest page of messages, rendered with the page. */
  function showLatest(messages) {
    loaded = true;
    for (const message of messages) {
      client.remember(message);
      show(message);
    }
    client.advance(Number(section.dataset.latestMessageId) || 0);
    client.baseline();
    hasOlder = messages.length === PAGE;
    olderButton.hidden = !hasOlder;
    historyStatus.textContent = messages.length ? (hasOlder ? "" : "This is the beginning of the conversation.") : "No messages yet. Say hello!";
    scrollToBottom();
    showSeen();
    markRead();
  }

  async function loadOlder() {
    if (!hasOlder || loadingOlder || oldestId === null) return;
    loadingOlder = true;
    historyStatus.textContent = "Loading older messages…";
    try {
      const messages = await fetchPage(oldestId);
      const before = history.scrollHeight;
      for (const message of messages) {
        client.remember(message);
        if (!byId.has(message.id)) {
          const li = messageItem(message);
          byId.set(message.id, li);
          place(li, message.id);
        }
        if (message.id < oldestId) oldestId = message.id;
      }
      history.scrollTop += history.scrollHeight - before; // keep what the user was reading in place
      hasOlder = messages.length === PAGE;
      olderButton.hidden = !hasOlder;
      historyStatus.textContent = hasOlder ? "" : "This is the beginning of the conversation.";
      showSeen();
    } catch (error) {
      failed(error, "older messages");
    } finally {
      loadingOlder = false;
    }
  }

  async function leave() {
    if (!confirm(`Leave “${document.getElementById("conversation-title").textContent}”? You will get no more messages from it.`)) return;
    leaveButton.disabled = true;
    try {
      await api(`/api/conversations/${conversationId}/leave/`, { method: "POST" });
      location.assign("/");
    } catch (error) {
      leaveButton.disabled = false;
      if (error instanceof ApiError && error.isAuth) return toLogin();
      historyStatus.textContent = `Could not leave the group: ${error.message}`;
    }
  }

  // --- Typing ---------------------------------------------------------------------------------

  function showTyping() {
    const names = [...typing.keys()].map((id) => people.get(id)?.username).filter(Boolean);
    typingLine.textContent =
      names.length === 0 ? "" : names.length === 1 ? `${names[0]} is typing…` : `${names.join(", ")} are typing…`;
  }

  function stopTyping(userId) {
    if (!typing.has(userId)) return;
    clearTimeout(typing.get(userId));
    typing.delete(userId);
    showTyping();
  }

  // --- Sending --------------------------------------------------------------------------------

  function send() {
    const body = textarea.value;
    sendError.textContent = "";
    if (!body.trim()) {
      sendError.textContent = "Write a message first.";
      return textarea.focus();
    }
    const length = [...body].length;
    if (length > maxLength) {
      sendError.textContent = `The message is too long (${length} characters; at most ${maxLength}).`;
      return textarea.focus();
    }
    const clientId = client.send(conversationId, body);
    const li = messageItem({ sender: me, body }, { pendingClientId: clientId });
    pending.set(clientId, li);
    list.append(li);
    textarea.value = "";
    scrollToBottom();
  }

  function sendFailed({ clientId, code, message }) {
    const li = pending.get(clientId);
    if (!li) return;
    pending.delete(clientId);
    li.classList.replace("pending", "failed");
    const status = li.querySelector(".status");
    status.textContent = `Not sent: ${message || code}`;
    const retry = el("button", { className: "link-button", text: "Edit", attrs: { type: "button" } });
    retry.addEventListener("click", () => {
      textarea.value = li.querySelector(".body").textContent;
      li.remove();
      textarea.focus();
    });
    status.append(" ", retry);
  }

  // --- Wiring ---------------------------------------------------------------------------------

  client.addEventListener("message", ({ detail }) => {
    if (detail.conversationId !== conversationId) return;
    show(detail.message);
    showSeen();
    markRead();
  });
  client.addEventListener("send-error", ({ detail }) => {
    if (detail.conversationId === conversationId) sendFailed(detail);
  });
  client.addEventListener("read", ({ detail }) => {
    const person = people.get(detail.user_id);
    if (detail.conversation_id !== conversationId || !person) return;
    person.lastRead = Math.max(person.lastRead, detail.message_id);
    showSeen();
  });
  client.addEventListener("typing", ({ detail }) => {
    if (detail.conversation_id !== conversationId || !people.has(detail.user_id)) return;
    clearTimeout(typing.get(detail.user_id));
    typing.set(detail.user_id, setTimeout(() => stopTyping(detail.user_id), TYPING_SHOWN_FOR));
    showTyping();
  });
  followPresence(client, section);

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    send();
  });
  textarea.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      send();
    }
  });
  textarea.addEventListener("input", () => {
    sendError.textContent = "";
    if (textarea.value.trim()) client.typing(conversationId);
  });
  olderButton.addEventListener("click", loadOlder);
  leaveButton?.addEventListener("click", leave);
  history.addEventListener("scroll", () => markRead(), { passive: true });
  document.addEventListener("visibilitychange", markRead);
  new IntersectionObserver((entries) => {
    if (entries.some((entry) => entry.isIntersecting) && loaded) loadOlder();
  }, { root: history }).observe(top);

  showLatest(JSON.parse(document.getElementById("initial-messages").textContent));
  textarea.focus();
}
