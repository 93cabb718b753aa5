// ConnectionManager: owns the one WebSocket to lobbykit's /ws (docs/protocol.md), the session
// token, reconnection, request/reply correlation, and what the app asked for (name, lobby,
// media) so that it can put all of it back after every welcome — a dropped connection, a page
// reload and a server restart all end in the same place. It writes what the server says into
// the Store; the UI and the PeerManager read from there or subscribe with on(type, fn).

import { ConnectionState } from './store.js';

// Codes this client produces itself; every other code comes from the server.
export const ClientErrorCode = Object.freeze({
  TIMEOUT: 'timeout',                 // no reply within the request's timeout
  NOT_CONNECTED: 'not_connected',     // asked while there is no authenticated connection
  CONNECTION_LOST: 'connection_lost', // the connection closed before the reply came
});

// The one error type of the client: {code, message} plus the optional fields of protocol errors.
export class LobbyError extends Error {
  constructor(code, message, { field, retryAfterMs, requestType } = {}) {
    super(message || code);
    this.name = 'LobbyError';
    this.code = code;
    if (field !== undefined) this.field = field;
    if (retryAfterMs !== undefined) this.retryAfterMs = retryAfterMs;
    if (requestType !== undefined) this.requestType = requestType;
  }

  // From the data of an `error` message.
  static fromWire(data, requestType) {
    const d = data || {};
    return new LobbyError(d.code || 'internal_error', d.error || 'The server reported an error.', {
      field: d.field, retryAfterMs: d.retry_after_ms, requestType,
    });
  }

  // True for failures of the connection rather than answers from the server: the request may
  // be tried again once the connection is back.
  get transient() {
    return this.code === ClientErrorCode.TIMEOUT || this.code === ClientErrorCode.NOT_CONNECTED ||
      this.code === ClientErrorCode.CONNECTION_LOST;
  }
}

export const DEFAULT_OPTIONS = Object.freeze({
  requestTimeoutMs: 10000,
  // From opening the socket to the welcome. The server's own auth deadline is also 10 s.
  authTimeoutMs: 10000,
  backoffBaseMs: 500,
  backoffCapMs: 10000,
  // Application-level ping while connected; a missing reply means a dead connection that the
  // browser has not noticed yet.
  keepaliveIntervalMs: 20000,
  keepaliveTimeoutMs: 10000,
  storageKey: 'lobbykit.token',
});

// Exponential backoff with full jitter: uniform in [0, min(cap, base * 2^attempt)).
export function backoffDelay(attempt, baseMs, capMs, random = Math.random) {
  return Math.floor(random() * Math.min(capMs, baseMs * 2 ** Math.min(attempt, 30)));
}

export function defaultUrl(loc = globalThis.location) {
  return `${loc.protocol === 'https:' ? 'wss' : 'ws'}://${loc.host}/ws`;
}

function browserStorage() {
  try {
    const s = globalThis.localStorage;
    const probe = '__lobbykit_probe__';
    s.setItem(probe, '1');
    s.removeItem(probe);
    return s;
  } catch {
    return null; // storage disabled: sessions still work, they just do not survive a reload
  }
}

function freshIntent() {
  return {
    name: undefined,     // undefined: take whatever the next welcome says; null: no name
    password: undefined, // kept in memory only, to prove a protected name on a new session
    lobbyId: undefined,  // undefined: take the welcome's lobby; null: in none
    media: { has_media: false, audio_muted: false, video_muted: false, screen_sharing: false },
  };
}

export class ConnectionManager {
  // store: the Store to write into. options: see DEFAULT_OPTIONS, plus url, storage (an object
  // with getItem/setItem/removeItem, or null) and WebSocket (a constructor, for tests).
  constructor(store, options = {}) {
    this.store = store;
    this.options = { ...DEFAULT_OPTIONS, ...options };
    this.url = options.url || defaultUrl();
    this.storage = options.storage !== undefined ? options.storage : browserStorage();
    this._WebSocket = options.WebSocket || globalThis.WebSocket;

    this._ws = null;
    this._gen = 0;              // bumped per socket; events of older sockets are ignored
    this._authenticated = false;
    this._stopped = true;
    this._everConnected = false;
    this._nextId = 1;
    this._pending = new Map();  // id -> {resolve, reject, timer, type}
    this._handlers = new Map(); // type -> Set of fn(data, message)
    this._retryTimer = null;
    this._authTimer = null;
    this._keepaliveTimer = null;
    this._catchUp = null;       // the running chat catch-up, if any
    this._catchUpAgain = false;
    this._memoryToken = null;   // the token when storage is unavailable
    this._intent = freshIntent();

    this._onOnline = () => this.retryNow();
    globalThis.addEventListener?.('online', this._onOnline);
  }

  get state() {
    return this.store.getState().connection.state;
  }

  get connected() {
    return this._authenticated;
  }

  get peerId() {
    return this.store.getState().session?.peerId ?? null;
  }

  // What the app has asked for; the connection puts it back after each welcome. A copy.
  get intent() {
    return JSON.parse(JSON.stringify({ ...this._intent, password: undefined }));
  }

  // ---- subscriptions --------------------------------------------------------------------

  // fn(data, message) for every message of this type the server pushes (replies go to the
  // request's promise instead). Also local events: 'welcome' (after the store took it),
  // 'close' ({code, reason}), 'state' ({state}). Returns an unsubscribe function.
  on(type, fn) {
    if (!this._handlers.has(type)) this._handlers.set(type, new Set());
    this._handlers.get(type).add(fn);
    return () => this._handlers.get(type)?.delete(fn);
  }

  _emit(type, data, message) {
    for (const fn of [...(this._handlers.get(type) || [])]) {
      try {
        fn(data, message);
      } catch (e) {
        console.error(`lobbykit: ${type} handler failed`, e);
      }
    }
  }

  // ---- lifecycle ------------------------------------------------------------------------

  // Starts connecting (and keeps reconnecting until disconnect()). Also the way to take a
  // session back after another tab replaced this one (4001).
  connect() {
    this._stopped = false;
    this.store.setConnection({ stopReason: null });
    if (!this._ws) this._open();
  }

  // Closes the connection and stops reconnecting. The token stays stored.
  disconnect() {
    this._stopped = true;
    clearTimeout(this._retryTimer);
    this._retryTimer = null;
    if (this._ws) this._abandon(1000, 'client disconnect');
    this._setState(ConnectionState.DISCONNECTED, { retryAt: null });
  }

  // While waiting to reconnect: try now instead of when the backoff timer fires.
  retryNow() {
    if (this._stopped || this._ws) return;
    clearTimeout(this._retryTimer);
    this._retryTimer = null;
    this._open();
  }

  // Forgets the stored token and the app's intent, and starts a brand-new session.
  newSession() {
    this._dropToken();
    this._intent = freshIntent();
    this.store.setSession(null);
    this.store.clearLobby();
    this.store.setMedia({ sharing: false });
    this._stopped = true;
    clearTimeout(this._retryTimer);
    if (this._ws) this._abandon(1000, 'new session');
    this.store.setConnection({ attempt: 0 });
    this.connect();
  }

  _setState(state, extra = {}) {
    const prev = this.store.getState().connection.state;
    this.store.setConnection({ state, ...extra });
    if (prev !== state) this._emit('state', { state, previous: prev });
  }

  _open() {
    clearTimeout(this._retryTimer);
    this._retryTimer = null;
    const gen = ++this._gen;
    this._hint = null;
    const reconnecting = this._everConnected || this.store.getState().connection.attempt > 0;
    this._setState(reconnecting ? ConnectionState.RECONNECTING : ConnectionState.CONNECTING,
      { retryAt: null });
    let ws;
    try {
      ws = new this._WebSocket(this.url);
    } catch (e) {
      console.warn('lobbykit: cannot open WebSocket', e);
      this._scheduleReconnect();
      return;
    }
    this._ws = ws;
    this._authTimer = setTimeout(() => {
      if (gen === this._gen && !this._authenticated) this._abandon(4000, 'no welcome in time');
    }, this.options.authTimeoutMs);
    ws.onopen = () => {
      if (gen === this._gen) this._authenticate(gen);
    };
    ws.onmessage = (ev) => {
      if (gen === this._gen) this._onFrame(ev.data, gen);
    };
    ws.onclose = (ev) => {
      if (gen === this._gen) this._onClose(ev.code, ev.reason);
    };
    ws.onerror = () => {}; // a close event always follows
  }

  // Drops the current socket now, without waiting for its closing handshake, and handles it as
  // closed with `code`.
  _abandon(code, reason) {
    const ws = this._ws;
    this._gen++;
    try {
      ws?.close(1000, reason);
    } catch {
      // already closing
    }
    this._onClose(code, reason);
  }

  _onClose(code, reason) {
    clearTimeout(this._authTimer);
    clearInterval(this._keepaliveTimer);
    this._authTimer = this._keepaliveTimer = null;
    this._ws = null;
    this._authenticated = false;
    this._rejectPending(ClientErrorCode.CONNECTION_LOST, 'The connection closed before the server answered.');
    this.store.setConnection({ lastCloseCode: code, restoring: false });
    this._emit('close', { code, reason });

    if (this._stopped) {
      this._setState(ConnectionState.DISCONNECTED, { retryAt: null });
      return;
    }
    if (code === 4001) {
      // Another tab or device resumed this session. Reconnecting would close that one in turn:
      // stop and let the person choose (connect() takes it back).
      this._stopped = true;
      this._setState(ConnectionState.DISCONNECTED, { stopReason: 'replaced', retryAt: null });
      return;
    }
    if (code === 4002) {
      // An admin kicked the session; the server deleted it.
      this._stopped = true;
      this._dropToken();
      this._intent = freshIntent();
      this.store.setSession(null);
      this.store.clearLobby();
      this.store.setMedia({ sharing: false });
      this.store.setNotice(null); // the lobby_left just before says less than the banner will
      this._setState(ConnectionState.DISCONNECTED, { stopReason: 'kicked', retryAt: null });
      return;
    }
    if (code === 4004) this._dropToken(); // the session expired: a new one, right away
    const hint = this._hint;
    this._hint = null;
    if (hint) {
      this._followHint(hint);
      return;
    }
    this._scheduleReconnect();
  }

  // A draining server said where and when to reconnect (docs/protocol.md, "Draining"): go
  // there after its delay, as a fresh start rather than a failed attempt. A URL of another
  // scheme (never wss: to ws:) is ignored; the delay is capped at a minute.
  _followHint(hint) {
    if (hint.url) {
      try {
        if (new URL(hint.url).protocol === new URL(this.url).protocol) this.url = hint.url;
      } catch {
        // not a URL: stay where we were
      }
    }
    this._retryIn(hint.afterMs, 0);
  }

  _scheduleReconnect() {
    const attempt = this.store.getState().connection.attempt;
    this._retryIn(backoffDelay(attempt, this.options.backoffBaseMs, this.options.backoffCapMs),
      attempt + 1);
  }

  // Opens a new connection `delay` ms from now; `attempt` is what the state shows meanwhile.
  _retryIn(delay, attempt) {
    this._setState(ConnectionState.RECONNECTING, { attempt, retryAt: Date.now() + delay });
    clearTimeout(this._retryTimer);
    this._retryTimer = setTimeout(() => {
      this._retryTimer = null;
      if (!this._stopped) this._open();
    }, delay);
  }

  // ---- token ----------------------------------------------------------------------------

  _loadToken() {
    try {
      return this.storage?.getItem(this.options.storageKey) || null;
    } catch {
      return null;
    }
  }

  _saveToken(token) {
    try {
      this.storage?.setItem(this.options.storageKey, token);
    } catch {
      // storage full or disabled: the session lasts as long as the page
    }
    this._memoryToken = token;
  }

  _dropToken() {
    try {
      this.storage?.removeItem(this.options.storageKey);
    } catch {
      // nothing stored
    }
    this._memoryToken = null;
  }

  _token() {
    return this._loadToken() || this._memoryToken || null;
  }

  // ---- authentication and restore -------------------------------------------------------

  async _authenticate(gen) {
    const token = this._token();
    try {
      await this._request('auth', token ? { token } : {}, this.options.authTimeoutMs);
      // _onFrame already handled the welcome, before any push that follows it.
    } catch (e) {
      if (gen !== this._gen) return;
      if (e.code === 'invalid_token' && token) {
        // The session is gone (expired, or a server that keeps nothing restarted): start a
        // new one; the intent (name, lobby, media) is put back after its welcome.
        this._dropToken();
        this.store.setNotice('Your previous session had ended, so a new one was started.');
        this._authenticate(gen);
        return;
      }
      console.warn('lobbykit: auth failed', e);
      // too_many_sessions (the server has no room for a new session): say so; the retry
      // with backoff may find room.
      if (!e.transient) this.store.setError(e, 'auth');
      this._abandon(1006, `auth failed: ${e.code}`);
    }
  }

  _onWelcome(w, gen) {
    clearTimeout(this._authTimer);
    this._authTimer = null;
    if (this.store.getState().error?.context === 'auth') this.store.setError(null);
    this._authenticated = true;
    this._everConnected = true;
    this._saveToken(w.token);
    this.store.setSession({
      peerId: w.peer_id,
      name: w.name || '',
      nameProtected: !!w.name_protected,
      isBot: !!w.is_bot,
      resumed: !!w.resumed,
      protocolVersion: w.protocol_version,
      limits: w.limits || {},
    });

    // Show the server's lobby at once when it is the one we want (or we want nothing in
    // particular yet); when we want another one, keep showing ours until the rejoin answers.
    const want = this._intent.lobbyId;
    if (w.lobby && (want === undefined || want === w.lobby.lobby.id)) {
      this.store.applySnapshot(w.lobby);
    } else if (!w.lobby && !want) {
      this.store.clearLobby();
    }

    this._setState(ConnectionState.CONNECTED, { attempt: 0, retryAt: null, stopReason: null });
    this._startKeepalive(gen);
    this._emit('welcome', w);
    // A lobby list subscription belongs to the connection: take it out again on this one.
    if (this._intent.watchLobbies) this._subscribeLobbies(gen);
    // `restoring` lets the UI keep its view steady while name and lobby come back.
    this.store.setConnection({ restoring: true });
    this._restore(w, gen)
      .catch((e) => console.warn('lobbykit: restore failed', e))
      .finally(() => {
        if (gen === this._gen) this.store.setConnection({ restoring: false });
      });
  }

  // Brings the server back to what the app had: name, lobby, media, and the chat missed while
  // away. Runs after every welcome; stops quietly if the connection changes meanwhile (the
  // next welcome starts over).
  async _restore(w, gen) {
    const live = () => gen === this._gen && this._authenticated;
    const intent = this._intent;

    if (intent.name === undefined) {
      intent.name = w.name || null;
    } else if (w.resumed && w.name !== intent.name) {
      // The session kept its name on the server, and it changed while we were away (an admin
      // renamed it, or someone proved the password and took it): accept that, do not fight.
      const had = intent.name;
      this._onNameChanged(w.name || '');
      if (had && w.name) this.store.setNotice(`While you were away your name was changed to "${w.name}".`);
    } else if (intent.name && w.name !== intent.name) {
      // A new session (the old one ended): take the name again, with its password if we know it.
      try {
        const r = await this._request('set_name', intent.password
          ? { name: intent.name, password: intent.password } : { name: intent.name });
        if (!live()) return;
        this.store.setName(r.name, r.protected);
        intent.name = r.name;
      } catch (e) {
        if (!live() || e.transient) return;
        intent.name = null;
        this.store.setError(e, 'restore_name');
      }
    }
    if (!live()) return;

    const serverLobby = w.lobby ? w.lobby.lobby.id : null;
    if (intent.lobbyId === undefined) {
      // First welcome of this page: take over what the server has (e.g. after a reload).
      intent.lobbyId = serverLobby;
      const me = w.lobby?.participants?.find((p) => p.peer_id === w.peer_id);
      if (me) {
        intent.media = { has_media: !!me.has_media, audio_muted: !!me.audio_muted,
          video_muted: !!me.video_muted, screen_sharing: false };
        // A reloaded page shares no screen, whatever the session did before.
        if (me.screen_sharing) this._request('update_media', { screen_sharing: false }).catch(() => {});
      }
      this.store.setMedia({ sharing: intent.media.has_media });
      if (serverLobby) await this._catchUpChat(gen);
      return;
    }
    if (intent.lobbyId && intent.lobbyId !== serverLobby) {
      await this._rejoin(gen);
      return;
    }
    if (!intent.lobbyId && serverLobby) {
      try {
        await this._request('leave_lobby', {});
      } catch (e) {
        if (e.transient) return;
      }
      if (live()) this._dropLobby();
      return;
    }
    if (!intent.lobbyId) return;

    // Same lobby as before: media and chat.
    const me = w.lobby.participants.find((p) => p.peer_id === w.peer_id);
    const patch = this._mediaPatch(me);
    if (patch) {
      try {
        const r = await this._request('update_media', patch);
        if (live() && r.participant) this.store.upsertParticipant(r.participant);
      } catch (e) {
        if (!live() || e.transient) return;
        this.store.setError(e, 'restore_media');
      }
    }
    await this._catchUpChat(gen);
  }

  // The update_media that makes the server's view of us match the intent, or null. After a
  // server restart members come back without media, so this re-enters the mesh.
  _mediaPatch(me) {
    const want = this._intent.media;
    if (!me) return null;
    if (want.has_media && !me.has_media) return { ...want };
    if (!want.has_media && me.has_media) return { has_media: false };
    const patch = {};
    if (want.has_media && want.audio_muted !== !!me.audio_muted) patch.audio_muted = want.audio_muted;
    if (want.has_media && want.video_muted !== !!me.video_muted) patch.video_muted = want.video_muted;
    if (want.has_media && !!want.screen_sharing !== !!me.screen_sharing) patch.screen_sharing = !!want.screen_sharing;
    return Object.keys(patch).length ? patch : null;
  }

  // Out of the lobby on this side: no lobby and no media wanted any more.
  _dropLobby() {
    this._intent.lobbyId = null;
    this._intent.media = { has_media: false, audio_muted: false, video_muted: false, screen_sharing: false };
    this.store.clearLobby();
    this.store.setMedia({ sharing: false });
  }

  // Joins the intended lobby again (its membership ended while away, or the session is new).
  async _rejoin(gen) {
    const intent = this._intent;
    const lobbyId = intent.lobbyId;
    if (!intent.name) {
      this._dropLobby();
      return;
    }
    try {
      const { screen_sharing: screen, ...media } = intent.media;
      const snap = await this._request('join_lobby', { lobby_id: lobbyId, ...media });
      if (gen !== this._gen || intent.lobbyId !== lobbyId) return;
      this.store.applySnapshot(snap);
      // join_lobby has no screen flag: a screen still shared is declared after it.
      if (screen && media.has_media) {
        const r = await this._request('update_media', { screen_sharing: true });
        if (gen !== this._gen || intent.lobbyId !== lobbyId) return;
        if (r.participant) this.store.upsertParticipant(r.participant);
      }
      await this._catchUpChat(gen);
    } catch (e) {
      if (gen !== this._gen || e.transient || intent.lobbyId !== lobbyId) return;
      this._dropLobby();
      this.store.setError(e, 'rejoin');
    }
  }

  // Fetches every message after the last offset seen, page by page. Concurrent calls share one
  // run (and trigger one more pass if asked while running).
  _catchUpChat(gen = this._gen) {
    if (this._catchUp) {
      this._catchUpAgain = true;
      return this._catchUp;
    }
    const run = async () => {
      do {
        this._catchUpAgain = false;
        for (;;) {
          if (gen !== this._gen || !this._authenticated || !this.store.getState().lobby) return;
          const lobbyId = this.store.getState().lobby.id;
          const after = this.store.getState().lastOffset;
          let r;
          try {
            r = await this._request('chat_history', { after });
          } catch (e) {
            if (!e.transient) console.warn('lobbykit: chat_history failed', e);
            return;
          }
          if (this.store.getState().lobby?.id !== lobbyId) return;
          this.store.addChat(r.messages || [], { complete: r.complete });
          if (!r.has_more || !(r.messages || []).length) break;
        }
      } while (this._catchUpAgain);
    };
    this._catchUp = run().finally(() => {
      this._catchUp = null;
    });
    return this._catchUp;
  }

  _startKeepalive(gen) {
    clearInterval(this._keepaliveTimer);
    this._keepaliveTimer = setInterval(() => {
      if (gen !== this._gen || !this._authenticated) return;
      this._request('ping', {}, this.options.keepaliveTimeoutMs).catch((e) => {
        if (gen === this._gen && e.code === ClientErrorCode.TIMEOUT) {
          this._abandon(1006, 'keepalive timeout');
        }
      });
    }, this.options.keepaliveIntervalMs);
  }

  // ---- frames ---------------------------------------------------------------------------

  _onFrame(text, gen) {
    let msg;
    try {
      msg = JSON.parse(text);
    } catch {
      console.warn('lobbykit: a frame that is not JSON', text);
      return;
    }
    if (!msg || typeof msg !== 'object' || typeof msg.type !== 'string') return;
    const data = msg.data && typeof msg.data === 'object' ? msg.data : {};

    if (msg.type === 'welcome') this._onWelcome(data, gen);

    if (msg.id !== undefined && msg.id !== null) {
      const p = this._pending.get(msg.id);
      if (!p) return; // timed out already
      this._pending.delete(msg.id);
      clearTimeout(p.timer);
      if (msg.type === 'error') p.reject(LobbyError.fromWire(data, p.type));
      else p.resolve(data);
      return;
    }
    this._onPush(msg.type, data, msg);
    this._emit(msg.type, data, msg);
    this._emit('message', data, msg);
  }

  // What the connection itself does with each push; runs before the subscribers.
  _onPush(type, d) {
    const s = this.store.getState();
    const inLobby = (id) => s.lobby && s.lobby.id === id;
    switch (type) {
      case 'participant_joined':
      case 'participant_updated':
        if (inLobby(d.lobby_id) && d.participant) this.store.upsertParticipant(d.participant);
        break;
      case 'participant_left':
        if (inLobby(d.lobby_id)) this.store.removeParticipant(d.peer_id);
        break;
      case 'bot_dispatch':
        if (d.dispatch && inLobby(d.dispatch.lobby_id)) this.store.upsertBot(d.dispatch);
        break;
      case 'bot_dispatch_removed':
        if (inLobby(d.lobby_id)) this.store.removeBot(d.dispatch_id);
        break;
      case 'chat':
        if (inLobby(d.lobby_id) && d.message) {
          // A gap in offsets is a message we missed: fetch it.
          const gap = d.message.offset > s.lastOffset + 1;
          this.store.addChat([d.message]);
          if (gap) this._catchUpChat();
        }
        break;
      case 'lobby_updated':
        if (inLobby(d.lobby_id)) this.store.updateLobby(d.lobby);
        break;
      case 'lobby_listed':
        if (d.lobby) this.store.upsertListedLobby(d.lobby);
        break;
      case 'lobby_unlisted':
        this.store.removeListedLobby(d.lobby_id);
        break;
      case 'lobby_left':
        this._onLobbyLeft(d);
        break;
      case 'name_changed':
        this._onNameChanged(d.name || '');
        break;
      case 'reconnect': {
        const after = Number(d.after_ms);
        this._hint = {
          afterMs: Number.isFinite(after) && after > 0 ? Math.min(after, 60000) : 0,
          url: typeof d.url === 'string' ? d.url : '',
        };
        break;
      }
      case 'error':
        this.store.setError(LobbyError.fromWire(d), 'push');
        break;
      default:
        break;
    }
  }

  _onLobbyLeft(d) {
    if (!this.store.getState().lobby || this.store.getState().lobby.id !== d.lobby_id) return;
    if (d.reason === 'grace_expired' && this._intent.lobbyId === d.lobby_id) {
      this._rejoin(this._gen);
      return;
    }
    this._dropLobby();
    const why = {
      kicked: 'An admin removed you from the lobby.',
      lobby_removed: 'The lobby was closed.',
      grace_expired: 'You were away too long and left the lobby.',
    }[d.reason] || 'You left the lobby.';
    this.store.setNotice(why);
  }

  _onNameChanged(name) {
    const had = this._intent.name;
    this.store.setName(name);
    this._intent.name = name || null;
    if (!name) this._intent.password = undefined;
    if (had && !name) {
      this.store.setNotice(`Someone proved the password for "${had}" and took the name. Pick a name to continue.`);
    }
  }

  // ---- requests -------------------------------------------------------------------------

  // Sends {type, id, data} and resolves with the reply's data, or rejects with a LobbyError
  // (the server's, or timeout / not_connected / connection_lost).
  request(type, data = {}, { timeoutMs } = {}) {
    if (!this._authenticated) {
      return Promise.reject(new LobbyError(ClientErrorCode.NOT_CONNECTED,
        'Not connected to the server.', { requestType: type }));
    }
    return this._request(type, data, timeoutMs ?? this.options.requestTimeoutMs);
  }

  _request(type, data, timeoutMs = this.options.requestTimeoutMs) {
    const ws = this._ws;
    const id = this._nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this._pending.delete(id);
        reject(new LobbyError(ClientErrorCode.TIMEOUT,
          `The server did not answer ${type} within ${timeoutMs} ms.`, { requestType: type }));
      }, timeoutMs);
      this._pending.set(id, { resolve, reject, timer, type });
      try {
        ws.send(JSON.stringify({ type, id, data }));
      } catch (e) {
        clearTimeout(timer);
        this._pending.delete(id);
        reject(new LobbyError(ClientErrorCode.CONNECTION_LOST, 'The connection is closing.',
          { requestType: type }));
      }
    });
  }

  _rejectPending(code, message) {
    const pending = [...this._pending.values()];
    this._pending.clear();
    for (const p of pending) {
      clearTimeout(p.timer);
      p.reject(new LobbyError(code, message, { requestType: p.type }));
    }
  }

  // ---- the app's API --------------------------------------------------------------------

  // Takes (or proves) a display name. With a password the name becomes protected.
  async setName(name, password) {
    const r = await this.request('set_name', password ? { name, password } : { name });
    this._intent.name = r.name;
    this._intent.password = password || undefined;
    this.store.setName(r.name, r.protected);
    return r;
  }

  async listLobbies() {
    const r = await this.request('list_lobbies', {});
    this.store.setLobbies(r.lobbies || []);
    return r.lobbies || [];
  }

  // Keeps store.lobbies current from the server's lobby_listed / lobby_unlisted pushes
  // (watch_lobbies) instead of polling list_lobbies; re-subscribes after every reconnect
  // until watchLobbies(false). Resolves with the list when subscribing.
  async watchLobbies(on = true) {
    this._intent.watchLobbies = !!on;
    if (!this._authenticated) return on ? this.store.getState().lobbies : [];
    const r = await this.request('watch_lobbies', { watch: !!on });
    if (on && this._intent.watchLobbies) this.store.setLobbies(r.lobbies || []);
    return r.lobbies || [];
  }

  _subscribeLobbies(gen) {
    this.request('watch_lobbies', { watch: true })
      .then((r) => {
        if (gen === this._gen && this._intent.watchLobbies) this.store.setLobbies(r.lobbies || []);
      })
      .catch((e) => console.warn('lobbykit: watch_lobbies failed', e));
  }

  // {name, private?, persistent?, max_participants?} -> Lobby. Creating does not join.
  async createLobby(fields) {
    const r = await this.request('create_lobby', fields);
    return r.lobby;
  }

  // Joins by id (media: {has_media, audio_muted, video_muted}); resolves with the snapshot.
  async joinLobby(lobbyId, media = {}) {
    const m = { has_media: !!media.has_media, audio_muted: !!media.audio_muted,
      video_muted: !!media.video_muted };
    this._intent.lobbyId = lobbyId;
    this._intent.media = { ...m, screen_sharing: false };
    try {
      const snap = await this.request('join_lobby', { lobby_id: lobbyId, ...m });
      if (this._intent.lobbyId === lobbyId) {
        this.store.applySnapshot(snap);
        this.store.setMedia({ sharing: m.has_media });
      }
      return snap;
    } catch (e) {
      if (this._intent.lobbyId === lobbyId) {
        this._intent.lobbyId = this.store.getState().lobby?.id ?? null;
      }
      throw e;
    }
  }

  // Leaves at once on this side; tells the server now, or after the next welcome when offline.
  async leaveLobby() {
    this._dropLobby();
    if (!this._authenticated) return;
    try {
      await this.request('leave_lobby', {});
    } catch (e) {
      if (e.code !== 'not_in_lobby' && !e.transient) throw e;
    }
  }

  async sendChat(text) {
    const r = await this.request('chat', { text });
    return r.offset;
  }

  // ---- application messages and metadata (docs/protocol.md) ----

  // Sends an application message called `name` ([A-Za-z0-9_.:-], 1-64) with a JSON payload to
  // every other member of the lobby, or only to peer `to`. Resolves with {delivered, reply?}:
  // reply is the host's answer when its handler gave one. Others receive it as the
  // 'app_message' event: {lobby_id, name, from ("" from the server), from_name, to?, payload}.
  async sendAppMessage(name, payload = null, { to } = {}) {
    const data = { name, payload };
    if (to !== undefined && to !== null) data.to = to;
    return this.request('app_message', data);
  }

  // Replaces this participant's metadata (target 'self') or, for a moderator, the lobby's
  // ('lobby'). The store follows the participant_updated / lobby_updated push it causes.
  async setMetadata(metadata, target = 'self') {
    const r = await this.request('set_metadata', { target, metadata });
    return r.metadata;
  }

  // patch: any of has_media, audio_muted, video_muted, screen_sharing. Remembered even when
  // offline. Turning has_media off turns screen_sharing off (as the server does).
  async updateMedia(patch) {
    this._intent.media = { ...this._intent.media, ...patch };
    if (!this._intent.media.has_media) this._intent.media.screen_sharing = false;
    if ('has_media' in patch) this.store.setMedia({ sharing: !!patch.has_media });
    if (!this.store.getState().lobby || !this._authenticated) return null;
    const r = await this.request('update_media', patch);
    if (r.participant) this.store.upsertParticipant(r.participant);
    return r.participant;
  }

  // ---- bots (docs/bots.md) ----

  // The bot kinds the server's providers offer: [{kind, description, available}]. `available`
  // is false when every provider of the kind is full or draining.
  async listBotKinds() {
    const r = await this.request('list_bot_kinds', {});
    const kinds = r.kinds || [];
    this.store.setBotKinds(kinds);
    return kinds;
  }

  // Asks for a bot of `kind` in our lobby; resolves with its Dispatch. `key` (default: the
  // kind) names the dispatch in the lobby: the same key again returns that dispatch, and
  // restarts it when it failed. `metadata`: an object handed to the bot's provider.
  async addBot(kind, { key, metadata } = {}) {
    const data = { kind };
    if (key !== undefined) data.key = key;
    if (metadata !== undefined) data.metadata = metadata;
    const r = await this.request('add_bot', data);
    // The server sends the result after the bot_dispatch pushes the add caused, and pushes
    // every later change, so the result is never older than what the store holds.
    if (r.dispatch) this.store.upsertBot(r.dispatch);
    return r.dispatch || null;
  }

  // Takes a bot out of our lobby for good. A dispatch the server no longer has is gone
  // already, which is what was asked for.
  async removeBot(dispatchId) {
    try {
      await this.request('remove_bot', { dispatch_id: dispatchId });
    } catch (e) {
      if (e.code !== 'dispatch_not_found') throw e;
    }
    this.store.removeBot(dispatchId);
  }

  relayDescription(to, description) {
    const d = { type: description.type };
    if (description.sdp !== undefined && description.sdp !== null) d.sdp = description.sdp;
    return this.request('relay_description', { to, description: d });
  }

  // candidate: an RTCIceCandidate(Init), or null for the end of candidates.
  relayCandidate(to, candidate) {
    let c = null;
    if (candidate) {
      const j = typeof candidate.toJSON === 'function' ? candidate.toJSON() : candidate;
      c = { candidate: j.candidate };
      if (j.sdpMid !== undefined) c.sdpMid = j.sdpMid;
      if (j.sdpMLineIndex !== undefined) c.sdpMLineIndex = j.sdpMLineIndex;
      if (j.usernameFragment !== undefined) c.usernameFragment = j.usernameFragment;
    }
    return this.request('relay_candidate', { to, candidate: c });
  }

  // Asks for any chat messages after the last one seen.
  fetchMissedChat() {
    return this._catchUpChat();
  }

  ping() {
    return this.request('ping', {});
  }
}
