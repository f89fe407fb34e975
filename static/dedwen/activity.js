// Tell the server whether this page is in use: idle after 5 minutes without input or while the page
// is hidden, active again on the next input (the `activity` frame; docs/client.md).

const IDLE_AFTER = 5 * 60 * 1000;
const INPUTS = ["pointerdown", "pointermove", "keydown", "wheel", "touchstart", "focus"];

export function trackActivity(client, { idleAfter = IDLE_AFTER } = {}) {
  let timer = null;
  const idle = () => client.setActivity("idle");
  const active = () => {
    if (document.hidden) return;
    client.setActivity("active");
    clearTimeout(timer);
    timer = setTimeout(idle, idleAfter);
  };
  for (const type of INPUTS) addEventListener(type, active, { passive: true, capture: true });
  document.addEventListener("visibilitychange", () => (document.hidden ? idle() : active()));
  if (document.hidden) idle();
  else active();
}
