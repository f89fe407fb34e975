// Presence dots: every element with data-presence-user="ID" follows that user's status.

export function showPresence(root, userId, entry) {
  for (const dot of root.querySelectorAll(`[data-presence-user="${Number(userId)}"]`)) {
    const status = entry && entry.status === "online" ? "online" : "offline";
    dot.dataset.status = status;
    dot.title = status;
    const text = dot.parentElement && dot.parentElement.querySelector(".presence-text");
    if (text) text.textContent = status;
  }
}

/** Keep the dots under root in step with the client's presence events (and what it already knows). */
export function followPresence(client, root) {
  client.addEventListener("presence", ({ detail }) => showPresence(root, detail.user_id, detail));
  applyKnownPresence(client, root);
}

export function applyKnownPresence(client, root) {
  for (const [userId, entry] of client.presence) showPresence(root, userId, entry);
}
