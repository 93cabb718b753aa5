// The lobbykit demo page: wires the client library to the DOM in index.html. Every view is
// drawn from the Store (render()); event handlers only call the library, which updates the
// Store. For tests: window.lobbykit = {store, connection, peers}, and data-testid attributes.

import { Store, ConnectionState } from './lobbykit/store.js';
import { ConnectionManager } from './lobbykit/connection.js';
import { PeerManager, mediaError } from './lobbykit/peers.js';

const params = new URLSearchParams(location.search);
// ?profile=NAME keeps a separate session per profile, e.g. two people in one browser.
const profile = params.get('profile');
const NAME_KEY = `lobbykit.lastName${profile ? `.${profile}` : ''}`;
// Bot kinds come and go with the bot hosts (providers) and have no push: asked again this
// often while the lobby is shown, and whenever the "Add a bot" menu opens.
const BOT_KINDS_REFRESH_MS = 15000;
const BANNER_SHOW_MS = 12000;
// The microphone, camera and speaker chosen under "Devices" (ids; null: the default).
const DEVICES_KEY = `lobbykit.devices${profile ? `.${profile}` : ''}`;

const store = new Store();
const connection = new ConnectionManager(store, {
  storageKey: `lobbykit.token${profile ? `.${profile}` : ''}`,
});
const peers = new PeerManager(connection, store);
window.lobbykit = { store, connection, peers };

const $ = (id) => document.getElementById(id);
const el = {
  me: $('me'), myName: document.querySelector('[data-testid="my-name"]'),
  changeName: $('change-name'),
  status: document.querySelector('[data-testid="connection-status"]'),
  statusLabel: document.querySelector('.status-label'), retryNow: $('retry-now'),
  error: $('error'), errorText: document.querySelector('#error .banner-text'),
  errorDismiss: $('error-dismiss'),
  notice: $('notice'), noticeText: document.querySelector('#notice .banner-text'),
  noticeDismiss: $('notice-dismiss'),
  stopped: $('stopped'), stoppedText: document.querySelector('#stopped .banner-text'),
  stoppedAction: $('stopped-action'),
  connectingView: $('connecting-view'), connectingText: document.querySelector('.connecting-text'),
  nameView: $('name-view'), nameForm: $('name-form'), nameInput: $('name-input'),
  passwordInput: $('password-input'), nameCancel: $('name-cancel'),
  lobbiesView: $('lobbies-view'), lobbyList: $('lobby-list'), noLobbies: $('no-lobbies'),
  refreshLobbies: $('refresh-lobbies'), joinWithMedia: $('join-with-media'),
  createForm: $('create-form'), lobbyNameInput: $('lobby-name-input'),
  privateCheckbox: $('private-checkbox'),
  joinIdForm: $('join-id-form'), joinIdInput: $('join-id-input'),
  lobbyView: $('lobby-view'), lobbyTitle: $('lobby-title'), lobbyPrivate: $('lobby-private'),
  lobbyId: $('lobby-id'), copyInvite: $('copy-invite'), leave: $('leave'),
  peopleCount: $('people-count'), shareMedia: $('share-media'), mute: $('mute'),
  camera: $('camera'), screen: $('screen'), stopMedia: $('stop-media'), participantList: $('participant-list'),
  videos: $('videos'), chatList: $('chat-list'), chatForm: $('chat-form'),
  chatInput: $('chat-input'), audioSink: $('audio-sink'),
  chatOffline: $('chat-offline'), outage: $('outage'), reconnected: $('reconnected'),
  addBot: $('add-bot'), botMenu: $('bot-menu'), addBotNote: $('add-bot-note'),
  botAnnouncer: $('bot-announcer'),
  checkDevices: $('check-devices'), devicesToggle: $('devices-toggle'), devices: $('devices'),
  devicesSlotLobbies: $('devices-slot-lobbies'), devicesSlotLobby: $('devices-slot-lobby'),
  micSelect: $('mic-select'), cameraSelect: $('camera-select'), speakerSelect: $('speaker-select'),
  speakerField: $('speaker-field'),
  micCheckLevel: document.querySelector('[data-testid="mic-check-level"]'),
  micCheckText: $('mic-check-text'), deviceError: $('device-error'),
};

// UI-only state that no other part of the client needs.
const ui = {
  editingName: false,
  pendingInviteLobby: params.get('lobby'), // join this once a name is set
  botMenuOpen: false,
  // What the bot announcer last knew: the lobby and dispatch_id -> {name, said}.
  botLobby: null,
  botSaid: new Map(),
  // Playback volume per peer id, 0..100, as the person set it with the row's slider.
  volumes: new Map(),
  // The devices panel: open or not, the browser's devices by kind, the preferred ids, the
  // microphone captured only to show its level (while not sharing), and the panel's error.
  devicesOpen: false,
  deviceList: { audioinput: [], videoinput: [], audiooutput: [] },
  devicePrefs: loadDevicePrefs(),
  preview: null,
  deviceError: null,
};
peers.setPreferredDevices(ui.devicePrefs);

function loadDevicePrefs() {
  try {
    const v = JSON.parse(localStorage.getItem(DEVICES_KEY) || '{}');
    const id = (x) => (typeof x === 'string' && x ? x : null);
    return { audio: id(v.audio), video: id(v.video), speaker: id(v.speaker) };
  } catch {
    return { audio: null, video: null, speaker: null };
  }
}

function saveDevicePrefs() {
  try {
    localStorage.setItem(DEVICES_KEY, JSON.stringify(ui.devicePrefs));
  } catch {
    // only a convenience for the next visit
  }
}

// ---- errors in plain words ---------------------------------------------------------------

function seconds(ms) {
  const s = Math.max(1, Math.ceil((ms || 0) / 1000));
  return s === 1 ? '1 second' : `${s} seconds`;
}

const ERROR_TEXT = {
  name_taken: 'That name is already taken. Please pick another one.',
  password_required: 'That name is protected by a password. Enter its password, or pick another name.',
  wrong_password: 'That password is not right for this name.',
  too_many_attempts: (e) => (e.retryAfterMs
    ? `Too many attempts. Please wait ${seconds(e.retryAfterMs)} and try again.`
    : 'Please wait a moment and try again.'),
  name_required: 'Choose a display name before joining a lobby.',
  lobby_not_found: 'That lobby does not exist any more. It may have been closed.',
  lobby_full: 'That lobby is full.',
  lobby_exists: 'A lobby with that name already exists. Pick another name, or join it from the list.',
  too_many_lobbies: 'The server cannot hold more lobbies right now. Please try again later.',
  not_in_lobby: 'You are not in a lobby any more.',
  rate_limited: 'You are sending too quickly. Wait a moment and try again.',
  lobby_quota: 'You have as many lobbies as you may keep at once. Join an existing lobby, or wait until an empty one of yours closes.',
  too_many_sessions: 'The server cannot take more sessions from your network right now. It will keep trying.',
  internal_error: 'The server ran into a problem. Please try again.',
  invalid_token: 'Your session had ended, so a new one was started.',
  unknown_peer: 'That person is no longer in the lobby.',
  timeout: 'The server did not answer in time. Please try again.',
  not_connected: 'You are offline right now. Wait until the connection is back, then try again.',
  connection_lost: 'The connection dropped before the server answered. Please try again.',
  media_denied: (e) => mediaText(e, 'The browser did not allow the %s.',
    'allow the %s for this page (the icon at the left of the address bar)'),
  media_not_found: (e) => mediaText(e, 'No %s was found.', 'connect one'),
  media_busy: (e) => mediaText(e, 'The %s is being used by another program.', 'close that program'),
  media_failed: (e) => mediaText(e, 'The %s could not be started.', 'check it'),
  screen_denied: 'Screen sharing did not start: the picker was closed, or the browser did not allow it.',
  screen_failed: 'The screen could not be shared.',
  screen_unsupported: 'This browser cannot share a screen.',
  unknown_kind: 'No bot host offers that kind of bot any more. Pick another one.',
  bot_quota: 'This lobby already has as many bots as it may have. Remove one first.',
  too_many_dispatches: 'The server is running as many bots as it can. Please try again later.',
  forbidden: 'This server does not let lobby members add or remove bots.',
  dispatch_not_found: 'That bot is not in the lobby any more.',
};

// A capture failure, said for what was being started (e.context) and what still works.
function mediaText(e, what, fix) {
  const camera = e.context === 'camera';
  const device = camera ? 'camera' : 'microphone';
  const said = what.replace('%s', device);
  const todo = fix.replace('%s', device);
  if (camera) return `${said} To use it, ${todo}, then press "Turn camera on".`;
  if (e.context === 'devices') return `${said} To use it, ${todo}, then open this check again. You can still join and listen.`;
  return `${said} You are in the call, listening only. To talk, ${todo}, then press "Turn microphone on".`;
}

function badFieldText(e, context) {
  const limits = store.getState().session?.limits || {};
  switch (e.field) {
    case 'data.name': {
      // The rule is docs/protocol.md "Names"; the server's sentence says what was wrong.
      const rule = context === 'create'
        ? `Lobby names need 1 to ${limits.max_lobby_name_chars || 64} characters`
        : `Names need 1 to ${limits.max_name_chars || 32} characters`;
      return `${rule}, at least one of them visible, and no control, invisible or text-direction characters.` +
        (e.message ? ` ${e.message}` : '');
    }
    case 'data.password':
      return 'That password is too long.';
    case 'data.text':
      return `That message is too long (the limit is ${Math.floor((limits.max_chat_bytes || 4096) / 1024)} KB).`;
    default:
      return e.message;
  }
}

const CONTEXT_PREFIX = {
  restore_name: 'Your name could not be restored after reconnecting: ',
  rejoin: 'You could not get back into the lobby: ',
  restore_media: 'Your microphone could not be re-shared after reconnecting: ',
  add_bot: 'The bot could not be added: ',
  remove_bot: 'The bot could not be removed: ',
  bot_kinds: 'The list of bots could not be loaded: ',
};

function describeError(e) {
  let text;
  if (e.code === 'bad_field') text = badFieldText(e, e.context);
  else if (typeof ERROR_TEXT[e.code] === 'function') text = ERROR_TEXT[e.code](e);
  else text = ERROR_TEXT[e.code] || e.message || 'Something went wrong.';
  const prefix = CONTEXT_PREFIX[e.context];
  return prefix ? prefix + text.charAt(0).toLowerCase() + text.slice(1) : text;
}

// ---- bots in plain words (states and reasons: docs/bots.md) -----------------------------

const BOT_WAITING_TEXT = {
  no_provider: 'no bot host is available',
  no_capacity: 'every bot host is busy',
  declined: 'the bot hosts turned it down; trying again soon',
};

const BOT_FAILED_TEXT = {
  offer_timeout: 'no bot host answered in time',
  join_timeout: 'the bot did not arrive in time',
  provider_lost: 'its bot host went away',
  bot_left: 'the bot left the lobby',
  failed: 'the bot stopped with an error',
  declined: 'every bot host turned it down',
};

// One line for a dispatch's state, e.g. "Waiting: no bot host is available".
function botStateText(d) {
  switch (d.state) {
    case 'running':
      return 'Running';
    case 'starting':
      return d.attempts > 0 ? 'Starting again…' : 'Starting…';
    case 'waiting':
      return `Waiting: ${BOT_WAITING_TEXT[d.reason] || 'for a bot host'}`;
    case 'failed':
      return `Failed: ${BOT_FAILED_TEXT[d.reason] || d.reason || 'for an unknown reason'}`;
    default:
      return d.state;
  }
}

// Why no bot can be added now, or null. botKinds null: not asked yet, so nothing to say.
function noBotReason(kinds) {
  if (!kinds) return null;
  if (!kinds.length) return 'No bot host is available, so there are no bots to add right now.';
  if (!kinds.some((k) => k.available)) return 'Every bot host is busy right now. Try again in a moment.';
  return null;
}

// Runs an action with its button state in the store (under busyKey: one per bot for the bot
// buttons); failures become the shown error, with the action as its context.
async function run(action, fn, busyKey = action) {
  if (store.getState().busy[busyKey]) return undefined;
  store.setBusy(busyKey, true);
  try {
    return await fn();
  } catch (e) {
    store.setError(e, action);
    return undefined;
  } finally {
    store.setBusy(busyKey, false);
  }
}

// ---- actions -----------------------------------------------------------------------------

async function joinLobby(lobbyId) {
  await run('join', async () => {
    let media = { has_media: false };
    if (el.joinWithMedia.checked) {
      closeDevices();  // the check's microphone is let go; the call captures its own
      try {
        if (!peers.localStream) await peers.startLocalMedia({ audio: true, video: false });
      } catch (e) {
        store.setError(e, 'media'); // join anyway: listen without a microphone
      }
      const m = store.getState().media;
      media = { has_media: true, audio_muted: !m.audio || m.audioMuted, video_muted: !m.video };
    }
    try {
      await connection.joinLobby(lobbyId, media);
      // Joined: an earlier error is stale, but not the microphone's, which says why you
      // are listening only.
      if (store.getState().error?.context !== 'media') store.setError(null);
    } catch (e) {
      if (!store.getState().lobby) peers.stopLocalMedia();
      throw e;
    }
  });
}

// The lobby list is pushed (watch_lobbies): subscribed while the lobbies view shows, and the
// connection keeps store.lobbies current and re-subscribes after a reconnect.
function refreshLobbies() {
  if (!connection.connected || !store.getState().session?.name) return;
  connection.watchLobbies(true).catch((e) => {
    if (!e.transient) store.setError(e, 'list');
  });
}

function stopWatchingLobbies() {
  connection.watchLobbies(false).catch(() => {});  // offline it only drops the intent
}

el.nameForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const name = el.nameInput.value.trim();
  const password = el.passwordInput.value;
  if (!name) {
    store.setError({ code: 'bad_field', field: 'data.name', message: '' }, 'set_name');
    el.nameInput.focus();
    return;
  }
  run('set_name', async () => {
    await connection.setName(name, password || undefined);
    try {
      localStorage.setItem(NAME_KEY, name);
    } catch {
      // only a convenience for the next visit
    }
    el.passwordInput.value = '';
    ui.editingName = false;
    store.setError(null);
    refreshLobbies();
    if (ui.pendingInviteLobby && !store.getState().lobby) {
      const id = ui.pendingInviteLobby;
      ui.pendingInviteLobby = null;
      joinLobby(id);
    }
  });
});

el.changeName.addEventListener('click', () => {
  ui.editingName = true;
  el.nameInput.value = store.getState().session?.name || '';
  render();
  el.nameInput.focus();
  el.nameInput.select();
});

el.nameCancel.addEventListener('click', () => {
  ui.editingName = false;
  el.passwordInput.value = '';
  render();
});

el.refreshLobbies.addEventListener('click', () => refreshLobbies());

el.createForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const name = el.lobbyNameInput.value.trim();
  if (!name) {
    store.setError({ code: 'bad_field', field: 'data.name', message: '' }, 'create');
    el.lobbyNameInput.focus();
    return;
  }
  run('create', async () => {
    const lobby = await connection.createLobby({ name, private: el.privateCheckbox.checked });
    el.lobbyNameInput.value = '';
    el.privateCheckbox.checked = false;
    store.setBusy('create', false);
    await joinLobby(lobby.id);
  });
});

el.joinIdForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const id = el.joinIdInput.value.trim();
  if (!id) return;
  joinLobby(id).then(() => {
    if (store.getState().lobby) el.joinIdInput.value = '';
  });
});

el.lobbyList.addEventListener('click', (ev) => {
  const button = ev.target.closest('[data-testid="join-lobby"]');
  if (button) joinLobby(button.dataset.lobbyId);
});

el.leave.addEventListener('click', () => {
  run('leave', async () => {
    await connection.leaveLobby();
    refreshLobbies();
  });
});

el.copyInvite.addEventListener('click', async () => {
  const lobby = store.getState().lobby;
  if (!lobby) return;
  const link = `${location.origin}${location.pathname}?lobby=${encodeURIComponent(lobby.id)}`;
  try {
    await navigator.clipboard.writeText(link);
    store.setNotice('Invite link copied. Anyone with it can join this lobby.');
  } catch {
    store.setNotice(`Invite link: ${link}`);
  }
});

el.shareMedia.addEventListener('click', () => {
  run('media', async () => {
    closeDevices();
    if (!peers.localStream) {
      try {
        await peers.startLocalMedia({ audio: true, video: false });
      } catch (e) {
        store.setError(e, 'media'); // take part anyway: listen without a microphone
      }
    }
    const m = store.getState().media;
    await connection.updateMedia({ has_media: true, audio_muted: !m.audio || m.audioMuted,
      video_muted: !m.video });
  });
});

el.stopMedia.addEventListener('click', () => {
  run('media', () => connection.updateMedia({ has_media: false }));
});

el.mute.addEventListener('click', () => {
  const m = store.getState().media;
  if (!m.audio) {
    // No microphone yet (it was denied or missing): try again, and unmute once it works.
    run('mute', async () => {
      try {
        await peers.startMicrophone();
      } catch (e) {
        store.setError(e, 'media');
        return;
      }
      if (store.getState().error?.context === 'media') store.setError(null);
      await peers.setAudioMuted(false);
    });
    return;
  }
  run('mute', () => peers.setAudioMuted(!m.audioMuted));
});

el.camera.addEventListener('click', () => {
  run('camera', () => peers.setCamera(!store.getState().media.video));
});

el.screen.addEventListener('click', () => {
  run('screen', () => (store.getState().media.screen ? peers.stopScreenShare() : peers.startScreenShare()));
});

el.chatForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const text = el.chatInput.value;
  if (!text.trim()) return;
  const maxBytes = store.getState().session?.limits?.max_chat_bytes || 4096;
  if (new TextEncoder().encode(text).length > maxBytes) {
    store.setError({ code: 'bad_field', field: 'data.text', message: '' }, 'chat');
    return;
  }
  run('chat', async () => {
    await connection.sendChat(text);
    // Cleared only once the server stored it, so nothing typed is lost on a failure.
    if (el.chatInput.value === text) el.chatInput.value = '';
    el.chatInput.focus();
  });
});

// ---- bots ----

function refreshBotKinds() {
  if (!connection.connected || !store.getState().lobby) return;
  connection.listBotKinds().catch((e) => {
    if (!e.transient) store.setError(e, 'bot_kinds');
  });
}

function botMenuItems() {
  return [...el.botMenu.querySelectorAll('[role="menuitem"]')];
}

function focusBotItem(i) {
  const items = botMenuItems();
  if (items.length) items[(i + items.length) % items.length].focus();
}

// Asks the server for the kinds, then opens the menu with the focus on the first (or last)
// kind that can be added; when none can, says why instead.
async function openBotMenu(where = 'first') {
  const kinds = await run('bot_kinds', () => connection.listBotKinds());
  if (!kinds || !store.getState().lobby) return;
  const reason = noBotReason(kinds);
  if (reason) {
    setText(el.botAnnouncer, reason);
    return;
  }
  ui.botMenuOpen = true;
  render();
  const ready = botMenuItems().filter((li) => li.getAttribute('aria-disabled') !== 'true');
  (where === 'last' ? ready[ready.length - 1] : ready[0])?.focus();
}

function closeBotMenu({ focusButton = false } = {}) {
  if (!ui.botMenuOpen) return;
  ui.botMenuOpen = false;
  render();
  if (focusButton) el.addBot.focus();
}

function chooseBotKind(item) {
  if (!item || item.getAttribute('aria-disabled') === 'true') return;
  const kind = item.dataset.kind;
  closeBotMenu({ focusButton: true });
  run('add_bot', async () => {
    await connection.addBot(kind);
    if (store.getState().error?.context === 'add_bot') store.setError(null);
  });
}

el.addBot.addEventListener('click', () => {
  // Also when aria-disabled: the server is asked again, a bot host may be back.
  if (ui.botMenuOpen) closeBotMenu();
  else openBotMenu();
});

el.addBot.addEventListener('keydown', (ev) => {
  if (ev.key !== 'ArrowDown' && ev.key !== 'ArrowUp') return;
  ev.preventDefault();
  openBotMenu(ev.key === 'ArrowUp' ? 'last' : 'first');
});

// The menu keys of the WAI-ARIA menu button pattern, plus type-ahead on the kind's name.
el.botMenu.addEventListener('keydown', (ev) => {
  const items = botMenuItems();
  const i = items.indexOf(document.activeElement);
  switch (ev.key) {
    case 'ArrowDown': focusBotItem(i + 1); break;
    case 'ArrowUp': focusBotItem(i - 1); break;
    case 'Home': focusBotItem(0); break;
    case 'End': focusBotItem(items.length - 1); break;
    case 'Escape': closeBotMenu({ focusButton: true }); break;
    case 'Enter':
    case ' ':
      chooseBotKind(items[i]);
      break;
    case 'Tab':
      closeBotMenu();
      return; // the focus moves on as usual
    default: {
      if (ev.key.length !== 1 || ev.ctrlKey || ev.metaKey || ev.altKey) return;
      const c = ev.key.toLowerCase();
      [...items.slice(i + 1), ...items.slice(0, i + 1)].find((li) => li.dataset.kind.startsWith(c))?.focus();
    }
  }
  ev.preventDefault();
});

el.botMenu.addEventListener('click', (ev) => chooseBotKind(ev.target.closest('[role="menuitem"]')));

el.botMenu.addEventListener('focusout', (ev) => {
  if (ev.relatedTarget && !ev.relatedTarget.closest('#bot-control')) closeBotMenu();
});

document.addEventListener('pointerdown', (ev) => {
  if (ui.botMenuOpen && !ev.target.closest('#bot-control')) closeBotMenu();
});

// "Remove" and "Try again" in a bot's row.
el.participantList.addEventListener('input', (ev) => {
  const slider = ev.target.closest('.p-volume');
  const id = slider?.closest('[data-peer-id]')?.dataset.peerId;
  if (!id) return;
  ui.volumes.set(id, Number(slider.value));
  applyVolume(id);
});

el.participantList.addEventListener('click', (ev) => {
  const button = ev.target.closest('button[data-action]');
  if (button?.dataset.action === 'reconnect') {
    const peerId = button.closest('[data-peer-id]')?.dataset.peerId;
    if (peerId) peers.restartPair(peerId);
    return;
  }
  const id = button?.closest('[data-dispatch-id]')?.dataset.dispatchId;
  const d = id && store.getState().bots.find((x) => x.dispatch_id === id);
  if (!d) return;
  const busyKey = `bot:${d.dispatch_id}`;
  if (button.dataset.action === 'retry') {
    run('add_bot', () => connection.addBot(d.kind, { key: d.key }), busyKey);
    return;
  }
  run('remove_bot', async () => {
    await connection.removeBot(d.dispatch_id);
    // The row went away with the focus in it: keep the focus in the people card.
    if (document.activeElement === document.body) el.addBot.focus();
  }, busyKey);
});

// ---- devices: microphone, camera and speaker, and a check of the microphone's level ----

function canChooseSpeaker() {
  return typeof HTMLMediaElement !== 'undefined' && 'setSinkId' in HTMLMediaElement.prototype;
}

async function refreshDeviceList() {
  try {
    ui.deviceList = await peers.listDevices();
  } catch {
    ui.deviceList = { audioinput: [], videoinput: [], audiooutput: [] };
  }
  render();
}

// Captures the chosen microphone only to show its level, while the call does not use one.
async function startPreview() {
  stopPreview();
  if (peers.localStream?.getAudioTracks().length) {
    await refreshDeviceList(); // the call's own meter shows the level
    return;
  }
  const token = {};
  ui.preview = { token, stream: null };
  try {
    const want = ui.devicePrefs.audio ? { deviceId: ui.devicePrefs.audio } : true;
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: want, video: false });
    } catch (e) {
      throw mediaError(e);
    }
    if (ui.preview?.token !== token || !ui.devicesOpen) {
      for (const t of stream.getTracks()) t.stop();
      return;
    }
    ui.preview.stream = stream;
    ui.deviceError = null;
  } catch (e) {
    if (ui.preview?.token === token) ui.preview = null;
    ui.deviceError = describeError({ code: e.code || 'media_failed', message: e.message, context: 'devices' });
  }
  await refreshDeviceList(); // names are there once the page may capture
}

function stopPreview() {
  for (const t of ui.preview?.stream?.getTracks() || []) t.stop();
  ui.preview = null;
}

function openDevices() {
  ui.devicesOpen = true;
  ui.deviceError = null;
  render();
  startPreview();
}

function closeDevices() {
  if (!ui.devicesOpen) return;
  ui.devicesOpen = false;
  stopPreview();
  render();
}

for (const toggle of [el.checkDevices, el.devicesToggle]) {
  toggle.addEventListener('click', () => (ui.devicesOpen ? closeDevices() : openDevices()));
}

el.micSelect.addEventListener('change', () => {
  const id = el.micSelect.value || null;
  ui.devicePrefs.audio = id;
  saveDevicePrefs();
  if (peers.localStream?.getAudioTracks().length) {
    run('devices', () => peers.useDevice('audio', id).catch((e) => {
      ui.deviceError = describeError({ code: e.code, message: e.message, context: 'devices' });
      render();
    }));
  } else {
    peers.setPreferredDevices({ audio: id });
    startPreview();
  }
});

el.cameraSelect.addEventListener('change', () => {
  const id = el.cameraSelect.value || null;
  ui.devicePrefs.video = id;
  saveDevicePrefs();
  run('devices', () => peers.useDevice('video', id).catch((e) => {
    ui.deviceError = describeError({ code: e.code, message: e.message, context: 'camera' });
    render();
  }));
});

el.speakerSelect.addEventListener('change', () => {
  ui.devicePrefs.speaker = el.speakerSelect.value || null;
  saveDevicePrefs();
  for (const a of el.audioSink.querySelectorAll('audio')) applySpeaker(a);
});

function applySpeaker(audio) {
  if (!canChooseSpeaker()) return;
  const id = ui.devicePrefs.speaker || '';
  if (audio.sinkId !== id) {
    audio.setSinkId(id).catch((e) => {
      ui.deviceError = `The speaker could not be used (${e.message}). The default one plays the call.`;
      render();
    });
  }
}

navigator.mediaDevices?.addEventListener?.('devicechange', () => {
  if (ui.devicesOpen) refreshDeviceList();
});

// The id of the device a track captures from, or null.
function trackDevice(stream, kind) {
  const t = (kind === 'audio' ? stream?.getAudioTracks() : stream?.getVideoTracks())?.[0];
  return t?.getSettings?.().deviceId || null;
}

function fillSelect(select, devices, current, noun) {
  const options = devices.map((d, i) => [d.deviceId, d.label || `${noun} ${i + 1}`]);
  if (options.length === 0) options.push(['', `No ${noun.toLowerCase()} found`]);
  const key = JSON.stringify(options);
  if (select.dataset.options !== key) {
    select.dataset.options = key;
    select.replaceChildren(...options.map(([value, label]) => h('option', { value }, label)));
  }
  const want = options.some(([v]) => v === current) ? current : options[0][0];
  if (select.value !== want && document.activeElement !== select) select.value = want;
  select.disabled = devices.length === 0;
}

function renderDevices(s) {
  const view = currentView(s);
  const slot = view === 'lobby' ? el.devicesSlotLobby : view === 'lobbies' ? el.devicesSlotLobbies : null;
  if (!slot && ui.devicesOpen) {
    ui.devicesOpen = false;
    stopPreview();
  }
  if (slot && el.devices.parentElement !== slot) slot.append(el.devices);
  show(el.devices, ui.devicesOpen && !!slot);
  for (const toggle of [el.checkDevices, el.devicesToggle]) {
    toggle.setAttribute('aria-expanded', String(ui.devicesOpen));
  }
  setText(el.devicesToggle, ui.devicesOpen ? 'Close devices' : 'Devices');
  setText(el.checkDevices, ui.devicesOpen ? 'Close the check' : 'Check microphone and camera');
  if (!ui.devicesOpen) return;
  const list = ui.deviceList;
  fillSelect(el.micSelect, list.audioinput,
    trackDevice(s.media.stream, 'audio') || trackDevice(ui.preview?.stream, 'audio') || ui.devicePrefs.audio, 'Microphone');
  fillSelect(el.cameraSelect, list.videoinput, trackDevice(s.media.stream, 'video') || ui.devicePrefs.video, 'Camera');
  const speakers = canChooseSpeaker() ? list.audiooutput : [];
  show(el.speakerField, speakers.length > 0);
  if (speakers.length) fillSelect(el.speakerSelect, speakers, ui.devicePrefs.speaker || 'default', 'Speaker');
  el.deviceError.hidden = !ui.deviceError;
  setText(el.deviceError, ui.deviceError || '');
}

el.errorDismiss.addEventListener('click', () => store.setError(null));
el.noticeDismiss.addEventListener('click', () => store.setNotice(null));
el.retryNow.addEventListener('click', () => connection.retryNow());
el.stoppedAction.addEventListener('click', () => {
  const reason = store.getState().connection.stopReason;
  if (reason === 'kicked') connection.newSession();
  else connection.connect();
});

// ---- rendering ---------------------------------------------------------------------------

// Keyed list update: keeps existing elements (and their focus, media, scroll) in place.
function reconcile(container, items, keyOf, create, update) {
  const existing = new Map();
  for (const child of container.children) existing.set(child.dataset.key, child);
  let prev = null;
  for (const item of items) {
    const key = String(keyOf(item));
    let node = existing.get(key);
    if (node) existing.delete(key);
    else {
      node = create(item);
      node.dataset.key = key;
    }
    update(node, item);
    const want = prev ? prev.nextSibling : container.firstChild;
    if (node !== want) container.insertBefore(node, want);
    prev = node;
  }
  for (const node of existing.values()) node.remove();
}

function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

function show(node, visible) {
  if (node.hidden === visible) node.hidden = !visible;
}

function hue(id) {
  let x = 0;
  for (const ch of id) x = (x * 31 + ch.charCodeAt(0)) % 360;
  return x;
}

const ICONS = {
  mic: '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M12 14a3 3 0 0 0 3-3V5a3 3 0 0 0-6 0v6a3 3 0 0 0 3 3zm5-3a5 5 0 0 1-10 0H5a7 7 0 0 0 6 6.9V21h2v-3.1a7 7 0 0 0 6-6.9h-2z"/></svg>',
  micOff: '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M19 11h-2c0 .7-.2 1.4-.5 2l1.5 1.5A7 7 0 0 0 19 11zm-4 .2V5a3 3 0 0 0-5.9-.8L15 10v1.2zM4.3 3 3 4.3l6 6V11a3 3 0 0 0 4.5 2.6l1.6 1.6A5 5 0 0 1 7 11H5a7 7 0 0 0 6 6.9V21h2v-3.1c1-.1 1.9-.5 2.7-1l3.9 4L21 19.7 4.3 3z"/></svg>',
  bot: '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M11 2h2v3h4a3 3 0 0 1 3 3v9a3 3 0 0 1-3 3H7a3 3 0 0 1-3-3V8a3 3 0 0 1 3-3h4V2zM9 10.5a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3zm6 0a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3zM8 16v1.5h8V16H8zM1 10h2v5H1v-5zm20 0h2v5h-2v-5z"/></svg>',
  cam: '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M17 10.5V7a1 1 0 0 0-1-1H4a1 1 0 0 0-1 1v10a1 1 0 0 0 1 1h12a1 1 0 0 0 1-1v-3.5l4 4v-11l-4 4z"/></svg>',
};

const PAIR_TEXT = {
  new: 'waiting', connecting: 'connecting…', connected: 'connected',
  disconnected: 'interrupted', failed: 'failed', closed: 'closed',
};

function formatTime(ms) {
  const d = new Date(ms);
  return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

function renderStatus(s) {
  const c = s.connection;
  let label;
  let state = c.state;
  if (c.stopReason === 'replaced') {
    label = 'Open in another tab';
    state = 'stopped';
  } else if (c.stopReason === 'kicked') {
    label = 'Removed';
    state = 'stopped';
  } else if (c.state === ConnectionState.CONNECTED) {
    label = c.restoring ? 'Restoring…' : 'Connected';
  } else if (c.state === ConnectionState.CONNECTING) {
    label = 'Connecting…';
  } else if (c.state === ConnectionState.RECONNECTING) {
    // One steady label for the whole outage: a countdown that restarts with every attempt
    // reads as flicker, not information.
    label = 'Reconnecting…';
  } else {
    label = 'Offline';
  }
  el.status.dataset.state = state;
  el.status.dataset.connectionState = c.state;
  setText(el.statusLabel, label);
  // Shown for the whole outage (during an attempt it does nothing), so it does not blink.
  show(el.retryNow, c.state === ConnectionState.RECONNECTING);

  const stopped = c.stopReason === 'replaced' || c.stopReason === 'kicked';
  show(el.stopped, stopped);
  if (stopped) {
    el.stopped.dataset.reason = c.stopReason;
    setText(el.stoppedText, c.stopReason === 'replaced'
      ? 'This session is now open in another tab or window, so this one stepped aside.'
      : 'An admin removed your session.');
    setText(el.stoppedAction, c.stopReason === 'replaced' ? 'Use it here' : 'Start again');
  }
}

// Errors and notices go away by themselves after a while (or with their close button).
const bannerTimers = { error: 0, notice: 0 };
function expire(kind, item, clear) {
  if (!item || bannerTimers[kind] === item.at) return;
  bannerTimers[kind] = item.at;
  setTimeout(() => {
    if (store.getState()[kind]?.at === item.at) clear();
  }, BANNER_SHOW_MS);
}

function renderBanners(s) {
  const e = s.error;
  show(el.error, !!e);
  if (e) {
    el.error.dataset.code = e.code;
    setText(el.errorText, describeError(e));
  }
  expire('error', e, () => store.setError(null));
  show(el.notice, !!s.notice);
  if (s.notice) setText(el.noticeText, s.notice.text);
  expire('notice', s.notice, () => store.setNotice(null));
}

function currentView(s) {
  if (!s.session) return s.connection.stopReason ? 'none' : 'connecting';
  if (s.lobby && !ui.editingName) return 'lobby';
  if ((!s.session.name && !s.connection.restoring) || ui.editingName) return 'name';
  if (!s.session.name) return 'connecting';
  return 'lobbies';
}

let lastView = null;
function renderViews(s) {
  const view = currentView(s);
  show(el.connectingView, view === 'connecting');
  show(el.nameView, view === 'name');
  show(el.lobbiesView, view === 'lobbies');
  show(el.lobbyView, view === 'lobby');
  setText(el.connectingText, s.connection.state === ConnectionState.RECONNECTING
    ? 'Cannot reach the server yet. Trying again…' : 'Connecting to the server…');
  if (view !== lastView) {
    const from = lastView;
    lastView = view;
    if (view === 'name') {
      if (!el.nameInput.value) {
        try {
          el.nameInput.value = localStorage.getItem(NAME_KEY) || '';
        } catch {
          // no stored name
        }
      }
      if (from !== null) el.nameInput.focus();
    }
    if (view === 'lobbies') refreshLobbies();
    else if (from === 'lobbies') stopWatchingLobbies();
    if (view === 'lobby') {
      el.chatList.scrollTop = el.chatList.scrollHeight;
      refreshBotKinds();
    }
    if (from === 'lobby') ui.botMenuOpen = false;
  }
  show(el.me, !!s.session?.name);
  setText(el.myName, s.session?.name || '');
  el.myName.title = s.session?.nameProtected ? 'Protected by a password' : '';
  el.myName.classList.toggle('protected', !!s.session?.nameProtected);
  show(el.nameCancel, ui.editingName && !!s.session?.name);
  const limits = s.session?.limits;
  if (limits?.max_name_chars) el.nameInput.maxLength = limits.max_name_chars;
  if (limits?.max_lobby_name_chars) el.lobbyNameInput.maxLength = limits.max_lobby_name_chars;
}

function renderLobbies(s) {
  const online = s.connection.state === ConnectionState.CONNECTED;
  reconcile(el.lobbyList, s.lobbies, (l) => l.id, (l) => {
    const li = h('li', { class: 'lobby-item', 'data-testid': 'lobby-item' });
    const info = h('div', { class: 'lobby-info' },
      h('span', { class: 'lobby-name' }), h('span', { class: 'lobby-meta' }));
    const button = h('button', { type: 'button', 'data-testid': 'join-lobby', 'data-lobby-id': l.id, text: 'Join' });
    li.append(info, button);
    return li;
  }, (li, l) => {
    li.dataset.lobbyId = l.id;
    li.dataset.lobbyName = l.name;
    setText(li.querySelector('.lobby-name'), l.name);
    const n = l.participants;
    setText(li.querySelector('.lobby-meta'),
      `${n} ${n === 1 ? 'person' : 'people'}${n >= l.max_participants ? ' · full' : ''}`);
    const button = li.querySelector('button');
    button.setAttribute('aria-label', `Join ${l.name}`);
    button.disabled = !online || !!s.busy.join || n >= l.max_participants;
  });
  show(el.noLobbies, s.lobbies.length === 0);
}

// Buttons that need the server are disabled while offline or while their request runs.
function renderButtons(s) {
  const online = s.connection.state === ConnectionState.CONNECTED;
  el.createForm.querySelector('button').disabled = !online || !!s.busy.create || !!s.busy.join;
  el.joinIdForm.querySelector('button').disabled = !online || !!s.busy.join;
  el.nameForm.querySelector('[data-testid="set-name"]').disabled = !online || !!s.busy.set_name;
  el.refreshLobbies.disabled = !online;
  el.chatForm.querySelector('button').disabled = !online || !!s.busy.chat;
  show(el.chatOffline, !!s.lobby && !online);
}

// The outage banner while the page is away from the server in a lobby, and a short
// "Reconnected" note when it is back.
const RECONNECTED_NOTE_MS = 4000;
const outage = { active: false, noteUntil: 0 };
function renderOutage(s) {
  const away = !!s.lobby && s.connection.state === ConnectionState.RECONNECTING;
  if (outage.active && !away && s.connection.state === ConnectionState.CONNECTED) {
    outage.noteUntil = Date.now() + RECONNECTED_NOTE_MS;
    setTimeout(render, RECONNECTED_NOTE_MS + 50);
  }
  outage.active = away;
  show(el.outage, away);
  show(el.reconnected, !away && !!s.lobby && Date.now() < outage.noteUntil);
}

function renderLobby(s) {
  renderOutage(s);
  if (!s.lobby) return;
  const online = s.connection.state === ConnectionState.CONNECTED;
  setText(el.lobbyTitle, s.lobby.name);
  el.lobbyView.dataset.lobbyId = s.lobby.id;
  show(el.lobbyPrivate, !!s.lobby.private);
  setText(el.lobbyId, s.lobby.id);

  const m = s.media;
  show(el.shareMedia, !m.sharing);
  show(el.mute, m.sharing);
  show(el.camera, m.sharing);
  show(el.stopMedia, m.sharing);
  show(el.screen, m.sharing && !!navigator.mediaDevices?.getDisplayMedia);
  el.screen.disabled = !!s.busy.screen;
  el.screen.setAttribute('aria-pressed', String(!!m.screen));
  setText(el.screen, m.screen ? 'Stop presenting' : 'Share screen');
  el.shareMedia.disabled = !online || !!s.busy.media;
  el.stopMedia.disabled = !!s.busy.media;
  el.mute.disabled = !!s.busy.mute;
  // Without a captured microphone the button tries to capture it again.
  el.mute.setAttribute('aria-pressed', String(m.audio && m.audioMuted));
  setText(el.mute, !m.audio ? 'Turn microphone on' : m.audioMuted ? 'Unmute' : 'Mute');
  el.mute.classList.toggle('active', m.audio && m.audioMuted);
  el.camera.disabled = !!s.busy.camera;
  el.camera.setAttribute('aria-pressed', String(m.video));
  setText(el.camera, m.video ? 'Turn camera off' : 'Turn camera on');
  el.leave.disabled = !!s.busy.leave;

  const rows = peopleRows(s);
  setText(el.peopleCount, String(rows.length));
  reconcile(el.participantList, rows, (r) => r.key, () => {
    const li = h('li', { class: 'participant' });
    li.innerHTML = '<span class="avatar" aria-hidden="true"></span>'
      + '<div class="p-main"><div class="p-name"><span class="p-label"></span>'
      + '<span class="badge bot" data-testid="bot-badge" hidden>bot</span>'
      + '<span class="you" hidden>you</span></div><div class="p-sub"></div>'
      + '<button type="button" class="link" data-action="reconnect" data-testid="pair-retry" hidden>Reconnect</button>'
      + '<div class="p-bot" hidden><span class="bot-state" data-testid="bot-state"></span>'
      + '<button type="button" class="link" data-action="retry" data-testid="bot-retry">Try again</button>'
      + '<button type="button" class="link danger" data-action="remove" data-testid="bot-remove">Remove</button>'
      + '</div></div>'
      + '<span class="level" aria-hidden="true"><span class="level-bar"></span></span>'
      + '<input type="range" class="p-volume" data-testid="volume" min="0" max="100" step="5" hidden>'
      + '<span class="p-mic"></span><span class="pair" data-testid="pair-state"></span>';
    return li;
  }, (li, { p, d }) => updatePersonRow(li, p, d, s));

  renderBotControl(s);
  renderChat(s);
}

// The people list: people in join order, then bots. A bot added with add_bot has its row
// from the moment it is added (waiting, starting, failed), holding its bot's participant
// entry once the bot is in the lobby, so the row and a focused button in it stay put through
// every state. Rows: {key, p: Participant or null, d: Dispatch or null}.
function peopleRows(s) {
  const present = new Map(s.participants.map((p) => [p.peer_id, p]));
  const dispatched = new Set(s.bots.map((d) => d.bot_peer_id).filter((id) => id && present.has(id)));
  const people = [];
  const otherBots = [];
  for (const p of s.participants) {
    if (dispatched.has(p.peer_id)) continue;
    (p.is_bot ? otherBots : people).push({ key: p.peer_id, p, d: null });
  }
  const bots = s.bots.map((d) => ({ key: `bot:${d.dispatch_id}`, p: present.get(d.bot_peer_id) || null, d }));
  return [...people, ...otherBots, ...bots];
}

function setData(node, name, value) {
  if (value === undefined || value === null) delete node.dataset[name];
  else if (node.dataset[name] !== value) node.dataset[name] = value;
}

// One row of the people list: participant p (or null: a bot not in the lobby yet or any
// more) and its bot dispatch d (or null).
function updatePersonRow(li, p, d, s) {
  const online = s.connection.state === ConnectionState.CONNECTED;
  const me = s.session?.peerId;
  const isMe = !!p && p.peer_id === me;
  const isBot = !!d || !!p?.is_bot;
  const name = p ? p.name || '(no name)' : d.kind;
  li.setAttribute('data-testid', p ? 'participant' : 'bot-dispatch');
  setData(li, 'bot', String(isBot));

  let pairState = 'none';
  if (isMe) pairState = 'self';
  else if (p && p.has_media && s.media.sharing) pairState = s.peers[p.peer_id]?.connectionState || 'new';
  setData(li, 'peerId', p?.peer_id);
  setData(li, 'name', p?.name);
  setData(li, 'online', p ? String(p.connected !== false) : undefined);
  setData(li, 'connectionState', p ? pairState : undefined);
  // Your own row shows what you chose, at once and while offline too; the server's flags
  // for you catch up once it hears of it.
  const mine = isMe && s.media.sharing;
  const audioMuted = mine ? !!s.media.audioMuted : !!p?.audio_muted;
  const cameraOn = mine ? !!s.media.video : p?.video_muted === false;
  setData(li, 'hasMedia', p ? String(!!p.has_media) : undefined);
  setData(li, 'audioMuted', p ? String(audioMuted) : undefined);
  setData(li, 'dispatchId', d?.dispatch_id);
  setData(li, 'botKind', d?.kind);
  setData(li, 'botState', d?.state);
  li.classList.toggle('away', !!p && p.connected === false);
  li.classList.toggle('is-me', isMe);
  li.classList.toggle('is-bot', isBot);
  li.classList.toggle('not-in-lobby', !p);

  // Bots are drawn as audio-only: a robot face, never a camera, whatever their flags say.
  const avatar = li.querySelector('.avatar');
  const look = isBot ? 'bot' : 'letter';
  if (avatar.dataset.look !== look) {
    avatar.dataset.look = look;
    avatar.textContent = '';
    if (isBot) avatar.innerHTML = ICONS.bot;
  }
  if (!isBot) setText(avatar, (name || '?').trim().charAt(0).toUpperCase() || '?');
  avatar.style.setProperty('--h', hue(d ? d.dispatch_id : p.peer_id)); // a bot keeps its colour
  setText(li.querySelector('.p-label'), name);
  show(li.querySelector('.bot'), isBot);
  show(li.querySelector('.you'), isMe);

  let sub = '';
  if (p) {
    if (p.connected === false) sub = 'reconnecting…';
    else if (!p.has_media) sub = 'chat only';
    else if (audioMuted) sub = 'muted';
    else sub = isBot ? 'audio only' : 'microphone on';
    if (!isBot && p.has_media && cameraOn) sub += ' · camera on';
    if (p.has_media && (mine ? !!s.media.screen : !!p.screen_sharing)) sub += ' · sharing screen';
  }
  const subEl = li.querySelector('.p-sub');
  setText(subEl, sub);
  show(subEl, !!sub);

  const botEl = li.querySelector('.p-bot');
  show(botEl, !!d);
  if (d) {
    const stateEl = botEl.querySelector('.bot-state');
    setData(stateEl, 'state', d.state);
    setData(stateEl, 'reason', d.reason || '');
    setText(stateEl, botStateText(d));
    const busy = !online || !!s.busy[`bot:${d.dispatch_id}`];
    const retry = botEl.querySelector('[data-action="retry"]');
    show(retry, d.state === 'failed');
    retry.disabled = busy;
    retry.setAttribute('aria-label', `Try ${name} again`);
    const remove = botEl.querySelector('[data-action="remove"]');
    remove.disabled = busy;
    remove.setAttribute('aria-label', `Remove ${name}`);
  }

  // Playback volume, for the others who send media.
  const volume = li.querySelector('.p-volume');
  const hasVolume = !!p && !isMe && !!p.has_media;
  show(volume, hasVolume);
  if (hasVolume) {
    volume.setAttribute('aria-label', `Volume for ${name}`);
    const v = String(ui.volumes.get(p.peer_id) ?? 100);
    if (volume.value !== v && document.activeElement !== volume) volume.value = v;
  }

  const mic = li.querySelector('.p-mic');
  const micState = !p?.has_media ? '' : (audioMuted ? 'off' : 'on');
  if (mic.dataset.state !== micState) {
    mic.dataset.state = micState;
    mic.innerHTML = micState === 'on' ? ICONS.mic : micState === 'off' ? ICONS.micOff : '';
    if (micState) {
      mic.setAttribute('role', 'img');
      mic.setAttribute('aria-label', micState === 'on' ? 'microphone on' : 'muted');
    } else {
      mic.removeAttribute('role');
      mic.removeAttribute('aria-label');
    }
  }
  const pairEl = li.querySelector('.pair');
  pairEl.dataset.state = pairState;
  const showPair = pairState !== 'self' && pairState !== 'none';
  pairEl.hidden = !showPair;
  setText(pairEl, showPair ? PAIR_TEXT[pairState] || pairState : '');
  pairEl.title = showPair ? `Media link: ${pairState}` : '';
  // A failed link is tried again by itself every few seconds; the button tries it now.
  const retryPair = li.querySelector('[data-action="reconnect"]');
  show(retryPair, pairState === 'failed');
  retryPair.setAttribute('aria-label', `Reconnect audio and video with ${name}`);
}

// The "Add a bot" button and its menu. With no bot to add, the button stays focusable but
// aria-disabled, described by the sentence that says why; pressing it asks the server again.
function renderBotControl(s) {
  const online = s.connection.state === ConnectionState.CONNECTED;
  const reason = noBotReason(s.botKinds);
  if (ui.botMenuOpen && (reason || !online)) {
    const hadFocus = el.botMenu.contains(document.activeElement);
    ui.botMenuOpen = false;
    show(el.botMenu, false);
    if (hadFocus) el.addBot.focus();
  }
  el.addBot.disabled = !online;
  el.addBot.setAttribute('aria-disabled', String(!!reason));
  el.addBot.setAttribute('aria-busy', String(!!s.busy.bot_kinds));
  el.addBot.setAttribute('aria-expanded', String(ui.botMenuOpen));
  if (reason) el.addBot.setAttribute('aria-describedby', 'add-bot-note');
  else el.addBot.removeAttribute('aria-describedby');
  setText(el.addBotNote, reason || '');
  show(el.addBotNote, !!reason);
  show(el.botMenu, ui.botMenuOpen);
  reconcile(el.botMenu, s.botKinds || [], (k) => k.kind, (k) => {
    // Kinds are 1-32 of a-z 0-9 _ - (docs/bots.md), so they make valid ids.
    const li = h('li', { role: 'menuitem', tabindex: '-1', 'data-testid': 'bot-kind',
      'aria-labelledby': `bot-kind-${k.kind}`, 'aria-describedby': `bot-kind-${k.kind}-about` });
    li.append(h('span', { class: 'k-name', id: `bot-kind-${k.kind}` }),
      h('span', { class: 'k-about', id: `bot-kind-${k.kind}-about` }));
    return li;
  }, (li, k) => {
    setData(li, 'kind', k.kind);
    setData(li, 'available', String(!!k.available));
    li.setAttribute('aria-disabled', String(!k.available));
    setText(li.querySelector('.k-name'), k.kind);
    const about = k.description || 'No description.';
    setText(li.querySelector('.k-about'), k.available ? about : `${about} (Busy: every bot host for it is full.)`);
  });
}

// Says bot changes in the polite live region: "assistant: Running." Changes only, not the
// bots a lobby already had when it was shown.
function announceBots(s) {
  const lobbyId = s.lobby?.id ?? null;
  const now = new Map(s.bots.map((d) => {
    const p = d.bot_peer_id && s.participants.find((x) => x.peer_id === d.bot_peer_id);
    const name = p?.name || d.kind;
    return [d.dispatch_id, { name, said: `${name}: ${botStateText(d)}.` }];
  }));
  if (ui.botLobby === lobbyId) {
    const lines = [];
    for (const [id, b] of now) if (ui.botSaid.get(id)?.said !== b.said) lines.push(b.said);
    for (const [id, b] of ui.botSaid) if (!now.has(id)) lines.push(`${b.name} was removed.`);
    if (lines.length) setText(el.botAnnouncer, lines.join(' '));
  }
  ui.botLobby = lobbyId;
  ui.botSaid = now;
}


function renderChat(s) {
  const list = el.chatList;
  const nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 48;
  const me = s.session?.peerId;
  const items = s.historyComplete ? s.chat : [{ offset: 0, gapNote: true }, ...s.chat];
  const before = list.children.length;
  reconcile(list, items, (m) => m.offset, (m) => {
    if (m.gapNote) {
      return h('li', { class: 'gap-note', text: 'Older messages are no longer kept.' });
    }
    const li = h('li', { class: 'message', 'data-testid': 'chat-message' });
    li.innerHTML = '<div class="m-head"><span class="m-sender"></span><time class="m-time"></time></div>'
      + '<p class="m-text"></p>';
    return li;
  }, (li, m) => {
    if (m.gapNote) return;
    li.dataset.offset = String(m.offset);
    li.dataset.sender = m.sender;
    // A notice from the server (system: true) is nobody's line: no sender, its own look.
    li.classList.toggle('system', m.system === true);
    li.classList.toggle('mine', !m.system && m.sender === me);
    setText(li.querySelector('.m-sender'),
      m.system ? 'Notice' : m.sender === me ? 'You' : m.sender_name || 'someone');
    const t = li.querySelector('.m-time');
    setText(t, formatTime(m.time_ms));
    t.dateTime = new Date(m.time_ms).toISOString();
    setText(li.querySelector('.m-text'), m.text);
  });
  if (list.children.length !== before && (nearBottom || before === 0)) {
    list.scrollTop = list.scrollHeight;
  }
  // The "no messages yet" placeholder is CSS on the empty list.
  list.classList.toggle('is-empty', s.chat.length === 0);
}

function applyVolume(id) {
  const audio = el.audioSink.querySelector(`audio[data-peer-id="${CSS.escape(id)}"]`);
  if (audio) audio.volume = (ui.volumes.get(id) ?? 100) / 100;
}

// ---- audio levels: a meter and a speaking ring per person (Web Audio) ----------------------

const SPEAKING_LEVEL = 0.08;
const PREVIEW_METER = ' check';  // the devices panel's meter (no peer id has a space)
const levels = { ctx: null, meters: new Map() };  // peer id -> {stream, source, analyser, data, level}

function audioContext() {
  if (!levels.ctx) levels.ctx = new AudioContext();
  if (levels.ctx.state === 'suspended') levels.ctx.resume().catch(() => {});
  return levels.ctx;
}

// A context made before the person touched the page starts suspended (autoplay rules).
document.addEventListener('pointerdown', () => {
  if (levels.ctx?.state === 'suspended') levels.ctx.resume().catch(() => {});
});

// One analyser per audio stream on the page: yours, and each peer's.
function syncMeters(s) {
  const wanted = new Map();
  const me = s.session?.peerId;
  if (me && s.media.sharing && s.media.stream?.getAudioTracks().length) wanted.set(me, s.media.stream);
  if (ui.preview?.stream) wanted.set(PREVIEW_METER, ui.preview.stream);
  else if (ui.devicesOpen && s.media.stream?.getAudioTracks().length) wanted.set(PREVIEW_METER, s.media.stream);
  for (const [id, pair] of Object.entries(s.peers)) {
    if (pair.stream?.getAudioTracks().length) wanted.set(id, pair.stream);
  }
  for (const [id, m] of levels.meters) {
    if (wanted.get(id) !== m.stream) {
      m.source.disconnect();
      levels.meters.delete(id);
    }
  }
  for (const [id, stream] of wanted) {
    if (levels.meters.has(id) || typeof AudioContext === 'undefined') continue;
    const ctx = audioContext();
    const source = ctx.createMediaStreamSource(stream);
    const analyser = ctx.createAnalyser();
    analyser.fftSize = 512;
    source.connect(analyser);
    levels.meters.set(id, { stream, source, analyser, data: new Float32Array(analyser.fftSize), level: 0 });
  }
}

// Ten times a second (a timer: animation frames stall in background tabs): the RMS of each
// stream's last 512 samples, rising at once and falling gently.
setInterval(() => {
  for (const [id, m] of levels.meters) {
    m.analyser.getFloatTimeDomainData(m.data);
    let sum = 0;
    for (const x of m.data) sum += x * x;
    const level = Math.min(1, Math.sqrt(sum / m.data.length) * 4);
    m.level = Math.max(level, m.level * 0.6);
    if (id === PREVIEW_METER) {
      el.micCheckLevel.style.setProperty('--level', m.level.toFixed(2));
      el.micCheckLevel.dataset.level = m.level.toFixed(2);
      continue;
    }
    const row = el.participantList.querySelector(`[data-testid="participant"][data-peer-id="${CSS.escape(id)}"]`);
    if (!row) continue;
    row.style.setProperty('--level', m.level.toFixed(2));
    row.dataset.level = m.level.toFixed(2);
    setData(row, 'speaking', String(m.level >= SPEAKING_LEVEL));
  }
}, 100);

function attach(media, stream) {
  if (media.srcObject !== stream) {
    media.srcObject = stream;
    media.play?.().catch(() => {});
  }
}

function renderMedia(s) {
  // One <audio> per remote pair that has a stream.
  const audible = Object.entries(s.peers).filter(([, p]) => p.stream);
  reconcile(el.audioSink, audible, ([id]) => id, ([id]) => {
    const a = h('audio', { 'data-peer-id': id });
    a.autoplay = true;
    return a;
  }, (a, [id, p]) => {
    attach(a, p.stream);
    a.volume = (ui.volumes.get(id) ?? 100) / 100;
    applySpeaker(a);
  });
  syncMeters(s);

  // Video tiles: shared screens first, then our camera preview and every participant whose
  // camera is on.
  const tiles = [];
  if (s.media.screen) tiles.push({ id: 'screen:self', name: 'Your screen', stream: s.media.screen, screen: true });
  const others = s.participants.filter((p) => p.peer_id !== s.session?.peerId && p.has_media);
  for (const p of others) {
    const screen = s.peers[p.peer_id]?.screen;
    if (p.screen_sharing && screen?.getVideoTracks().length) {
      tiles.push({ id: `screen:${p.peer_id}`, peerId: p.peer_id, name: `${p.name}'s screen`, stream: screen, screen: true });
    }
  }
  if (s.media.video && s.media.stream) {
    tiles.push({ id: 'self', name: 'You', stream: s.media.stream, self: true });
  }
  for (const p of others) {
    const pair = s.peers[p.peer_id];
    if (!p.is_bot && p.video_muted === false && pair?.stream && pair.stream.getVideoTracks().length) {
      tiles.push({ id: p.peer_id, peerId: p.peer_id, name: p.name, stream: pair.stream });
    }
  }
  reconcile(el.videos, tiles, (t) => t.id, (t) => {
    const fig = h('figure', { class: 'tile', 'data-testid': t.screen ? 'screen-tile' : 'video-tile' });
    if (t.peerId) fig.dataset.peerId = t.peerId;
    if (t.screen) fig.classList.add('screen');
    const v = h('video');
    v.autoplay = true;
    v.muted = true; // sound comes from the <audio> elements
    v.playsInline = true;
    fig.append(v, h('figcaption'));
    if (t.self) fig.classList.add('self');
    return fig;
  }, (fig, t) => {
    attach(fig.querySelector('video'), t.stream);
    setText(fig.querySelector('figcaption'), t.name);
  });
  show(el.videos, tiles.length > 0);
}

function render() {
  const s = store.getState();
  renderStatus(s);
  renderBanners(s);
  renderViews(s);
  renderButtons(s);
  renderLobbies(s);
  renderLobby(s);
  announceBots(s);
  renderDevices(s);
  renderMedia(s);
}

let renderQueued = false;
store.subscribe(() => {
  if (renderQueued) return;
  renderQueued = true;
  // A microtask, not requestAnimationFrame: background tabs would stall on the latter.
  queueMicrotask(() => {
    renderQueued = false;
    render();
  });
});

setInterval(() => {
  if (currentView(store.getState()) === 'lobby' && document.visibilityState !== 'hidden') refreshBotKinds();
}, BOT_KINDS_REFRESH_MS);

// A bot waiting for a host: the kinds on offer have likely changed too.
connection.on('bot_dispatch', (d) => {
  if (d.dispatch?.state === 'waiting') refreshBotKinds();
});

connection.on('welcome', () => {
  const s = store.getState();
  // The server may have restarted, or its bot hosts changed while we were away.
  if (currentView(s) === 'lobby') refreshBotKinds();
  if (ui.pendingInviteLobby && s.session?.name && !s.lobby && !connection.intent.lobbyId) {
    const id = ui.pendingInviteLobby;
    ui.pendingInviteLobby = null;
    // After restore has had its turn (it may be putting us back into a lobby already).
    setTimeout(() => {
      if (!store.getState().lobby) joinLobby(id);
    }, 0);
  }
});

render();
connection.connect();
