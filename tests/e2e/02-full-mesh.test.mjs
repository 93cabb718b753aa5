// Case 2: a third page joins a lobby where two pages already share audio. All three pairs
// connect (full mesh), exactly one side of each pair offered, and no pair shows glare or any
// other negotiation error (the store's per-peer errors and glare count, and signalingState).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setup, T, pagesInLobby, assertNoNegotiationErrors, assertOneOffererPerPair } from './harness.mjs';

test('a third page joins: full mesh of three connected pairs, no glare',
  { timeout: T.test }, async (t) => {
    const h = await setup(t, { name: 'case2-full-mesh' });
    const { pages: [ada, bob], ids: [adaId, bobId], lobbyId } = await pagesInLobby(h, ['ada', 'bob'], 'Mesh');
    await ada.waitMeshConnected([bobId]);
    await bob.waitMeshConnected([adaId]);

    const cleo = await h.openPage('cleo');
    await cleo.setName('Cleo');
    await cleo.joinById(lobbyId, 'Mesh');
    const cleoId = await cleo.peerId();
    const all = [adaId, bobId, cleoId];
    const pages = [ada, bob, cleo];
    await Promise.all(pages.map((p) => p.waitParticipants(all)));

    const others = (id) => all.filter((x) => x !== id);
    await Promise.all(pages.map((p, i) => p.waitMeshConnected(others(all[i]))));
    for (const [i, p] of pages.entries()) {
      assert.equal(await p.byTestId('participant').count(), 3, `${p.label} lists three people`);
      for (const shown of await p.participants()) {
        assert.equal(shown.connectionState, shown.peerId === all[i] ? 'self' : 'connected');
      }
    }
    // The newcomer offers to both (should_offer: true on its side), as the protocol says.
    const cleoHealth = await cleo.pairHealth();
    assert.equal(cleoHealth[adaId].shouldOffer, true);
    assert.equal(cleoHealth[bobId].shouldOffer, true);
    await assertOneOffererPerPair(pages);

    await Promise.all(pages.map((p, i) => p.assertAudioFlowing(others(all[i]))));
    await assertNoNegotiationErrors(pages);
    for (const p of pages) await p.assertHealthy();
  });
