// Entry point of every logged-in page: the shared real-time client, the connection badge, the bell,
// then the page's own module (data-page on <body>). User data is only ever set with textContent.

import { RealtimeClient } from "./realtime.js";
import { setUpBell } from "./bell.js";
import { trackActivity } from "./activity.js";

const PAGES = {
  inbox: () => import("./inbox.js"),
  conversation: () => import("./conversation.js"),
  devices: () => import("./account.js"),
};

const STATE_TEXT = {
  connecting: "Connecting…",
  connected: "Connected",
  reconnecting: "Reconnecting…",
  offline: "Offline",
};

function showConnectionState(client) {
  const badge = document.getElementById("connection-state");
  if (!badge) return;
  client.addEventListener("state", ({ detail }) => {
    badge.dataset.state = detail.state;
    let text = STATE_TEXT[detail.state] || detail.state;
    if (detail.retryIn !== undefined && detail.retryIn >= 1000) text += ` retrying in ${Math.round(detail.retryIn / 1000)} s`;
    badge.textContent = text;
  });
}

async function main() {
  const body = document.body;
  const me = { id: Number(body.dataset.userId), username: body.dataset.username };
  const deviceId = body.dataset.deviceId ? Number(body.dataset.deviceId) : null;
  const client = new RealtimeClient({ deviceId });
  window.dedwen = { client, me }; // for the console and the browser tests
  showConnectionState(client);
  setUpBell(client);
  trackActivity(client, { idleAfter: Number(body.dataset.idleAfter) || undefined });
  const page = PAGES[body.dataset.page];
  if (page) {
    const module = await page();
    module.init({ client, me });
  }
  client.start();
  addEventListener("pagehide", (event) => {
    if (!event.persisted) client.stop();
  });
}

main();
