// Case 11: the people list keeps join order across a server restart (issue 12). Three pages
// join in descending peer-id order (so peer-id order, what the old restore used, is the
// reverse); the server is killed (SIGKILL) and started again; after the pages reconnect, the
// lobby's participants come back in join order, in the page's store and in the list shown.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setup, T } from './harness.mjs';

const storeOrder = (p) => p.evaluate(() =>
  window.lobbykit.store.getState().participants.map((x) => x.peer_id));
const shownOrder = (p) => p.evaluate(() =>
  [...document.querySelectorAll('[data-testid="participant"]')].map((li) => li.dataset.peerId));

test('people keep their join order after a server restart', { timeout: T.test }, async (t) => {
  const h = await setup(t, { name: 'case11-join-order' });
  const pages = [];
  for (const [label, name] of [['p1', 'Uno'], ['p2', 'Dos'], ['p3', 'Tres']]) {
    const p = await h.openPage(label);
    await p.setName(name);
    await p.setJoinWithMedia(false);
    p.__id = await p.peerId();
    pages.push(p);
  }
  pages.sort((x, y) => (x.__id < y.__id ? 1 : -1));  // descending peer id: the join order
  const joined = pages.map((p) => p.__id);

  const lobbyId = await pages[0].createLobby('Ordered');
  for (const p of pages.slice(1)) await p.joinById(lobbyId, 'Ordered');
  for (const p of pages) await p.waitParticipants(joined);
  for (const p of pages) assert.deepEqual(await storeOrder(p), joined, `${p.label} before`);

  await h.server.kill('SIGKILL');
  for (const p of pages) {
    await p.waitFor(() => document.querySelector('[data-testid="connection-status"]').dataset.state
      === 'reconnecting', null, { what: 'status reconnecting' });
  }
  await h.server.start();
  for (const p of pages) {
    await p.waitFor(() => document.querySelector('[data-testid="connection-status"]').dataset.state
      === 'connected', null, { timeout: T.reconnect, what: 'connected after the restart' });
    assert.equal((await p.session()).resumed, true);
    await p.waitParticipants(joined, { timeout: T.reconnect });
  }
  for (const p of pages) {
    assert.deepEqual(await storeOrder(p), joined, `${p.label}: store order after the restart`);
    assert.deepEqual(await shownOrder(p), joined, `${p.label}: shown order after the restart`);
  }
});
