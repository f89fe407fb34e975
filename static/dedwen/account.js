// The account page: the privacy switch (`presence_visible`, PATCH /api/me/) above the devices.

import { api } from "./realtime.js";

export function init() {
  const box = document.getElementById("presence-visible");
  const status = document.getElementById("presence-visible-status");
  if (!box) return;
  api("/api/me/")
    .then((me) => {
      box.checked = me.presence_visible !== false;
      box.disabled = false;
    })
    .catch((error) => (status.textContent = `Could not load your settings: ${error.message}`));
  box.addEventListener("change", async () => {
    const wanted = box.checked;
    box.disabled = true;
    try {
      const me = await api("/api/me/", { method: "PATCH", body: { presence_visible: wanted } });
      box.checked = me.presence_visible;
      status.textContent = me.presence_visible ? "Others see when you are online." : "You appear offline to everyone.";
    } catch (error) {
      box.checked = !wanted;
      status.textContent = `Not saved: ${error.message}`;
    } finally {
      box.disabled = false;
    }
  });
}
