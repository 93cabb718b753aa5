// Shared pieces of the end-to-end tests: a real lobbykit-server per test (its own port, temp
// dir and SQLite database), headless Chromium with fake media devices (one browser per test,
// one browser context per page), and a small driver for the demo page in examples/web that
// acts only through its data-testid elements and reads window.lobbykit for WebRTC stats.
//
// Every wait has a deadline (page.waitForFunction, locator waits with the context's default
// timeout, or pollUntil). The only fixed pause is the interval between two getStats() samples
// (assertAudioFlowing), which is a measurement, not a wait for something to happen.

import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SERVER_BIN = process.env.LOBBYKIT_SERVER || path.join(REPO, 'build', 'lobbykit-server');
export const CHROMIUM = process.env.LOBBYKIT_CHROMIUM || '/usr/bin/chromium';
export const STATIC_DIR = path.join(REPO, 'examples', 'web');
export const ARTIFACTS = path.join(REPO, 'test-artifacts');

// Deadlines (ms). Generous for a loaded 2-core machine; a healthy run is far below them.
export const T = Object.freeze({
  serverStart: 10_000,
  processExit: 5_000,
  ui: 10_000,          // a click and the server's reply showing up in the page
  media: 20_000,       // peer connections reaching 'connected'
  reconnect: 30_000,   // pages back after a server restart (backoff is capped at 10 s)
  test: 120_000,       // a whole case
});

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
  '--allow-loopback-in-peer-connection',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

// Children still running when the test process exits (a crash or a kill of the runner) are
// stopped by PID; nothing else is touched.
const liveChildren = new Set();
process.on('exit', () => {
  for (const child of liveChildren) {
    try {
      process.kill(child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

function withDeadline(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// Calls async fn() every `interval` ms until it returns something truthy; fails at the deadline.
// For conditions that need an await inside the page (getStats), which waitForFunction cannot poll.
export async function pollUntil(fn, { timeout, interval = 200, what = 'condition' }) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() + interval > deadline) throw new Error(`timed out after ${timeout} ms: ${what}`);
    await delay(interval);
  }
}

// ---- the server ----------------------------------------------------------------------------

export class Server {
  // dir: the test's temp dir (holds e2e.db); args: extra flags such as --resume-grace-ms.
  constructor(dir, args = []) {
    this.dir = dir;
    this.db = path.join(dir, 'e2e.db');
    this.args = args;
    this.child = null;
    this.port = 0;       // kept across restarts: the pages reconnect to the same address
    this.url = null;
    this.log = [];
    this.starts = 0;
  }

  async start() {
    const args = ['--host', '127.0.0.1', '--port', String(this.port), '--db', this.db,
      '--static', STATIC_DIR, ...this.args];
    const n = ++this.starts;
    this.log.push(`---- start #${n}: ${SERVER_BIN} ${args.join(' ')}`);
    const child = spawn(SERVER_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    liveChildren.add(child);
    child.exitInfo = null;
    child.exited = once(child, 'exit').then(([code, signal]) => {
      child.exitInfo = { code, signal };
      liveChildren.delete(child);
      this.log.push(`---- start #${n} exited: code=${code} signal=${signal}`);
      return child.exitInfo;
    });
    readline.createInterface({ input: child.stderr }).on('line', (l) => this.log.push(`[err] ${l}`));
    const listening = new Promise((resolve, reject) => {
      child.once('error', reject);
      child.exited.then((info) => reject(new Error(
        `lobbykit-server exited before listening (${JSON.stringify(info)}):\n${this.log.slice(-20).join('\n')}`)));
      readline.createInterface({ input: child.stdout }).on('line', (l) => {
        this.log.push(`[out] ${l}`);
        const m = /lobbykit-server listening on http:\/\/([^\s/]+):(\d+)/.exec(l);
        if (m) resolve({ host: m[1], port: Number(m[2]) });
      });
    });
    const { host, port } = await withDeadline(listening, T.serverStart, 'lobbykit-server listening line');
    if (this.port) assert.equal(port, this.port, 'a restarted server listens on the same port');
    this.port = port;
    this.url = `http://${host}:${port}/`;
    return this;
  }

  get pid() {
    return this.child?.pid;
  }

  get running() {
    return !!this.child && !this.child.exitInfo;
  }

  // Sends `signal` to the server process (by its PID) and waits until it has exited.
  async kill(signal = 'SIGKILL') {
    const child = this.child;
    if (!child || child.exitInfo) return child?.exitInfo ?? null;
    process.kill(child.pid, signal);
    return withDeadline(child.exited, T.processExit, `lobbykit-server exit after ${signal}`);
  }

  // SIGTERM, then SIGKILL if it does not stop in time.
  async stop() {
    if (!this.running) return;
    try {
      await this.kill('SIGTERM');
    } catch {
      if (this.running) await this.kill('SIGKILL');
    }
  }
}

// ---- a bot provider ---------------------------------------------------------------------------

export const PYTHON = process.env.LOBBYKIT_PYTHON || '/usr/bin/python3';
export const PROVIDER_SCRIPT = path.join(REPO, 'tests', 'integration', 'provider_proc.py');

// tests/integration/provider_proc.py as a child process: it registers with the server as a
// bot provider and joins a bot (without media) to the lobby of every job it accepts. It
// prints one JSON object per line ({"event": "registered" | "offer" | "accepted" | "joined" |
// "cancel" | "closed", ...}), collected in `events`. mode 'ignore' leaves offers unanswered,
// 'decline' declines them.
// argv (with env) runs another provider program instead, e.g. examples/voicebot; start() then
// does not wait for a "registered" line (the caller waits on the server instead).
export class Provider {
  constructor(server, { key, kinds = ['assistant'], name = 'e2e-provider', mode = 'normal',
    argv = null, env = null }) {
    this.server = server;
    this.argv = argv;
    this.env = env;
    this.key = key;
    this.kinds = kinds;
    this.name = name;
    this.mode = mode;
    this.child = null;
    this.events = [];
    this.log = [];
    this._waiters = new Set();
  }

  async start() {
    const args = this.argv ?? [PROVIDER_SCRIPT, '--port', String(this.server.port), '--key', this.key,
      '--name', this.name, '--kinds', this.kinds.join(','), '--mode', this.mode];
    this.log.push(`---- ${PYTHON} ${args.join(' ')}`);
    const child = spawn(PYTHON, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: this.env ? { ...process.env, ...this.env } : process.env,
    });
    this.child = child;
    liveChildren.add(child);
    child.exitInfo = null;
    child.exited = once(child, 'exit').then(([code, signal]) => {
      child.exitInfo = { code, signal };
      liveChildren.delete(child);
      this.log.push(`---- exited: code=${code} signal=${signal}`);
      return child.exitInfo;
    });
    readline.createInterface({ input: child.stderr }).on('line', (l) => this.log.push(`[err] ${l}`));
    readline.createInterface({ input: child.stdout }).on('line', (l) => {
      this.log.push(`[out] ${l}`);
      let ev;
      try {
        ev = JSON.parse(l);
      } catch {
        return;
      }
      this.events.push(ev);
      for (const w of [...this._waiters]) w(ev);
    });
    if (!this.argv) await this.waitEvent((e) => e.event === 'registered', { what: 'provider registered' });
    return this;
  }

  // Resolves with the first event (seen already or to come) for which pred(event) is true.
  waitEvent(pred, { timeout = T.ui, what = 'provider event' } = {}) {
    const seen = this.events.find(pred);
    if (seen) return Promise.resolve(seen);
    let waiter;
    const found = new Promise((resolve, reject) => {
      waiter = (ev) => {
        if (pred(ev)) resolve(ev);
      };
      this._waiters.add(waiter);
      this.child.exited.then((info) => reject(new Error(
        `the provider exited (${JSON.stringify(info)}) while waiting for ${what}:\n${this.log.slice(-20).join('\n')}`)));
    });
    return withDeadline(found, timeout, what).finally(() => this._waiters.delete(waiter));
  }

  get pid() {
    return this.child?.pid;
  }

  get running() {
    return !!this.child && !this.child.exitInfo;
  }

  // Sends `signal` to the provider process (by its PID) and waits until it has exited.
  async kill(signal = 'SIGKILL') {
    const child = this.child;
    if (!child || child.exitInfo) return child?.exitInfo ?? null;
    process.kill(child.pid, signal);
    return withDeadline(child.exited, T.processExit, `provider exit after ${signal}`);
  }

  async stop() {
    if (!this.running) return;
    try {
      await this.kill('SIGTERM');
    } catch {
      if (this.running) await this.kill('SIGKILL');
    }
  }
}

// ---- the harness of one test ----------------------------------------------------------------

// Starts a server and a browser for one test, and cleans both up after it (t.after).
// chromiumArgs: extra flags for this test's browser (e.g. a WAV file as the microphone).
// browserPerPage: each page gets a browser of its own, as people in a call have. Pages of one
// browser share its audio processing: its echo canceller hears every page's playback and
// takes one page's fake microphone beep, played by the other page, for echo, so the levels
// the pages see depend on how the two beeps happen to line up.
// A WAV in which espeak-ng speaks `text` (examples/voicebot/make_wav.sh), for Chromium's
// --use-file-for-fake-audio-capture, which loops it; `lead` and `tail` are the seconds of
// silence before and after the phrase (the script's defaults when left out). The file goes
// when the test ends.
export async function speechWav(t, text, { lead, tail } = {}) {
  const dir = await mkdtemp(path.join(tmpdir(), 'lobbykit-speech-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const wav = path.join(dir, 'speech.wav');
  const args = [wav, text];
  if (lead !== undefined || tail !== undefined) args.push(String(lead ?? 1), String(tail ?? 3));
  execFileSync(path.join(REPO, 'examples', 'voicebot', 'make_wav.sh'), args);
  return wav;
}

export async function setup(t, { name, serverArgs = [], chromiumArgs = [], browserPerPage = false } = {}) {
  const h = new Harness(t, name || t.name, serverArgs, chromiumArgs, browserPerPage);
  t.after(() => h.cleanup());
  await h.init();
  return h;
}

class Harness {
  constructor(t, name, serverArgs, chromiumArgs = [], browserPerPage = false) {
    this.t = t;
    this.chromiumArgs = chromiumArgs;
    this.browserPerPage = browserPerPage;
    this.browsers = [];
    this.name = name.replace(/[^a-z0-9]+/gi, '-').replace(/^-|-$/g, '').toLowerCase();
    this.serverArgs = serverArgs;
    this.pages = [];
    this.providers = [];
  }

  async init() {
    this.dir = await mkdtemp(path.join(tmpdir(), 'lobbykit-e2e-'));
    this.server = await new Server(this.dir, this.serverArgs).start();
    this.browser = await this.launchBrowser();
  }

  // denyMedia: a browser that refuses the page's microphone and camera, as when a person
  // says no to the prompt (no fake prompt that says yes, and every prompt denied).
  // noDevices: a browser that allows capture but has no microphone or camera (no fake ones).
  async launchBrowser({ denyMedia = false, noDevices = false } = {}) {
    let args = [...CHROMIUM_ARGS, ...this.chromiumArgs];
    if (denyMedia) args = [...args.filter((a) => a !== '--use-fake-ui-for-media-stream'), '--deny-permission-prompts'];
    if (noDevices) args = args.filter((a) => a !== '--use-fake-device-for-media-stream');
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args,
    });
    this.browsers.push(browser);
    return browser;
  }

  get url() {
    return this.server.url;
  }

  // Starts a bot provider process against this test's server (stopped in cleanup).
  async startProvider(options) {
    const p = new Provider(this.server, options);
    this.providers.push(p);
    return p.start();
  }

  // A new page in its own browser context (its own localStorage, so its own session).
  // denyMedia / noDevices: in a browser of its own that refuses the microphone and camera, or
  // has none (see launchBrowser).
  async openPage(label, { denyMedia = false, noDevices = false } = {}) {
    const browser = denyMedia || noDevices ? await this.launchBrowser({ denyMedia, noDevices })
      : this.browserPerPage && this.pages.length > 0 ? await this.launchBrowser() : this.browser;
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    context.setDefaultTimeout(T.ui); // every locator action and wait has this deadline
    const page = await context.newPage();
    const client = new DemoPage(this, label, context, page);
    this.pages.push(client);
    await page.goto(this.url, { timeout: T.ui });
    // Every error the store ever holds, even one whose banner went away by itself.
    await page.evaluate(() => {
      window.__e2eErrors = [];
      window.lobbykit.store.subscribe((s, prev) => {
        if (s.error && s.error !== prev.error) {
          window.__e2eErrors.push({ code: s.error.code, message: s.error.message, context: s.error.context });
        }
      });
    });
    return client;
  }

  async cleanup() {
    for (const browser of this.browsers) {
      try {
        await browser.close();
      } catch {
        // the browser is gone already
      }
    }
    for (const p of this.providers) await p.stop();
    await this.server?.stop();
    try {
      const logDir = path.join(ARTIFACTS, 'e2e-logs', this.name);
      await mkdir(logDir, { recursive: true });
      await writeFile(path.join(logDir, 'server.log'), `${this.server?.log.join('\n') ?? ''}\n`);
      for (const p of this.pages) {
        await writeFile(path.join(logDir, `page-${p.label}.log`), `${p.log.join('\n')}\n`);
      }
      for (const [i, p] of this.providers.entries()) {
        await writeFile(path.join(logDir, `provider-${i + 1}.log`), `${p.log.join('\n')}\n`);
      }
    } catch (e) {
      this.t.diagnostic(`could not write logs: ${e.message}`);
    }
    if (this.dir) await rm(this.dir, { recursive: true, force: true });
  }
}

// ---- the demo page -------------------------------------------------------------------------

// Drives examples/web/index.html + app.js through its data-testid attributes.
export class DemoPage {
  constructor(harness, label, context, page) {
    this.h = harness;
    this.label = label;
    this.context = context;
    this.page = page;
    this.log = [];
    this.pageErrors = [];
    page.on('console', (m) => this.log.push(`${new Date().toISOString()} [${m.type()}] ${m.text()}`));
    page.on('pageerror', (e) => {
      this.pageErrors.push(e);
      this.log.push(`${new Date().toISOString()} [pageerror] ${e.stack || e.message}`);
    });
  }

  byTestId(id) {
    return this.page.getByTestId(id);
  }

  // Waits until fn(arg) is truthy in the page; polls every 100 ms (rAF can stall headless).
  async waitFor(fn, arg, { timeout = T.ui, what = 'condition' } = {}) {
    try {
      const handle = await this.page.waitForFunction(fn, arg, { timeout, polling: 100 });
      return handle.jsonValue();
    } catch (e) {
      throw new Error(`${this.label}: waiting for ${what}: ${e.message.split('\n')[0]}`);
    }
  }

  evaluate(fn, arg) {
    return this.page.evaluate(fn, arg);
  }

  async close() {
    await this.context.close();
  }

  // ---- session ---------------------------------------------------------------------------

  // Fills in the name form and submits it; does not wait for the answer.
  async submitName(name, password = '') {
    await this.byTestId('name-input').waitFor({ state: 'visible', timeout: T.ui });
    await this.byTestId('name-input').fill(name);
    await this.byTestId('password-input').fill(password);
    await this.byTestId('set-name').click({ timeout: T.ui });
  }

  // Takes a name and waits until the lobby list is shown under it.
  async setName(name, password = '') {
    await this.submitName(name, password);
    await this.byTestId('lobbies-view').waitFor({ state: 'visible', timeout: T.ui });
    await this.waitFor((n) => document.querySelector('[data-testid="my-name"]').textContent === n,
      name, { what: `my-name "${name}"` });
  }

  async session() {
    return this.evaluate(() => {
      const s = window.lobbykit.store.getState().session;
      return s && { peerId: s.peerId, name: s.name, resumed: s.resumed, nameProtected: s.nameProtected };
    });
  }

  async peerId() {
    return (await this.session()).peerId;
  }

  async connectionState() {
    return this.byTestId('connection-status').getAttribute('data-state');
  }

  // The shown error: {code, text}, or null when no error banner is up.
  async shownError() {
    if (!(await this.byTestId('error').isVisible())) return null;
    return {
      code: await this.byTestId('error').getAttribute('data-code'),
      text: await this.byTestId('error-text').textContent(),
    };
  }

  async waitForError(code) {
    await this.waitFor((c) => {
      const e = document.querySelector('[data-testid="error"]');
      return !e.hidden && e.dataset.code === c;
    }, code, { what: `error banner with data-code=${code}` });
    return this.shownError();
  }

  // ---- lobbies ---------------------------------------------------------------------------

  async setJoinWithMedia(on) {
    await this.byTestId('join-with-media').setChecked(on, { timeout: T.ui });
  }

  // Creates a lobby with the form (the page joins it right away); returns its id.
  async createLobby(name, { isPrivate = false } = {}) {
    await this.byTestId('lobby-name-input').fill(name);
    await this.byTestId('private-checkbox').setChecked(isPrivate);
    await this.byTestId('create-lobby').click({ timeout: T.ui });
    return this.waitInLobby(name);
  }

  // Joins a public lobby from the list (after a refresh).
  async joinFromList(name) {
    await this.byTestId('refresh-lobbies').click({ timeout: T.ui });
    const item = this.page.locator(`[data-testid="lobby-item"][data-lobby-name="${name}"]`);
    await item.waitFor({ state: 'visible', timeout: T.ui });
    await item.getByTestId('join-lobby').click({ timeout: T.ui });
    return this.waitInLobby(name);
  }

  async joinById(id, expectedName) {
    await this.byTestId('join-id-input').fill(id);
    await this.byTestId('join-id').click({ timeout: T.ui });
    return this.waitInLobby(expectedName);
  }

  // Waits for the lobby view of lobby `name`; returns the lobby id it shows.
  async waitInLobby(name, { timeout = T.ui } = {}) {
    await this.waitFor((n) => {
      const v = document.querySelector('[data-testid="lobby-view"]');
      return !v.hidden && document.querySelector('[data-testid="lobby-title"]').textContent === n;
    }, name, { timeout, what: `lobby view of "${name}"` });
    const id = await this.byTestId('lobby-id').textContent();
    assert.match(id, /^[0-9a-f]{16}$/, 'the lobby id is shown');
    assert.equal(await this.byTestId('lobby-view').getAttribute('data-lobby-id'), id);
    return id;
  }

  // ---- participants ----------------------------------------------------------------------

  // The participant list as shown: [{peerId, name, connectionState, online, hasMedia, audioMuted}].
  async participants() {
    return this.evaluate(() => [...document.querySelectorAll('[data-testid="participant"]')].map((li) => ({
      peerId: li.dataset.peerId,
      name: li.dataset.name,
      connectionState: li.dataset.connectionState,
      online: li.dataset.online,
      hasMedia: li.dataset.hasMedia,
      audioMuted: li.dataset.audioMuted,
    })));
  }

  // Waits until the participant list shows exactly these peers (any order).
  async waitParticipants(peerIds, { timeout = T.ui } = {}) {
    await this.waitFor((ids) => {
      const shown = [...document.querySelectorAll('[data-testid="participant"]')].map((li) => li.dataset.peerId);
      return shown.length === ids.length && ids.every((id) => shown.includes(id));
    }, peerIds, { timeout, what: `participants ${peerIds.join(', ')}` });
  }

  // Waits until every other peer is shown online and with media, its pair is 'connected' in
  // the DOM (data-connection-state) and its RTCPeerConnection says 'connected' too. Returns
  // the time it took, ms.
  async waitMeshConnected(remoteIds, { timeout = T.media } = {}) {
    const start = Date.now();
    await this.waitFor((ids) => {
      const { peers } = window.lobbykit;
      return ids.every((id) => {
        const li = document.querySelector(`[data-testid="participant"][data-peer-id="${id}"]`);
        return li && li.dataset.online === 'true' && li.dataset.hasMedia === 'true'
          && li.dataset.connectionState === 'connected'
          && peers.connections.get(id)?.connectionState === 'connected';
      }) && peers.connections.size === ids.length;
    }, remoteIds, { timeout, what: `pairs connected to ${remoteIds.join(', ')}` });
    return Date.now() - start;
  }

  // Per remote peer: its RTCPeerConnection and the store's view of the pair.
  async pairHealth() {
    return this.evaluate(() => {
      const { peers, store } = window.lobbykit;
      const out = {};
      for (const [id, pc] of peers.connections) {
        const p = store.getState().peers[id] || {};
        out[id] = {
          connectionState: pc.connectionState,
          signalingState: pc.signalingState,
          storeSignalingState: p.signalingState,
          storeConnectionState: p.connectionState,
          glare: p.glare || 0,
          errors: p.errors || [],
          shouldOffer: p.shouldOffer,
        };
      }
      return out;
    });
  }

  // ---- stats -----------------------------------------------------------------------------

  // peer id -> packetsReceived of its inbound audio RTP stream (null if there is none yet).
  async inboundAudioPackets() {
    return this.evaluate(async () => {
      const out = {};
      for (const [id, pc] of window.lobbykit.peers.connections) {
        const stats = await pc.getStats();
        let packets = null;
        stats.forEach((r) => {
          if (r.type === 'inbound-rtp' && r.kind === 'audio') packets = (packets || 0) + (r.packetsReceived || 0);
        });
        out[id] = packets;
      }
      return out;
    });
  }

  // Asserts that inbound audio from each of these peers grows between two getStats() samples
  // `intervalMs` apart (after waiting, with a deadline, for the first packets). Returns both.
  async assertAudioFlowing(remoteIds, { intervalMs = 1000 } = {}) {
    await pollUntil(async () => {
      const packets = await this.inboundAudioPackets();
      return remoteIds.every((id) => packets[id] > 0);
    }, { timeout: T.media, what: `${this.label}: first inbound audio packets from ${remoteIds.join(', ')}` });
    const first = await this.inboundAudioPackets();
    await delay(intervalMs);
    const second = await this.inboundAudioPackets();
    for (const id of remoteIds) {
      assert.ok(second[id] > first[id],
        `${this.label}: inbound audio from ${id} grows (${first[id]} -> ${second[id]} packets in ${intervalMs} ms)`);
    }
    return { first, second };
  }

  // ---- chat ------------------------------------------------------------------------------

  // Sends a chat message with the form and waits until the page shows it as its own.
  async sendChat(text) {
    await this.byTestId('chat-input').fill(text);
    await this.byTestId('chat-send').click({ timeout: T.ui });
    const me = await this.peerId();
    await this.waitChat(text, me);
    await this.waitFor(() => document.querySelector('[data-testid="chat-input"]').value === '', null,
      { what: 'chat input cleared after the send' });
  }

  async waitChat(text, sender, { timeout = T.ui } = {}) {
    await this.waitFor(({ t, s }) => [...document.querySelectorAll('[data-testid="chat-message"]')]
      .some((li) => li.querySelector('.m-text')?.textContent === t && (!s || li.dataset.sender === s)),
    { t: text, s: sender }, { timeout, what: `chat message "${text}"` });
  }

  // The chat as shown: [{offset, sender, senderName, text}] in display order.
  async chat() {
    return this.evaluate(() => [...document.querySelectorAll('[data-testid="chat-message"]')].map((li) => ({
      offset: Number(li.dataset.offset),
      sender: li.dataset.sender,
      senderName: li.querySelector('.m-sender')?.textContent,
      text: li.querySelector('.m-text')?.textContent,
    })));
  }

  async screenshot(file) {
    await mkdir(path.dirname(file), { recursive: true });
    await this.page.screenshot({ path: file, fullPage: true });
  }

  // Every error the page's store has held since it loaded: [{code, message, context}].
  async storeErrors() {
    return this.evaluate(() => window.__e2eErrors);
  }

  // No uncaught exceptions, no error banner now, and no error in the store at any time
  // (except the codes in `expected`).
  async assertHealthy({ expected = [] } = {}) {
    assert.deepEqual(this.pageErrors.map((e) => e.message), [], `${this.label}: no uncaught page errors`);
    assert.equal(await this.shownError(), null, `${this.label}: no error banner`);
    const unexpected = (await this.storeErrors()).filter((e) => !expected.includes(e.code));
    assert.deepEqual(unexpected, [], `${this.label}: no errors were shown`);
  }
}

// Asserts that no pair of any page saw glare or a negotiation error, and that every pair is
// back in 'stable' signaling.
export async function assertNoNegotiationErrors(pages) {
  for (const p of pages) {
    const health = await p.pairHealth();
    for (const [id, pair] of Object.entries(health)) {
      assert.equal(pair.glare, 0, `${p.label} -> ${id}: no glare`);
      assert.deepEqual(pair.errors, [], `${p.label} -> ${id}: no negotiation errors`);
      assert.equal(pair.signalingState, 'stable', `${p.label} -> ${id}: signaling is stable`);
      assert.equal(pair.storeSignalingState, 'stable', `${p.label} -> ${id}: the store says stable`);
    }
  }
}

// Exactly one side of each pair offered (the server picks the roles).
export async function assertOneOffererPerPair(pages) {
  const ids = await Promise.all(pages.map((p) => p.peerId()));
  const health = await Promise.all(pages.map((p) => p.pairHealth()));
  for (let i = 0; i < pages.length; i++) {
    for (let j = i + 1; j < pages.length; j++) {
      const a = health[i][ids[j]];
      const b = health[j][ids[i]];
      assert.ok(a && b, `pair ${pages[i].label}/${pages[j].label} exists on both sides`);
      assert.notEqual(a.shouldOffer, b.shouldOffer,
        `exactly one of ${pages[i].label}/${pages[j].label} offers`);
    }
  }
}

// Two (or more) pages with names in one public lobby, all sharing their microphone.
// Returns {pages, ids, lobbyId}.
export async function pagesInLobby(h, labels, lobbyName) {
  const pages = [];
  for (const label of labels) pages.push(await h.openPage(label));
  await Promise.all(pages.map((p, i) => p.setName(labels[i][0].toUpperCase() + labels[i].slice(1))));
  const lobbyId = await pages[0].createLobby(lobbyName);
  for (const p of pages.slice(1)) await p.joinById(lobbyId, lobbyName);
  const ids = await Promise.all(pages.map((p) => p.peerId()));
  return { pages, ids, lobbyId };
}

