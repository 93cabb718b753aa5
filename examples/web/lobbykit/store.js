// The single source of truth for the browser client: session, lobby, participants, bot
// dispatches, chat, connection state, per-peer media state and the last error. The connection and peer managers
// write to it through the named methods below; the UI only reads it (getState / subscribe).
// State objects are replaced, never mutated, so a listener can compare old and new by identity.

export const ConnectionState = Object.freeze({
  DISCONNECTED: 'disconnected',
  CONNECTING: 'connecting',
  CONNECTED: 'connected',
  RECONNECTING: 'reconnecting',
});

function initialState() {
  return {
    connection: {
      state: ConnectionState.DISCONNECTED,
      // Why the connection stopped for good: null, 'replaced' (4001), 'kicked' (4002).
      stopReason: null,
      attempt: 0,           // failed attempts since the last welcome
      retryAt: null,        // Date.now() of the next attempt while reconnecting
      lastCloseCode: null,
      restoring: false,     // after a welcome, while name / lobby / media are being put back
    },
    // null until the first welcome.
    session: null,          // {peerId, name, nameProtected, isBot, resumed, protocolVersion, limits}
    lobbies: [],            // public lobbies: the last list_lobbies, kept current by watchLobbies
    lobby: null,            // the Lobby the session is in, or null
    participants: [],       // Participant[] of that lobby, in join order
    bots: [],               // Dispatch[] of that lobby (docs/bots.md), oldest first
    botKinds: null,         // [{kind, description, available}] as list_bot_kinds last said, or
                            //   null before the first answer
    chat: [],               // ChatMessage[] ordered by offset, no duplicates
    historyComplete: true,  // false when the server no longer keeps some older messages
    lastOffset: 0,          // highest chat offset seen in this lobby
    media: {
      stream: null,         // the local MediaStream, or null
      audio: false,         // a microphone track is captured
      video: false,         // a camera track is captured
      audioMuted: false,
      sharing: false,       // this page takes part in the media mesh (has_media)
      screen: null,         // a MediaStream with the shared screen's track, or null
    },
    // Written only by the PeerManager, which closes every pair when the lobby changes.
    peers: {},              // peer_id -> {name, isBot, shouldOffer, connectionState,
                            //   iceConnectionState, signalingState, stream, errors: []}
    busy: {},               // action name -> true while the request runs (UI disables buttons)
    error: null,            // {code, message, field?, retryAfterMs?, context?, at}
    notice: null,           // {text, at}: something the user should know that is not an error
  };
}

// Inserts messages into an offset-ordered array; a message whose offset is already there
// replaces nothing (offsets are unique per lobby, so the first copy wins).
function mergeChat(existing, incoming) {
  if (!incoming.length) return existing;
  const byOffset = new Map(existing.map((m) => [m.offset, m]));
  let added = false;
  for (const m of incoming) {
    if (!byOffset.has(m.offset)) {
      byOffset.set(m.offset, m);
      added = true;
    }
  }
  if (!added) return existing;
  return [...byOffset.values()].sort((a, b) => a.offset - b.offset);
}

// Dispatches in the order they were added (ties by id), so a bot keeps its place in the list
// through every state change.
function sortDispatches(list) {
  return [...list].sort((a, b) => (a.created_ms - b.created_ms)
    || (a.dispatch_id < b.dispatch_id ? -1 : a.dispatch_id > b.dispatch_id ? 1 : 0));
}

export class Store {
  constructor() {
    this._state = initialState();
    this._notified = this._state; // the state the listeners last heard about
    this._notifying = false;
    this._listeners = new Set();
  }

  getState() {
    return this._state;
  }

  // listener(state, previousState) runs after every change. Returns an unsubscribe function.
  subscribe(listener) {
    this._listeners.add(listener);
    return () => this._listeners.delete(listener);
  }

  // A change made by a listener while listeners run is delivered after the current round, so
  // every listener sees the states in order and the last call it gets is the newest state.
  _set(patch) {
    this._state = { ...this._state, ...patch };
    if (this._notifying) return;
    this._notifying = true;
    try {
      while (this._notified !== this._state) {
        const prev = this._notified;
        const next = this._state;
        this._notified = next;
        for (const l of [...this._listeners]) {
          try {
            l(next, prev);
          } catch (e) {
            console.error('lobbykit store listener failed', e);
          }
        }
      }
    } finally {
      this._notifying = false;
    }
  }

  setConnection(patch) {
    this._set({ connection: { ...this._state.connection, ...patch } });
  }

  setSession(session) {
    this._set({ session });
  }

  setName(name, nameProtected) {
    if (!this._state.session) return;
    const session = { ...this._state.session, name };
    if (nameProtected !== undefined) session.nameProtected = nameProtected;
    this._set({ session });
  }

  setLobbies(lobbies) {
    this._set({ lobbies });
  }

  // A lobby_listed push: the lobby replaces its old entry, or joins the list (oldest first).
  upsertListedLobby(lobby) {
    const rest = this._state.lobbies.filter((l) => l.id !== lobby.id);
    const lobbies = [...rest, lobby].sort(
      (a, b) => (a.created_ms - b.created_ms) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    this._set({ lobbies });
  }

  // A lobby_unlisted push.
  removeListedLobby(lobbyId) {
    if (!this._state.lobbies.some((l) => l.id === lobbyId)) return;
    this._set({ lobbies: this._state.lobbies.filter((l) => l.id !== lobbyId) });
  }

  // Applies a lobby snapshot (welcome.lobby or a join_lobby result). The chat is merged when
  // it is the lobby we already show, replaced otherwise.
  applySnapshot(snap) {
    const same = this._state.lobby && this._state.lobby.id === snap.lobby.id;
    const chat = mergeChat(same ? this._state.chat : [], snap.history || []);
    const lastOffset = Math.max(
      same ? this._state.lastOffset : 0,
      snap.last_offset || 0,
      chat.length ? chat[chat.length - 1].offset : 0,
    );
    this._set({
      lobby: snap.lobby,
      participants: snap.participants || [],
      bots: sortDispatches(snap.bots || []),
      chat,
      historyComplete: same ? this._state.historyComplete && snap.history_complete !== false
        : snap.history_complete !== false,
      lastOffset,
    });
  }

  clearLobby() {
    this._set({ lobby: null, participants: [], bots: [], chat: [], historyComplete: true,
      lastOffset: 0 });
  }

  // New settings of the lobby shown (a lobby_updated push: the host or an admin changed them).
  updateLobby(lobby) {
    if (!lobby || !this._state.lobby || lobby.id !== this._state.lobby.id) return;
    this._set({ lobby: { ...this._state.lobby, ...lobby } });
  }

  upsertParticipant(p) {
    const list = this._state.participants;
    const i = list.findIndex((x) => x.peer_id === p.peer_id);
    const participants = i < 0 ? [...list, p] : list.map((x, j) => (j === i ? p : x));
    this._set({ participants });
  }

  removeParticipant(peerId) {
    this._set({ participants: this._state.participants.filter((x) => x.peer_id !== peerId) });
  }

  // A dispatch added or changed (a bot_dispatch push or an add_bot result); ignored unless it
  // belongs to the lobby shown.
  upsertBot(d) {
    if (!d || !this._state.lobby || d.lobby_id !== this._state.lobby.id) return;
    const list = this._state.bots;
    const i = list.findIndex((x) => x.dispatch_id === d.dispatch_id);
    this._set({ bots: i < 0 ? sortDispatches([...list, d]) : list.map((x, j) => (j === i ? d : x)) });
  }

  removeBot(dispatchId) {
    if (!this._state.bots.some((x) => x.dispatch_id === dispatchId)) return;
    this._set({ bots: this._state.bots.filter((x) => x.dispatch_id !== dispatchId) });
  }

  setBotKinds(kinds) {
    this._set({ botKinds: kinds });
  }

  addChat(messages, { complete } = {}) {
    const chat = mergeChat(this._state.chat, messages);
    const top = chat.length ? chat[chat.length - 1].offset : 0;
    const patch = { chat, lastOffset: Math.max(this._state.lastOffset, top) };
    if (complete === false) patch.historyComplete = false;
    if (chat !== this._state.chat || patch.lastOffset !== this._state.lastOffset ||
        patch.historyComplete !== undefined) {
      this._set(patch);
    }
  }

  setMedia(patch) {
    this._set({ media: { ...this._state.media, ...patch } });
  }

  setPeer(peerId, patch) {
    const old = this._state.peers[peerId] || {
      name: '', isBot: false, shouldOffer: false, connectionState: 'new',
      iceConnectionState: 'new', signalingState: 'stable', stream: null, errors: [],
    };
    this._set({ peers: { ...this._state.peers, [peerId]: { ...old, ...patch } } });
  }

  removePeer(peerId) {
    if (!(peerId in this._state.peers)) return;
    const peers = { ...this._state.peers };
    delete peers[peerId];
    this._set({ peers });
  }

  clearPeers() {
    if (Object.keys(this._state.peers).length) this._set({ peers: {} });
  }

  setBusy(action, on) {
    const busy = { ...this._state.busy };
    if (on) busy[action] = true;
    else delete busy[action];
    this._set({ busy });
  }

  // err: a LobbyError (or anything with code/message); context: what the user was doing.
  setError(err, context) {
    if (!err) {
      if (this._state.error) this._set({ error: null });
      return;
    }
    this._set({
      error: {
        code: err.code || 'error',
        message: err.message || String(err),
        field: err.field,
        retryAfterMs: err.retryAfterMs,
        context: context || null,
        at: Date.now(),
      },
    });
  }

  setNotice(text) {
    this._set({ notice: text ? { text, at: Date.now() } : null });
  }

  // The participant entry of this session in its lobby, or null.
  self() {
    const s = this._state;
    if (!s.session) return null;
    return s.participants.find((p) => p.peer_id === s.session.peerId) || null;
  }
}
