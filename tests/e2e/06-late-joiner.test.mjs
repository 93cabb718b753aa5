// Case 6: a late joiner receives the chat history. Two pages chat in a private lobby; a third
// page that joins later by id (the lobby is not in its list) shows every earlier message in
// order, with offsets, senders and exact text, joins the media mesh, and its own message
// reaches the others at the next offset.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setup, T } from './harness.mjs';

test('a late joiner receives the chat history', { timeout: T.test }, async (t) => {
  const h = await setup(t, { name: 'case6-late-joiner' });
  const ada = await h.openPage('ada');
  const bob = await h.openPage('bob');
  await ada.setName('Ada');
  await bob.setName('Bob');
  const lobbyId = await ada.createLobby('Private history', { isPrivate: true });
  assert.equal(await ada.page.locator('#lobby-private').isVisible(), true, 'shown as private');
  await bob.joinById(lobbyId, 'Private history');
  const [adaId, bobId] = [await ada.peerId(), await bob.peerId()];

  const sent = [
    [ada, adaId, 'Welcome, this lobby is private.'],
    [bob, bobId, 'Grüße aus Köln 👋 — <b>not bold</b>'],
    [ada, adaId, 'Third message, for whoever comes later.'],
  ];
  for (const [page, , text] of sent) await page.sendChat(text);
  await ada.waitChat(sent[2][2], adaId);
  await bob.waitChat(sent[2][2], adaId);

  const cleo = await h.openPage('cleo');
  await cleo.setName('Cleo');
  await cleo.byTestId('refresh-lobbies').click();
  await cleo.waitFor(() => document.querySelector('[data-testid="no-lobbies"]').hidden === false, null,
    { what: 'an empty lobby list (the lobby is private)' });
  assert.equal(await cleo.page.locator('[data-testid="lobby-item"]').count(), 0);
  await cleo.joinById(lobbyId, 'Private history');
  const cleoId = await cleo.peerId();

  await cleo.waitChat(sent[2][2], adaId);
  const history = await cleo.chat();
  assert.deepEqual(history.map((m) => [m.offset, m.sender, m.senderName, m.text]), [
    [1, adaId, 'Ada', sent[0][2]],
    [2, bobId, 'Bob', sent[1][2]],
    [3, adaId, 'Ada', sent[2][2]],
  ], 'the late joiner shows the whole history in order');
  // The markup in the text is shown as text, not interpreted.
  assert.equal(await cleo.page.locator('[data-testid="chat-message"][data-offset="2"] b').count(), 0);

  const all = [adaId, bobId, cleoId];
  for (const p of [ada, bob, cleo]) await p.waitParticipants(all);
  await Promise.all([
    ada.waitMeshConnected([bobId, cleoId]),
    bob.waitMeshConnected([adaId, cleoId]),
    cleo.waitMeshConnected([adaId, bobId]),
  ]);
  await cleo.assertAudioFlowing([adaId, bobId]);
  await ada.assertAudioFlowing([cleoId]);

  await cleo.sendChat('Thanks, I can read everything.');
  for (const p of [ada, bob]) {
    await p.waitChat('Thanks, I can read everything.', cleoId);
    assert.deepEqual((await p.chat()).map((m) => m.offset), [1, 2, 3, 4]);
  }
  for (const p of [ada, bob, cleo]) await p.assertHealthy();
});
