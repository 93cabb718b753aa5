// Case 17: a failed media link can be tried again by hand. When the link with someone fails,
// their row says "failed" and shows "Reconnect"; pressing it restarts ICE on that pair at once
// (the page also does so by itself every few seconds on the offering side), from either side
// of the pair, and the call carries on over the same peer connection.
//
// A real failure of a loopback link cannot be made to order in Chromium, so the row is told
// the link failed (the store's pair state, which is what the page draws from); everything the
// button then does is real: new ICE credentials on both sides, the pair connected, audio.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setup, T, pollUntil, pagesInLobby, assertNoNegotiationErrors } from './harness.mjs';

// The ICE username fragments of the pair's current local and remote descriptions.
async function ufrags(page, peerId) {
  return page.evaluate((id) => {
    const pc = window.lobbykit.peers.connections.get(id);
    const frag = (d) => /a=ice-ufrag:(\S+)/.exec(d?.sdp || '')?.[1] || null;
    return { local: frag(pc.currentLocalDescription), remote: frag(pc.currentRemoteDescription) };
  }, peerId);
}

test('a failed link shows Reconnect, which restarts ICE on that pair from either side',
  { timeout: T.test }, async (t) => {
    const h = await setup(t, { name: 'case17-pair-retry' });
    const { pages, ids } = await pagesInLobby(h, ['ada', 'bob'], 'Links');
    const [ada, bob] = pages;
    const [adaId, bobId] = ids;
    await ada.waitMeshConnected([bobId]);
    await bob.waitMeshConnected([adaId]);

    for (const [page, otherId, other] of [[ada, bobId, bob], [bob, adaId, ada]]) {
      const row = `[data-testid="participant"][data-peer-id="${otherId}"]`;
      const retry = page.page.locator(`${row} [data-testid="pair-retry"]`);
      assert.equal(await retry.isVisible(), false, `${page.label}: no Reconnect while connected`);
      await page.evaluate((id) => window.lobbykit.store.setPeer(id, { connectionState: 'failed' }), otherId);
      await page.waitFor((sel) => document.querySelector(`${sel} [data-testid="pair-state"]`).textContent === 'failed',
        row, { what: `${page.label}: the row says failed` });
      assert.equal(await retry.isVisible(), true);
      assert.match(await retry.getAttribute('aria-label'), /^Reconnect audio and video with /);

      const before = await ufrags(page, otherId);
      const pcBefore = await page.evaluate((id) => { window.__pc = window.lobbykit.peers.connections.get(id); return true; }, otherId);
      assert.ok(pcBefore);
      await retry.click();
      // New credentials on both ends of the same pair, and the pair connected again.
      await pollUntil(async () => {
        const now = await ufrags(page, otherId);
        return now.local && now.remote && now.local !== before.local && now.remote !== before.remote;
      }, { timeout: T.media, what: `${page.label}: an ICE restart with new credentials on both sides` });
      const mine = await ufrags(page, otherId);
      const theirs = await ufrags(other, page === ada ? adaId : bobId);
      assert.deepEqual([theirs.local, theirs.remote], [mine.remote, mine.local], 'both sides agree');
      assert.equal(await page.evaluate((id) => window.lobbykit.peers.connections.get(id) === window.__pc, otherId), true,
        'the same peer connection');
      await page.waitMeshConnected([otherId]);
      assert.equal(await retry.isVisible(), false, `${page.label}: Reconnect gone once connected`);
    }
    await ada.assertAudioFlowing([bobId]);
    await bob.assertAudioFlowing([adaId]);
    await assertNoNegotiationErrors([ada, bob]);
  });
