// Case 1: two pages in separate browser contexts join one lobby. Each sees the other in the
// participant list, a chat message from each arrives at the other, both RTCPeerConnections
// reach 'connected', and inbound audio packets increase. Also takes the screenshot artifact.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { setup, T, ARTIFACTS, assertNoNegotiationErrors, assertOneOffererPerPair } from './harness.mjs';

test('two pages join one lobby: participants, chat both ways, connected pair, audio flows',
  { timeout: T.test }, async (t) => {
    const h = await setup(t, { name: 'case1-two-pages' });
    const ada = await h.openPage('ada');
    const bob = await h.openPage('bob');
    await ada.setName('Ada');
    await bob.setName('Bob');

    // Ada creates a public lobby; Bob finds it in the list and joins from there.
    const lobbyId = await ada.createLobby('Standup');
    assert.equal(await bob.joinFromList('Standup'), lobbyId, 'Bob is in the lobby Ada created');

    const [adaId, bobId] = [await ada.peerId(), await bob.peerId()];
    assert.notEqual(adaId, bobId);
    await ada.waitParticipants([adaId, bobId]);
    await bob.waitParticipants([adaId, bobId]);
    for (const [page, me, other, otherName] of [[ada, adaId, bobId, 'Bob'], [bob, bobId, adaId, 'Ada']]) {
      const shown = await page.participants();
      const self = shown.find((p) => p.peerId === me);
      const peer = shown.find((p) => p.peerId === other);
      assert.equal(self.connectionState, 'self');
      assert.equal(peer.name, otherName, `${page.label} sees ${otherName} by name`);
      assert.equal(peer.online, 'true');
      assert.equal(peer.hasMedia, 'true');
    }

    // Chat both ways.
    await ada.sendChat('Hello from Ada');
    await bob.waitChat('Hello from Ada', adaId);
    await bob.sendChat('Hi Ada, Bob here');
    await ada.waitChat('Hi Ada, Bob here', bobId);
    const adaChat = await ada.chat();
    assert.deepEqual(adaChat.map((m) => [m.offset, m.sender, m.text]),
      [[1, adaId, 'Hello from Ada'], [2, bobId, 'Hi Ada, Bob here']]);
    assert.deepEqual((await bob.chat()).map((m) => [m.offset, m.sender, m.text]),
      adaChat.map((m) => [m.offset, m.sender, m.text]), 'both pages show the same chat');
    assert.equal(adaChat[1].senderName, 'Bob');
    assert.equal(adaChat[0].senderName, 'You');

    // Media: both pairs connected (DOM and RTCPeerConnection), audio flows both ways.
    const ms = Math.max(await ada.waitMeshConnected([bobId]), await bob.waitMeshConnected([adaId]));
    t.diagnostic(`pair connected within ${ms} ms of the chat exchange`);
    await assertOneOffererPerPair([ada, bob]);
    const [a, b] = await Promise.all([ada.assertAudioFlowing([bobId]), bob.assertAudioFlowing([adaId])]);
    t.diagnostic(`inbound audio packets: Ada from Bob ${a.first[bobId]} -> ${a.second[bobId]}, `
      + `Bob from Ada ${b.first[adaId]} -> ${b.second[adaId]}`);
    await assertNoNegotiationErrors([ada, bob]);
    await ada.assertHealthy();
    await bob.assertHealthy();

    const shot = path.join(ARTIFACTS, 'e2e-two-participants.png');
    await ada.screenshot(shot);
    t.diagnostic(`screenshot: ${shot}`);
  });
