// PeerManager: the browser side of lobbykit's managed mesh (docs/protocol.md, Signaling).
// One RTCPeerConnection per remote media member, created on `peer_added`; the side the server
// picks (`should_offer`) makes every offer, the other only answers, so offers never collide.
// It also owns the local microphone / camera, and reports each pair's state to the Store.
//
// The offering side always adds three transceivers (sendrecv): audio, camera video and screen
// video, in that order (docs/protocol.md, Participant), and the answering side turns the ones
// it receives to sendrecv. Either side can then start, stop or swap its microphone, camera or
// screen with replaceTrack, without a new offer. The first video transceiver of a pair is the
// camera and the second the screen, on both sides.

import { LobbyError } from './connection.js';

export const DEFAULT_RTC_CONFIG = Object.freeze({ iceServers: [] });

// An ICE restart after a pair failed, at most this often per pair.
const ICE_RESTART_MIN_INTERVAL_MS = 5000;
// Negotiation problems kept per peer in the store (for the UI and the tests).
const MAX_ERRORS_PER_PEER = 20;

// getUserMedia failures as LobbyErrors with codes the UI can explain.
export function mediaError(e) {
  const code = {
    NotAllowedError: 'media_denied',
    SecurityError: 'media_denied',
    NotFoundError: 'media_not_found',
    OverconstrainedError: 'media_not_found',
    NotReadableError: 'media_busy',
    AbortError: 'media_busy',
  }[e?.name] || 'media_failed';
  return new LobbyError(code, e?.message || String(e));
}

// getDisplayMedia failures: the person closing the picker is a NotAllowedError too.
export function screenError(e) {
  const code = {
    NotAllowedError: 'screen_denied',
    SecurityError: 'screen_denied',
    AbortError: 'screen_denied',
    NotReadableError: 'screen_failed',
    NotFoundError: 'screen_failed',
  }[e?.name] || 'screen_failed';
  return new LobbyError(code, e?.message || String(e));
}

export class PeerManager {
  // options: rtcConfig (default {iceServers: []}), mediaDevices (for tests).
  constructor(connection, store, options = {}) {
    this.connection = connection;
    this.store = store;
    this.rtcConfig = options.rtcConfig || DEFAULT_RTC_CONFIG;
    this.mediaDevices = options.mediaDevices || globalThis.navigator?.mediaDevices;

    // peer_id -> RTCPeerConnection, for whoever needs the raw objects (getStats in tests).
    this.connections = new Map();
    this._entries = new Map(); // peer_id -> per-pair bookkeeping (see _create)
    this.localStream = null;
    this.screenTrack = null; // the shared screen, or null
    this.deviceIds = { audio: null, video: null }; // preferred capture devices (useDevice)
    this._mediaAttempted = false; // tried to capture since sharing last turned on

    connection.on('peer_added', (d) => this._onPeerAdded(d));
    connection.on('peer_removed', (d) => this.close(d.peer_id));
    connection.on('description', (d) => this._onDescription(d));
    connection.on('candidate', (d) => this._onCandidate(d));
    // After any welcome the server has forgotten our pairs: it introduces them again.
    connection.on('welcome', () => this.closeAll());
    store.subscribe((s, prev) => this._onStore(s, prev));
  }

  _onStore(s, prev) {
    if ((s.lobby?.id ?? null) !== (prev.lobby?.id ?? null)) this.closeAll();
    // Another tab took the session, or an admin kicked it: this page lets go of everything.
    if (s.connection.stopReason && !prev.connection.stopReason) {
      this.closeAll();
      this.stopLocalMedia();
      this._mediaAttempted = false;
    }
    if (prev.media.sharing && !s.media.sharing) {
      this.closeAll();
      this.stopLocalMedia();
      this._mediaAttempted = false;
    }
    // Sharing without captured media: the page took over a session that shares (a reload).
    if (s.media.sharing && s.lobby && !s.connection.stopReason && !this.localStream &&
        !this._mediaAttempted) {
      const want = this.connection.intent.media;
      this.store.setMedia({ audioMuted: !!want.audio_muted });
      this.startLocalMedia({ audio: true, video: !want.video_muted })
        .catch((e) => this.store.setError(e, 'media'));
    }
  }

  // ---- local media ----------------------------------------------------------------------

  // Captures microphone (and camera) and sends them to every pair. Rejects with a LobbyError
  // (media_denied, media_not_found, media_busy, media_failed).
  async startLocalMedia({ audio = true, video = false } = {}) {
    this._mediaAttempted = true;
    let stream;
    try {
      stream = await this._capture({ audio, video });
    } catch (e) {
      if (!video) throw e;
      // The camera may be what failed: try the microphone alone.
      stream = await this._capture({ audio: true, video: false });
      this.store.setError(e, 'camera');
    }
    this._setLocalTracks(stream.getAudioTracks()[0] || null, stream.getVideoTracks()[0] || null);
    return this.localStream;
  }

  // Turns the microphone on after it was not captured (denied, or no device then), keeping
  // the camera. Rejects with a LobbyError as startLocalMedia does.
  async startMicrophone() {
    const stream = await this._capture({ audio: true, video: false });
    this._setLocalTracks(stream.getAudioTracks()[0] || null, this._track('video'));
    return this.localStream;
  }

  // The devices to capture from: {audio, video} device ids, null for the browser's default.
  // A chosen device that is gone later falls back to another one (the id is a preference).
  setPreferredDevices({ audio, video } = {}) {
    if (audio !== undefined) this.deviceIds.audio = audio || null;
    if (video !== undefined) this.deviceIds.video = video || null;
  }

  // Switches the microphone or camera ('audio' or 'video') to this device, now if it is in
  // use, and for every later capture. The new track replaces the old one on every pair, with
  // no new offer. Rejects with a LobbyError; the old device then stays in use.
  async useDevice(kind, deviceId) {
    const exact = deviceId ? { deviceId: { exact: deviceId } } : true;
    if (this._track(kind)) {
      const stream = await this._capture(kind === 'audio' ? { audio: exact, video: false } : { audio: false, video: exact });
      const track = (kind === 'audio' ? stream.getAudioTracks() : stream.getVideoTracks())[0] || null;
      if (kind === 'audio') this._setLocalTracks(track, this._track('video'));
      else this._setLocalTracks(this._track('audio'), track);
    }
    this.setPreferredDevices({ [kind]: deviceId || null });
  }

  // The devices the browser offers, by kind: {audioinput, videoinput, audiooutput}, each a
  // list of {deviceId, label}. Labels are empty until the page was allowed to capture once.
  async listDevices() {
    const out = { audioinput: [], videoinput: [], audiooutput: [] };
    if (!this.mediaDevices?.enumerateDevices) return out;
    for (const d of await this.mediaDevices.enumerateDevices()) {
      if (out[d.kind] && d.deviceId) out[d.kind].push({ deviceId: d.deviceId, label: d.label });
    }
    return out;
  }

  // getUserMedia with the preferred devices, failures as LobbyErrors. audio / video: true,
  // false, or constraints (which then win over the preference).
  async _capture({ audio, video }) {
    if (!this.mediaDevices?.getUserMedia) {
      throw new LobbyError('media_failed', 'This browser cannot capture audio here (it needs https or localhost).');
    }
    const want = (on, id) => (on === true && id ? { deviceId: id } : on);
    try {
      return await this.mediaDevices.getUserMedia({
        audio: want(audio, this.deviceIds.audio),
        video: want(video, this.deviceIds.video),
      });
    } catch (e) {
      throw mediaError(e);
    }
  }

  stopLocalMedia() {
    this._setScreenTrack(null);
    if (!this.localStream) return;
    for (const t of this.localStream.getTracks()) t.stop();
    this.localStream = null;
    this.store.setMedia({ stream: null, audio: false, video: false });
    for (const entry of this._entries.values()) this._attachLocalTracks(entry);
  }

  // Mutes by disabling the track (the pairs stay up) and tells the lobby.
  async setAudioMuted(muted) {
    const t = this._track('audio');
    if (t) t.enabled = !muted;
    this.store.setMedia({ audioMuted: muted });
    return this.connection.updateMedia({ audio_muted: muted });
  }

  // Turns the camera on or off for every pair.
  async setCamera(on) {
    if (on) {
      const cam = await this._capture({ audio: false, video: true });
      this._setLocalTracks(this._track('audio'), cam.getVideoTracks()[0] || null);
    } else {
      this._setLocalTracks(this._track('audio'), null);
    }
    return this.connection.updateMedia({ video_muted: !on });
  }

  // Shares a screen, window or tab the person picks, on every pair, and tells the lobby
  // (screen_sharing). Rejects with a LobbyError: screen_denied (the picker was closed or
  // refused), screen_failed, screen_unsupported.
  async startScreenShare() {
    if (!this.mediaDevices?.getDisplayMedia) {
      throw new LobbyError('screen_unsupported', 'This browser cannot share a screen.');
    }
    let stream;
    try {
      stream = await this.mediaDevices.getDisplayMedia({ video: true, audio: false });
    } catch (e) {
      throw screenError(e);
    }
    const track = stream.getVideoTracks()[0];
    if (!track) throw new LobbyError('screen_failed', 'The browser gave no picture of the screen.');
    // The browser's own "Stop sharing" bar ends the track.
    track.addEventListener('ended', () => {
      if (this.screenTrack === track) this.stopScreenShare().catch(() => {});
    });
    this._setScreenTrack(track);
    return this.connection.updateMedia({ screen_sharing: true });
  }

  async stopScreenShare() {
    this._setScreenTrack(null);
    return this.connection.updateMedia({ screen_sharing: false });
  }

  _setScreenTrack(track) {
    if (this.screenTrack === track) return;
    this.screenTrack?.stop();
    this.screenTrack = track;
    this.store.setMedia({ screen: track ? new MediaStream([track]) : null });
    for (const entry of this._entries.values()) this._attachLocalTracks(entry);
  }

  // Each transceiver of the pair that carries something, with what: 'audio', 'video' (the
  // camera: the first video transceiver) or 'screen' (the second).
  _roles(entry) {
    const out = [];
    let videos = 0;
    for (const tx of entry.pc.getTransceivers()) {
      const kind = tx.receiver.track.kind;
      const role = kind === 'audio' ? 'audio' : videos++ === 0 ? 'video' : videos === 2 ? 'screen' : null;
      if (role && !tx.stopped && tx.currentDirection !== 'stopped') out.push([tx, role]);
    }
    return out;
  }

  _track(kind) {
    if (!this.localStream) return null;
    return (kind === 'audio' ? this.localStream.getAudioTracks() : this.localStream.getVideoTracks())[0] || null;
  }

  _setLocalTracks(audio, video) {
    const tracks = [audio, video].filter(Boolean);
    for (const t of this.localStream?.getTracks() || []) {
      if (!tracks.includes(t)) t.stop(); // a replaced device is released, not left captured
    }
    // A new stream object each time, so the UI sees the change and re-attaches the preview.
    this.localStream = tracks.length ? new MediaStream(tracks) : null;
    if (audio) audio.enabled = !this.store.getState().media.audioMuted;
    this.store.setMedia({ stream: this.localStream, audio: !!audio, video: !!video });
    for (const entry of this._entries.values()) this._attachLocalTracks(entry);
  }

  // Puts the current local track of each kind on the pair's senders (null stops sending).
  _attachLocalTracks(entry) {
    if (entry.closed) return;
    for (const [tx, role] of this._roles(entry)) {
      const track = role === 'screen' ? this.screenTrack : this._track(role);
      if (tx.sender.track !== track) {
        tx.sender.replaceTrack(track).catch((e) => this._recordError(entry, 'replace_track', e));
      }
    }
  }

  // ---- pairs ----------------------------------------------------------------------------

  _onPeerAdded(d) {
    // A second peer_added for a known peer (it resumed): its old connection is gone.
    this.close(d.peer_id);
    this._create(d.peer_id, { shouldOffer: !!d.should_offer, name: d.name || '', isBot: !!d.is_bot });
  }

  _create(peerId, { shouldOffer, name, isBot }) {
    const pc = new RTCPeerConnection(this.rtcConfig);
    const entry = {
      peerId,
      pc,
      shouldOffer,
      closed: false,
      chain: Promise.resolve(),  // signaling steps of this pair, one after the other
      remoteCandidates: [],      // arrived before the remote description was set
      localCandidates: [],       // gathered before our description was sent
      descriptionSent: false,
      lastIceRestart: 0,
      remoteTracks: [],          // received on the audio and camera transceivers
    };
    this._entries.set(peerId, entry);
    this.connections.set(peerId, pc);
    this.store.setPeer(peerId, {
      name, isBot, shouldOffer, connectionState: pc.connectionState,
      iceConnectionState: pc.iceConnectionState, signalingState: pc.signalingState,
      stream: null, screen: null, errors: [], glare: 0,
    });

    pc.onicecandidate = (e) => {
      if (entry.closed || !e.candidate) return; // end-of-candidates is implied on loopback
      if (!entry.descriptionSent) entry.localCandidates.push(e.candidate);
      else this._sendCandidate(entry, e.candidate);
    };
    pc.onconnectionstatechange = () => {
      if (entry.closed) return;
      this.store.setPeer(peerId, { connectionState: pc.connectionState });
      if (pc.connectionState === 'failed') this._maybeRestartIce(entry);
    };
    pc.oniceconnectionstatechange = () => {
      if (!entry.closed) this.store.setPeer(peerId, { iceConnectionState: pc.iceConnectionState });
    };
    pc.onsignalingstatechange = () => {
      if (!entry.closed) this.store.setPeer(peerId, { signalingState: pc.signalingState });
    };
    pc.ontrack = (e) => {
      if (entry.closed) return;
      const role = this._roles(entry).find(([tx]) => tx === e.transceiver)?.[1];
      if (role === 'screen') {
        this.store.setPeer(peerId, { screen: new MediaStream([e.track]) });
        return;
      }
      if (!entry.remoteTracks.includes(e.track)) entry.remoteTracks.push(e.track);
      // A new stream object each time, so the UI sees the change and re-attaches it.
      this.store.setPeer(peerId, { stream: new MediaStream(entry.remoteTracks) });
    };

    if (shouldOffer) {
      // Only the offering side negotiates; its first negotiationneeded makes the first offer.
      pc.onnegotiationneeded = () => this._negotiate(entry);
      pc.addTransceiver(this._track('audio') || 'audio', { direction: 'sendrecv' });
      pc.addTransceiver(this._track('video') || 'video', { direction: 'sendrecv' });
      pc.addTransceiver(this.screenTrack || 'video', { direction: 'sendrecv' });
    }
    return entry;
  }

  // Closes the pair with this peer and forgets it.
  close(peerId) {
    const entry = this._entries.get(peerId);
    if (!entry) return;
    entry.closed = true;
    this._entries.delete(peerId);
    this.connections.delete(peerId);
    try {
      entry.pc.close();
    } catch {
      // already closed
    }
    this.store.removePeer(peerId);
  }

  closeAll() {
    for (const peerId of [...this._entries.keys()]) this.close(peerId);
  }

  // Runs a signaling step after the previous ones of this pair; a failure is recorded, and
  // does not stop the steps after it.
  _enqueue(entry, step) {
    entry.chain = entry.chain.then(() => (entry.closed ? undefined : step()))
      .catch((e) => this._recordError(entry, 'signaling', e));
    return entry.chain;
  }

  _negotiate(entry) {
    this._enqueue(entry, async () => {
      // Not stable: an offer is out. negotiationneeded fires again once the answer is in.
      if (entry.pc.signalingState !== 'stable') return;
      await entry.pc.setLocalDescription();
      if (!entry.closed) this._sendDescription(entry);
    });
  }

  _sendDescription(entry) {
    const d = entry.pc.localDescription;
    this.connection.relayDescription(entry.peerId, { type: d.type, sdp: d.sdp })
      .catch((e) => this._relayFailed(entry, e));
    // The description went out first (one socket keeps order), so its candidates may follow.
    entry.descriptionSent = true;
    const queued = entry.localCandidates;
    entry.localCandidates = [];
    for (const c of queued) this._sendCandidate(entry, c);
  }

  _sendCandidate(entry, candidate) {
    this.connection.relayCandidate(entry.peerId, candidate)
      .catch((e) => this._relayFailed(entry, e));
  }

  _relayFailed(entry, e) {
    // unknown_peer: the peer left or is reconnecting; its peer_removed / peer_added follows.
    // Transient: our own connection dropped; the next welcome starts the pair over.
    if (e.code === 'unknown_peer' || e.transient) return;
    this._recordError(entry, 'relay', e);
  }

  _onDescription({ from, description }) {
    if (!description || typeof description.type !== 'string') return;
    let entry = this._entries.get(from);
    if (!entry) {
      // The server introduces both sides first, so this should not happen; an offer is
      // still enough to answer.
      if (description.type !== 'offer') return;
      entry = this._create(from, { shouldOffer: false, name: '', isBot: false });
    }
    this._enqueue(entry, async () => {
      const pc = entry.pc;
      if (description.type === 'offer') {
        if (pc.signalingState !== 'stable') {
          // Glare. With roles picked by the server this only happens if it broke its promise.
          this._recordError(entry, 'glare', new Error(`offer received in state ${pc.signalingState}`));
          this.store.setPeer(entry.peerId, { glare: (this.store.getState().peers[entry.peerId]?.glare || 0) + 1 });
          if (entry.shouldOffer) return; // keep our own offer; theirs is dropped
        }
        await pc.setRemoteDescription(description); // rolls back our offer if there was one
        if (entry.closed) return;
        this._prepareAnswer(entry);
        await this._applyRemoteCandidates(entry);
        await pc.setLocalDescription();
        if (!entry.closed) this._sendDescription(entry);
      } else if (description.type === 'answer' || description.type === 'pranswer') {
        if (pc.signalingState !== 'have-local-offer' && pc.signalingState !== 'have-remote-pranswer') {
          return; // a stale answer to an offer that is no longer out
        }
        await pc.setRemoteDescription(description);
        await this._applyRemoteCandidates(entry);
      } else if (description.type === 'rollback') {
        if (pc.signalingState !== 'stable') await pc.setRemoteDescription({ type: 'rollback' });
      }
    });
  }

  // The answering side sends on every transceiver the offer made (audio and video), with
  // whatever it has captured (nothing yet is fine: replaceTrack fills it in later).
  _prepareAnswer(entry) {
    for (const tx of entry.pc.getTransceivers()) {
      if (tx.stopped || tx.currentDirection === 'stopped') continue;
      if (tx.direction === 'recvonly' || tx.direction === 'inactive') tx.direction = 'sendrecv';
    }
    this._attachLocalTracks(entry);
  }

  _onCandidate({ from, candidate }) {
    const entry = this._entries.get(from);
    // Candidates always come after the peer_added for their sender (protocol.md); one for a
    // pair we already closed is late and harmless.
    if (!entry || !candidate) return;
    this._enqueue(entry, async () => {
      if (!entry.pc.remoteDescription) {
        entry.remoteCandidates.push(candidate);
        return;
      }
      await this._addCandidate(entry, candidate);
    });
  }

  async _applyRemoteCandidates(entry) {
    const queued = entry.remoteCandidates;
    entry.remoteCandidates = [];
    for (const c of queued) await this._addCandidate(entry, c);
  }

  async _addCandidate(entry, candidate) {
    try {
      await entry.pc.addIceCandidate(candidate);
    } catch (e) {
      if (!entry.closed) this._recordError(entry, 'candidate', e);
    }
  }

  // Tries the pair with this peer again now (the person pressed "Reconnect"): an ICE restart,
  // whichever side offers. The offering side restarts as it does by itself after a failure;
  // the answering side makes the one offer it ever makes, an ICE restart, which the other
  // side answers (if both offer at once, the offering side keeps its own offer and this one
  // is rolled back, as with any glare). False when there is no such pair.
  restartPair(peerId) {
    const entry = this._entries.get(peerId);
    if (!entry || entry.closed) return false;
    entry.lastIceRestart = Date.now();
    this.store.setPeer(peerId, { connectionState: entry.pc.connectionState });
    if (entry.shouldOffer) {
      entry.pc.restartIce();
      return true;
    }
    this._enqueue(entry, async () => {
      if (entry.pc.signalingState !== 'stable') return;
      await entry.pc.setLocalDescription(await entry.pc.createOffer({ iceRestart: true }));
      if (!entry.closed) this._sendDescription(entry);
    });
    return true;
  }

  _maybeRestartIce(entry) {
    // Only the offering side renegotiates; restartIce() makes its next offer restart ICE.
    if (!entry.shouldOffer || !this.connection.connected) return;
    const now = Date.now();
    if (now - entry.lastIceRestart < ICE_RESTART_MIN_INTERVAL_MS) return;
    entry.lastIceRestart = now;
    entry.pc.restartIce();
  }

  _recordError(entry, kind, e) {
    if (entry.closed) return;
    console.warn(`lobbykit: peer ${entry.peerId}: ${kind}`, e);
    const peer = this.store.getState().peers[entry.peerId];
    if (!peer) return;
    const errors = [...peer.errors, { kind, message: e?.message || String(e), at: Date.now() }]
      .slice(-MAX_ERRORS_PER_PEER);
    this.store.setPeer(entry.peerId, { errors });
  }

  // getStats() of the pair with this peer, or null.
  getStats(peerId) {
    const pc = this.connections.get(peerId);
    return pc ? pc.getStats() : Promise.resolve(null);
  }
}
