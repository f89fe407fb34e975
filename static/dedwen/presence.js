// Presence dots: every element with data-presence-user="ID" follows that user's status (online, idle,
// offline); a .last-seen element beside it says "last seen 5 minutes ago" when known, kept fresh.

const STATUSES = new Set(["online", "idle", "offline"]);
const relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
const STEPS = [
  [60, "second"],
  [60, "minute"],
  [24, "hour"],
  [7, "day"],
  [Infinity, "week"],
];

/** Return "5 minutes ago" for an ISO time (empty when it is not a time). */
export function ago(iso, now = Date.now()) {
  const then = Date.parse(iso);
  if (Number.isNaN(then)) return "";
  let amount = Math.min(0, Math.round((then - now) / 1000));
  for (const [size, unit] of STEPS) {
    if (Math.abs(amount) < size) return relative.format(unit === "second" && amount > -10 ? 0 : amount, unit);
    amount = Math.round(amount / size);
  }
  return "";
}

function lastSeenText(entry) {
  if (!entry || entry.status !== "offline" || !entry.last_seen) return "";
  return `last seen ${ago(entry.last_seen)}`;
}

export function showPresence(root, userId, entry) {
  for (const dot of root.querySelectorAll(`[data-presence-user="${Number(userId)}"]`)) {
    const status = entry && STATUSES.has(entry.status) ? entry.status : "offline";
    dot.dataset.status = status;
    const seen = lastSeenText(entry);
    dot.title = seen ? `${status}, ${seen}` : status;
    const holder = dot.parentElement;
    const text = holder && holder.querySelector(".presence-text");
    if (text) text.textContent = status;
    const lastSeen = holder && holder.querySelector(".last-seen");
    if (lastSeen) {
      lastSeen.textContent = status === "idle" ? "idle" : seen;
      lastSeen.dataset.lastSeen = (entry && entry.last_seen) || "";
    }
  }
}

/** Keep the dots under root in step with the client's presence events (and what it already knows). */
export function followPresence(client, root) {
  client.addEventListener("presence", ({ detail }) => showPresence(root, detail.user_id, detail));
  applyKnownPresence(client, root);
  setInterval(() => applyKnownPresence(client, root), 30000); // "last seen … ago" moves on
}

export function applyKnownPresence(client, root) {
  for (const [userId, entry] of client.presence) showPresence(root, userId, entry);
}
