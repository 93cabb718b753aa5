// Case 9: application messages and metadata from the browser client (docs/protocol.md,
// "Application messages and metadata"). Two pages in one lobby: Ada's page sends a
// "raise_hand" message with a payload to the lobby and another to Bob alone; Bob's page
// receives both, stamped with Ada's peer id and name, and Ada's page never gets its own. Ada
// sets her participant metadata and Bob's store shows it; a payload over the limit is
// refused with bad_field.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setup, T, pagesInLobby } from './harness.mjs';

test('app messages and metadata between two pages', { timeout: T.test }, async (t) => {
  const h = await setup(t, { name: 'case9-app-messages' });
  const { pages: [ada, bob], ids: [adaId, bobId], lobbyId } =
    await pagesInLobby(h, ['ada', 'bob'], 'Hands');

  // Both pages record every app_message push they get.
  for (const page of [ada, bob]) {
    await page.evaluate(() => {
      window.__appMessages = [];
      window.lobbykit.connection.on('app_message', (data) => window.__appMessages.push(data));
    });
  }

  const toAll = await ada.evaluate(
    () => window.lobbykit.connection.sendAppMessage('raise_hand', { hand: 'up', n: 1 }));
  assert.equal(toAll.delivered, 1, 'delivered to Bob, not back to Ada');
  const toBob = await ada.evaluate(
    (to) => window.lobbykit.connection.sendAppMessage('whisper', 'psst', { to }), bobId);
  assert.equal(toBob.delivered, 1);

  await bob.waitFor(() => window.__appMessages.length >= 2, undefined,
    { timeout: T.ui, what: 'two app messages on Bob\'s page' });
  const got = await bob.evaluate(() => window.__appMessages);
  assert.deepEqual(got.map((m) => [m.name, m.from, m.from_name, m.lobby_id]),
    [['raise_hand', adaId, 'Ada', lobbyId], ['whisper', adaId, 'Ada', lobbyId]]);
  assert.deepEqual(got[0].payload, { hand: 'up', n: 1 });
  assert.equal(got[0].to, undefined, 'a lobby-wide message names no recipient');
  assert.equal(got[1].payload, 'psst');
  assert.equal(got[1].to, bobId);
  assert.deepEqual(await ada.evaluate(() => window.__appMessages), [], 'never echoed');

  // Metadata: Ada's status reaches Bob's store.
  const md = await ada.evaluate(() => window.lobbykit.connection.setMetadata({ status: 'away' }));
  assert.deepEqual(md, { status: 'away' });
  await bob.waitFor((id) => {
    const p = window.lobbykit.store.getState().participants.find((x) => x.peer_id === id);
    return p?.metadata?.status === 'away';
  }, adaId, { timeout: T.ui, what: 'Ada\'s metadata in Bob\'s store' });

  // Over the limit (16 KiB of JSON): refused with the field named.
  const refused = await ada.evaluate(async () => {
    try {
      await window.lobbykit.connection.sendAppMessage('big', 'x'.repeat(17 * 1024));
      return null;
    } catch (e) {
      return { code: e.code, field: e.field };
    }
  });
  assert.deepEqual(refused, { code: 'bad_field', field: 'data.payload' });
  await ada.assertHealthy();
  await bob.assertHealthy();
});
