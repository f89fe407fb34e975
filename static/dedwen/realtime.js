// dedwen's real-time client: one WebSocket per page, authenticated with a short-lived access token.
// Behaviour (see docs/client.md): token from the session, authenticate as the first frame, re-authenticate
// before expiry, reconnect with capped exponential backoff and full jitter, sync from the last message id,
// dedupe by message id, sends pending until acknowledged, never loop on 4400/4401/4403; after `goaway`
// (4001: the server drains or an operator disconnected) wait as told plus jitter, not counted as a failure.

export const TOKEN_KEY = "dedwen_auth_token";

// The protocol's names come from the server (realtime/protocol.py, rendered into the page by
// base.html): frame types, close codes and error codes are written down in one place only.
const PROTOCOL = JSON.parse(document.getElementById("dedwen-protocol").textContent);
const FRAME = Object.freeze({ ...PROTOCOL.client_frames, ...PROTOCOL.server_frames });
const CLOSE = Object.freeze(PROTOCOL.close_codes);
const ERROR = Object.freeze(PROTOCOL.error_codes);

// Transport close codes the server process sends itself: invalid UTF-8, frame over its limit.
const CLOSE_INVALID_UTF8 = 1007;
const CLOSE_MESSAGE_TOO_BIG = 1009;
// Close codes the client treats specially; any other code means "reconnect with backoff".
const HALT_CODES = new Set([CLOSE.BAD_FRAME, CLOSE_INVALID_UTF8]);
const TOO_LARGE_CODES = new Set([CLOSE.TOO_LARGE, CLOSE_MESSAGE_TOO_BIG]);

// Error codes after which a send is worth retrying (nothing was stored).
const RETRYABLE_ERRORS = new Set([ERROR.UNAVAILABLE]);

const LOG_SENDING = "[Messaging] Sending authentication token to server";
const LOG_AUTHENTICATED = "[Messaging] WebSocket authenticated successfully";

/** An HTTP answer other than 2xx, or no answer at all (status 0). */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
  }

  get isNetwork() {
    return this.status === 0;
  }

  get isAuth() {
    return this.status === 401 || this.status === 403;
  }
}

/** Return the CSRF token Django keeps in the csrftoken cookie. */
export function csrfToken() {
  for (const part of document.cookie.split(";")) {
    const [name, ...rest] = part.trim().split("=");
    if (name === "csrftoken") return decodeURIComponent(rest.join("="));
  }
  return "";
}

/** Return the path and query of a paged list's next page (its Link rel="next" header), or null on the last page. */
function nextPage(response) {
  const match = /<([^>]*)>;\s*rel="next"/.exec(response.headers.get("Link") || "");
  if (!match) return null;
  const url = new URL(match[1], location.href);
  return url.pathname + url.search;
}

/**
 * Call the REST API with the session (and CSRF on writes); resolve the JSON body, or null for 204.
 * With `paged`, resolve {data, next}: `next` is the next page's path (from the Link header) or null.
 */
export async function api(path, { method = "GET", body, signal, paged = false } = {}) {
  const headers = { Accept: "application/json" };
  if (method !== "GET" && method !== "HEAD") headers["X-CSRFToken"] = csrfToken();
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      signal,
    });
  } catch (error) {
    if (error && error.name === "AbortError") throw error;
    throw new ApiError(0, "network", "The server cannot be reached.");
  }
  if (response.status === 204) return null;
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    const error = (data && data.error) || {};
    throw new ApiError(response.status, error.code || `http_${response.status}`, error.message || response.statusText);
  }
  return paged ? { data, next: nextPage(response) } : data;
}

/** Return the items of a list answer, whether it is a bare array or a paginated object. */
export function items(answer, ...keys) {
  if (Array.isArray(answer)) return answer;
  for (const key of [...keys, "results", "items"]) {
    if (answer && Array.isArray(answer[key])) return answer[key];
  }
  return [];
}

/** Return a random client id for a message (idempotency key). */
export function newClientId() {
  if (globalThis.crypto && typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Return a JWT's claims, unverified (only to plan refreshes), or null when they cannot be read. */
export function tokenClaims(token) {
  try {
    let part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    part += "=".repeat((4 - (part.length % 4)) % 4);
    const claims = JSON.parse(atob(part));
    return claims && typeof claims === "object" ? claims : null;
  } catch {
    return null;
  }
}

/** Return a JWT's expiry in epoch milliseconds, or null when it cannot be read (the server decides). */
export function tokenExpiry(token) {
  const exp = tokenClaims(token)?.exp;
  return typeof exp === "number" ? exp * 1000 : null;
}

function readStoredToken() {
  try {
    return localStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

function storeToken(token) {
  try {
    if (token) localStorage.setItem(TOKEN_KEY, token);
    else localStorage.removeItem(TOKEN_KEY);
  } catch {
    // storage disabled: the token lives in memory only
  }
}

function defaultSocketUrl() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/ws/`;
}

/**
 * The page's connection to /ws/. Events (CustomEvent, payload in `detail`):
 *   state {state, retryIn?}          connecting | connected | reconnecting | offline
 *   authenticated {user, deviceId, reconnect}
 *   message {conversationId, message}  each message id once (live, acked or synced)
 *   send-error {clientId, conversationId, code, message}
 *   read {conversation_id, user_id, message_id}
 *   typing {conversation_id, user_id}
 *   presence {user_id, status, last_seen}
 *   notification {id, kind, text, data, created_at, unread_count}
 *   sync-done {last_id}
 *   logout {code}
 */
export class RealtimeClient extends EventTarget {
  constructor(options = {}) {
    super();
    this.options = {
      url: defaultSocketUrl(),
      tokenUrl: "/api/auth/token/",
      loginUrl: "/accounts/login/",
      baseDelay: 500, // ms; the first retry waits up to this long
      maxDelay: 30000, // ms; the backoff cap
      deviceId: null, // the session's device: a stored token of another (older) login is not reused
      stableAfter: 5000, // ms authenticated before the backoff resets
      goawayJitter: 1000, // ms: the most added at random to a goaway's reconnect_after_ms
      pingEvery: 25000, // ms between keep-alive pings
      ...options,
    };
    this.state = "idle";
    this.socket = null;
    this.socketAuthenticated = false;
    this.everAuthenticated = false;
    this.attempt = 0;
    this.authRetried = false;
    this.stopped = false;
    this.halted = false;
    this.user = null;
    this.deviceId = null;
    this.lastMessageId = null;
    this.syncCursor = null; // where an unfinished (paged) sync goes on: live messages may be ahead of it
    this.seen = new Set();
    this.pending = new Map(); // client_id -> {conversation_id, body, client_id}
    this.presence = new Map(); // user id -> {status, last_seen}
    this.activity = "active"; // what this page reports on its socket: "active" or "idle"
    this.lastRead = new Map(); // conversation id -> message id sent as read
    this.lastTyping = new Map(); // conversation id -> ms of the last typing frame
    this.timers = {};
    this.tokenRequest = null;
    this.onOnline = () => this.connectNowIfWaiting();
    this.onOffline = () => this.setState("offline");
  }

  // --- Life cycle ---------------------------------------------------------------------------

  /** Open the socket (once). */
  start() {
    if (this.state !== "idle") return this;
    addEventListener("online", this.onOnline);
    addEventListener("offline", this.onOffline);
    this.connect();
    return this;
  }

  /** Close the socket for good (page teardown). */
  stop() {
    this.stopped = true;
    this.clearTimers();
    removeEventListener("online", this.onOnline);
    removeEventListener("offline", this.onOffline);
    if (this.socket) this.socket.close(1000);
    this.socket = null;
  }

  get connected() {
    return this.socketAuthenticated && this.socket !== null && this.socket.readyState === WebSocket.OPEN;
  }

  async connect() {
    if (this.stopped || this.halted) return;
    this.clearTimer("retry");
    this.setState(this.everAuthenticated || this.attempt > 0 ? "reconnecting" : "connecting");
    let token;
    try {
      token = await this.currentToken();
    } catch (error) {
      if (error instanceof ApiError && error.isAuth) return this.toLogin(CLOSE.UNAUTHORIZED);
      return this.retryLater();
    }
    if (this.stopped) return;
    let socket;
    try {
      socket = new WebSocket(this.options.url);
    } catch {
      return this.retryLater();
    }
    this.socket = socket;
    this.socketAuthenticated = false;
    socket.addEventListener("open", () => {
      if (socket !== this.socket) return;
      console.log(LOG_SENDING);
      this.transmit({ type: FRAME.AUTHENTICATE, data: { token: readStoredToken() || token } });
    });
    socket.addEventListener("message", (event) => {
      if (socket === this.socket) this.receive(event.data);
    });
    socket.addEventListener("close", (event) => this.closed(socket, event.code));
  }

  closed(socket, code) {
    if (socket !== this.socket) return;
    console.info(`[Messaging] WebSocket closed (code ${code})`);
    this.socket = null;
    this.socketAuthenticated = false;
    this.clearTimers();
    if (this.stopped) return;
    if (code === CLOSE.FORBIDDEN) return this.toLogin(code);
    if (code === CLOSE.UNAUTHORIZED) {
      if (this.authRetried) return this.toLogin(code);
      this.authRetried = true; // one fresh token per unstable connection, never a loop
      storeToken(null);
      return this.connect();
    }
    if (TOO_LARGE_CODES.has(code)) this.dropPending("too_large", "The message is too large to send.");
    if (HALT_CODES.has(code)) {
      this.halted = true;
      return this.setState("offline");
    }
    const goaway = this.goaway;
    this.goaway = null;
    if (code === CLOSE.GOING_AWAY) return this.reconnectAfterGoaway(goaway);
    this.retryLater();
  }

  /** Reconnect when the server said (`goaway`'s reconnect_after_ms) plus up to 1 s of jitter; the backoff is untouched. */
  reconnectAfterGoaway(goaway) {
    if (this.stopped || this.halted) return;
    const told = Number.isFinite(goaway?.reconnect_after_ms) ? Math.max(0, goaway.reconnect_after_ms) : 0;
    const delay = told + Math.random() * this.options.goawayJitter;
    this.setState("reconnecting", { retryIn: delay, reason: goaway?.reason || "draining" });
    this.timers.retry = setTimeout(() => this.connect(), delay);
  }

  retryLater() {
    if (this.stopped || this.halted) return;
    const ceiling = Math.min(this.options.maxDelay, this.options.baseDelay * 2 ** this.attempt);
    const delay = Math.random() * ceiling; // full jitter
    this.attempt += 1;
    this.setState(navigator.onLine === false ? "offline" : "reconnecting", { retryIn: delay });
    this.timers.retry = setTimeout(() => this.connect(), delay);
  }

  connectNowIfWaiting() {
    if (this.timers.retry !== undefined) this.connect();
  }

  async toLogin(code) {
    this.stopped = true;
    this.clearTimers();
    storeToken(null);
    this.setState("offline");
    const socket = this.socket;
    this.socket = null;
    if (socket) socket.close(1000);
    const event = this.emit("logout", { code }, true);
    if (code !== CLOSE.FORBIDDEN) {
      // The session may still look valid to the login page, which would send us straight back here:
      // end it, so the login page is where the user stays.
      await api("/api/auth/logout/", { method: "POST" }).catch(() => null);
    }
    if (!event.defaultPrevented) {
      const next = encodeURIComponent(location.pathname + location.search);
      location.assign(`${this.options.loginUrl}?next=${next}`);
    }
  }

  setState(state, extra = {}) {
    this.state = state;
    this.emit("state", { state, ...extra });
  }

  // --- Tokens -------------------------------------------------------------------------------

  /** Return the stored token while it has some life left (and is this login's), else a fresh one. */
  async currentToken() {
    const stored = readStoredToken();
    const device = tokenClaims(stored || "")?.device;
    const otherDevice = this.options.deviceId != null && device != null && device !== this.options.deviceId;
    if (stored && !otherDevice) {
      const expiry = tokenExpiry(stored);
      if (expiry === null || expiry - Date.now() > 5000) return stored;
    }
    return this.fetchToken();
  }

  /** Mint a fresh access token from the session (one request at a time) and store it. */
  fetchToken() {
    if (!this.tokenRequest) {
      this.tokenRequest = api(this.options.tokenUrl, { method: "POST" })
        .then((answer) => {
          storeToken(answer.token);
          return answer.token;
        })
        .finally(() => {
          this.tokenRequest = null;
        });
    }
    return this.tokenRequest;
  }

  scheduleRefresh(expiresAt) {
    this.clearTimer("refresh");
    const expiry = Date.parse(expiresAt) || tokenExpiry(readStoredToken() || "");
    if (!expiry) return;
    const left = expiry - Date.now();
    const margin = Math.min(60000, Math.max(1000, left * 0.2));
    this.timers.refresh = setTimeout(() => this.reauthenticate(expiry), Math.max(0, left - margin));
  }

  async reauthenticate(expiry) {
    let token;
    try {
      token = await this.fetchToken();
    } catch (error) {
      if (error instanceof ApiError && error.isAuth) return this.toLogin(CLOSE.UNAUTHORIZED);
      const left = expiry - Date.now();
      if (left > 1000) this.timers.refresh = setTimeout(() => this.reauthenticate(expiry), Math.min(5000, left / 2));
      return; // if it expires first, the server closes with 4401 and we get a token then
    }
    if (this.connected) {
      console.log(LOG_SENDING);
      this.transmit({ type: FRAME.AUTHENTICATE, data: { token } });
    }
  }

  // --- Frames in ----------------------------------------------------------------------------

  receive(text) {
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    if (!frame || typeof frame.type !== "string") return;
    const data = frame.data && typeof frame.data === "object" ? frame.data : {};
    switch (frame.type) {
      case FRAME.AUTHENTICATED:
        return this.authenticated(data);
      case FRAME.MESSAGE_NEW:
        return this.accept(data.message);
      case FRAME.ACK:
        if (frame.ref && this.pending.has(frame.ref)) {
          this.pending.delete(frame.ref);
          this.accept(data.message);
        }
        return;
      case FRAME.ERROR:
        return this.refused(frame.ref, data);
      case FRAME.MESSAGE_READ:
        return this.emit("read", data);
      case FRAME.TYPING:
        return this.emit("typing", data);
      case FRAME.PRESENCE_SNAPSHOT:
        for (const entry of Array.isArray(data.users) ? data.users : []) this.presenceChanged(entry);
        return;
      case FRAME.PRESENCE:
        return this.presenceChanged(data);
      case FRAME.NOTIFICATION:
        return this.emit("notification", data);
      case FRAME.GOAWAY:
        this.goaway = data; // the 4001 close follows
        return;
      case FRAME.SYNC_DONE:
        if (data.more && Number.isInteger(data.last_id)) {
          this.syncCursor = data.last_id;
          return this.transmit({ type: FRAME.SYNC, data: { after: data.last_id } });
        }
        this.syncCursor = null;
        this.advance(data.last_id);
        return this.emit("sync-done", data);
      default:
        return; // pong, and frame types this client does not know yet
    }
  }

  authenticated(data) {
    console.log(LOG_AUTHENTICATED);
    this.user = data.user || this.user;
    this.deviceId = data.device_id ?? this.deviceId;
    this.connectionId = data.connection_id ?? null;
    this.scheduleRefresh(data.expires_at);
    if (this.socketAuthenticated) return; // a re-authentication on the open socket
    this.socketAuthenticated = true;
    const reconnect = this.everAuthenticated;
    this.everAuthenticated = true;
    this.setState("connected");
    this.timers.stable = setTimeout(() => {
      this.attempt = 0;
      this.authRetried = false;
    }, this.options.stableAfter);
    this.timers.ping = setInterval(() => this.transmit({ type: FRAME.PING, data: {} }), this.options.pingEvery);
    this.syncCursor ??= this.lastMessageId; // kept until a sync.done without `more`, in case the socket drops
    if (this.syncCursor !== null) this.transmit({ type: FRAME.SYNC, data: { after: this.syncCursor } });
    for (const [clientId, data] of this.pending) this.transmit({ type: FRAME.MESSAGE_SEND, data, ref: clientId });
    if (this.activity === "idle") this.transmit({ type: FRAME.ACTIVITY, data: { state: "idle" } }); // a new socket starts active
    this.emit("authenticated", { user: this.user, deviceId: this.deviceId, reconnect });
  }

  accept(message) {
    if (!message || !Number.isInteger(message.id) || this.seen.has(message.id)) return;
    this.remember(message);
    if (message.client_id && this.pending.has(message.client_id)) this.pending.delete(message.client_id);
    this.emit("message", { conversationId: message.conversation_id, message });
  }

  refused(ref, data) {
    const sent = ref ? this.pending.get(ref) : undefined;
    if (!sent) return this.emit("server-error", data);
    if (RETRYABLE_ERRORS.has(data.code)) return; // stays pending; resent after the next (re)connect
    this.pending.delete(ref);
    this.emit("send-error", { clientId: ref, conversationId: sent.conversation_id, code: data.code, message: data.message });
  }

  dropPending(code, message) {
    for (const [clientId, sent] of this.pending) {
      this.emit("send-error", { clientId, conversationId: sent.conversation_id, code, message });
    }
    this.pending.clear();
  }

  presenceChanged(entry) {
    if (!entry || entry.user_id === undefined) return;
    this.presence.set(entry.user_id, { status: entry.status, last_seen: entry.last_seen });
    this.emit("presence", entry);
  }

  // --- Frames out ---------------------------------------------------------------------------

  /** Note a message the page already shows (from REST), so it is never shown twice. */
  remember(message) {
    if (!message || !Number.isInteger(message.id)) return;
    this.seen.add(message.id);
    this.advance(message.id);
  }

  /** Move the sync position forward to a message id. */
  advance(messageId) {
    if (!Number.isInteger(messageId)) return;
    if (this.lastMessageId === null || messageId > this.lastMessageId) this.lastMessageId = messageId;
  }

  /** Start the sync baseline at 0 (the page has loaded everything it shows and has no message). */
  baseline() {
    if (this.lastMessageId === null) this.lastMessageId = 0;
  }

  /** Send a message; it stays pending until acknowledged. Return its client id. */
  send(conversationId, body) {
    const clientId = newClientId();
    const data = { conversation_id: conversationId, body, client_id: clientId };
    this.pending.set(clientId, data);
    if (this.connected) this.transmit({ type: FRAME.MESSAGE_SEND, data, ref: clientId });
    else this.sendOverRest(data);
    return clientId;
  }

  async sendOverRest(data) {
    try {
      const message = await api(`/api/conversations/${data.conversation_id}/messages/`, {
        method: "POST",
        body: { body: data.body, client_id: data.client_id },
      });
      if (this.pending.delete(data.client_id)) this.accept(message);
    } catch (error) {
      if (error instanceof ApiError && !error.isNetwork && error.status !== 503) {
        this.refused(data.client_id, { code: error.code, message: error.message });
      }
      // unreachable: it stays pending and goes out over the socket once it is back
    }
  }

  /** Tell the others that the user is typing (at most every 2.5 s per conversation). */
  typing(conversationId) {
    const now = Date.now();
    if (!this.connected || now - (this.lastTyping.get(conversationId) || 0) < 2500) return;
    this.lastTyping.set(conversationId, now);
    this.transmit({ type: FRAME.TYPING, data: { conversation_id: conversationId } });
  }

  /** Mark a conversation read up to a message (only ever forwards). */
  markRead(conversationId, messageId) {
    if (!Number.isInteger(messageId) || messageId <= (this.lastRead.get(conversationId) || 0)) return;
    this.lastRead.set(conversationId, messageId);
    const data = { conversation_id: conversationId, message_id: messageId };
    if (this.connected) this.transmit({ type: FRAME.MESSAGE_READ, data });
    else api(`/api/conversations/${conversationId}/read/`, { method: "POST", body: { message_id: messageId } }).catch(() => {});
  }

  /** Report this page active or idle (sent only on a change; a new socket is told again when idle). */
  setActivity(state) {
    if (state !== "active" && state !== "idle") return;
    if (state === this.activity) return;
    this.activity = state;
    if (this.connected) this.transmit({ type: FRAME.ACTIVITY, data: { state } });
  }

  transmit(frame) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(frame));
  }

  // --- Helpers ------------------------------------------------------------------------------

  emit(type, detail, cancelable = false) {
    const event = new CustomEvent(type, { detail, cancelable });
    this.dispatchEvent(event);
    return event;
  }

  clearTimer(name) {
    clearTimeout(this.timers[name]);
    clearInterval(this.timers[name]);
    delete this.timers[name];
  }

  clearTimers() {
    for (const name of Object.keys(this.timers)) this.clearTimer(name);
  }
}
