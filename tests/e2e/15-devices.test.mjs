// Case 15: devices. A person whose browser refuses the microphone is told so in plain words,
// takes part listening (hears the others) and gets the microphone with "Turn microphone on"
// once it is allowed. "Check microphone and camera" before joining lists the devices with a
// level that moves when the microphone hears something; in a call, "Devices" switches the
// microphone to another one and the others keep hearing it (the new track replaces the old
// one on every pair, with no new offer). The panel fits 390 px: test-artifacts/e2e-devices-390.png.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { setup, T, pollUntil, ARTIFACTS, speechWav } from './harness.mjs';

test('microphone refused: the reason and the fix are shown, you listen, and can turn it on later',
  { timeout: T.test }, async (t) => {
    const h = await setup(t, { name: 'case15-media-denied' });
    const bob = await h.openPage('bob');
    const ada = await h.openPage('ada', { denyMedia: true });
    await bob.setName('Bob');
    await ada.setName('Ada');
    const lobbyId = await bob.createLobby('Devices');
    await ada.joinById(lobbyId, 'Devices'); // "Share my microphone when I join" is on

    // The message says what happened and what to do, and stays after the join.
    const e = await ada.waitForError('media_denied');
    assert.match(e.text, /did not allow the microphone/);
    assert.match(e.text, /listening only/);
    assert.match(e.text, /Turn microphone on/);
    const mute = ada.byTestId('mute');
    assert.equal(await mute.textContent(), 'Turn microphone on');
    assert.equal(await mute.isEnabled(), true);

    // Listening only: Ada is a media member, muted, and hears Bob.
    const [adaId, bobId] = [await ada.peerId(), await bob.peerId()];
    await ada.waitMeshConnected([bobId]);
    await ada.assertAudioFlowing([bobId]);
    await bob.waitFor((id) => {
      const row = document.querySelector(`[data-testid="participant"][data-peer-id="${id}"]`);
      return row?.dataset.hasMedia === 'true' && row.dataset.audioMuted === 'true';
    }, adaId, { what: "Ada listening, muted, in Bob's list" });

    // Pressing the button while still refused says so again, and changes nothing else.
    await ada.page.locator('#error-dismiss').click();
    await mute.click();
    await ada.waitForError('media_denied');
    assert.equal(await mute.textContent(), 'Turn microphone on');

    // Allowed now (the person clicked "allow" in the address bar): the button takes the
    // microphone, unmutes, and Bob hears Ada.
    await ada.context.grantPermissions(['microphone', 'camera'], { origin: h.url });
    await mute.click();
    await ada.waitFor(() => document.querySelector('[data-testid="mute"]').textContent === 'Mute',
      undefined, { what: 'the button says Mute once the microphone is on' });
    assert.equal(await ada.shownError(), null, 'the refusal message went away');
    await bob.waitFor((id) => {
      const row = document.querySelector(`[data-testid="participant"][data-peer-id="${id}"]`);
      return row?.dataset.audioMuted === 'false';
    }, adaId, { what: "Ada unmuted in Bob's list" });
    await bob.assertAudioFlowing([adaId]);
  });

test('devices: the check before joining shows a moving level; in a call the microphone can be switched',
  { timeout: T.test }, async (t) => {
    const wav = await speechWav(t, 'hello there, can you hear me', { lead: 0.2, tail: 1.2 });
    const h = await setup(t, {
      name: 'case15-devices',
      browserPerPage: true,
      chromiumArgs: [`--use-file-for-fake-audio-capture=${wav}`],
    });
    const ada = await h.openPage('ada');
    const bob = await h.openPage('bob');
    await ada.setName('Ada');
    await bob.setName('Bob');

    // Before joining: the check lists the microphones by name and its bar moves with speech.
    await ada.byTestId('check-devices').click();
    assert.equal(await ada.byTestId('check-devices').getAttribute('aria-expanded'), 'true');
    await ada.waitFor(() => {
      const opts = [...document.querySelectorAll('[data-testid="mic-select"] option')];
      return opts.length >= 2 && opts.every((o) => o.value && o.textContent.trim());
    }, undefined, { what: 'two or more named microphones in the list' });
    let peak = 0;
    await pollUntil(async () => {
      const v = Number(await ada.byTestId('mic-check-level').getAttribute('data-level')) || 0;
      peak = Math.max(peak, v);
      return peak > 0.2;
    }, { timeout: T.media, interval: 50, what: 'the check\'s level rising with speech' });
    assert.equal(await ada.byTestId('device-error').isVisible(), false);
    const labelOf = (p) => p.evaluate(() => window.lobbykit.peers.localStream?.getAudioTracks()[0]?.getSettings().deviceId);

    // Joining lets the check's microphone go and the call captures its own.
    const lobbyId = await ada.createLobby('Devices');
    await bob.joinById(lobbyId, 'Devices');
    assert.equal(await ada.byTestId('devices').isVisible(), false, 'the check closed on joining');
    const [adaId, bobId] = [await ada.peerId(), await bob.peerId()];
    await ada.waitMeshConnected([bobId]);
    await bob.assertAudioFlowing([adaId]);

    // In the call: another microphone. The pair's sender carries the new track, and Bob
    // keeps receiving.
    await ada.byTestId('devices-toggle').click();
    const before = await labelOf(ada);
    const other = await ada.evaluate((cur) => [...document.querySelectorAll('[data-testid="mic-select"] option')]
      .map((o) => o.value).find((v) => v !== cur), before);
    assert.ok(before && other, `a second microphone to switch to (now ${before})`);
    await ada.byTestId('mic-select').selectOption(other);
    await pollUntil(async () => (await labelOf(ada)) === other,
      { timeout: T.ui, what: 'the call captures from the chosen microphone' });
    const senderIsNew = await ada.evaluate((id) => {
      const pc = window.lobbykit.peers.connections.get(id);
      const local = window.lobbykit.peers.localStream.getAudioTracks()[0];
      return pc.getSenders().some((s) => s.track === local);
    }, bobId);
    assert.equal(senderIsNew, true, 'the new microphone is on the pair with Bob');
    await bob.assertAudioFlowing([adaId]);
    assert.equal(await ada.evaluate(() => window.lobbykit.peers.connections.size), 1);

    // The panel fits a phone (kept as test-artifacts/e2e-devices-390.png).
    await ada.page.setViewportSize({ width: 390, height: 844 });
    const wide = await ada.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
    assert.ok(wide[0] <= wide[1], `390 px: the page is ${wide[0]} px wide`);
    await ada.page.screenshot({ path: path.join(ARTIFACTS, 'e2e-devices-390.png'), fullPage: true });

    // The choice is remembered for the next visit.
    const saved = await ada.evaluate(() => JSON.parse(localStorage.getItem('lobbykit.devices')).audio);
    assert.equal(saved, other);
    await ada.assertHealthy();
    await bob.assertHealthy();
  });

test('no microphone at all: said so, listening only, and the check says it too',
  { timeout: T.test }, async (t) => {
    const h = await setup(t, { name: 'case15-no-devices' });
    const bob = await h.openPage('bob');
    const ada = await h.openPage('ada', { noDevices: true });
    await bob.setName('Bob');
    await ada.setName('Ada');

    // The check before joining names the problem in its own panel.
    await ada.byTestId('check-devices').click();
    await ada.waitFor(() => !document.querySelector('[data-testid="device-error"]').hidden, undefined,
      { what: 'the check says what is wrong' });
    assert.match(await ada.byTestId('device-error').textContent(), /No microphone was found.*You can still join and listen/);
    assert.equal(await ada.byTestId('mic-select').isDisabled(), true);
    assert.match(await ada.page.locator('[data-testid="mic-select"] option').first().textContent(), /No microphone found/);

    const lobbyId = await bob.createLobby('Devices');
    await ada.joinById(lobbyId, 'Devices');
    const e = await ada.waitForError('media_not_found');
    assert.match(e.text, /No microphone was found\. You are in the call, listening only\./);
    assert.equal(await ada.byTestId('mute').textContent(), 'Turn microphone on');
    await ada.waitMeshConnected([await bob.peerId()]);
    await ada.assertAudioFlowing([await bob.peerId()]);
  });
