// Case 3: one of three pages closes. The other two show it as away ("reconnecting…",
// data-online=false) during the resume grace and remove it when the grace ends, close their
// pair with it, and keep their own pair and audio.
//
// Documented time (docs/protocol.md "Connection lifecycle", docs/architecture.md): a member
// whose connection is gone keeps its place for the resume grace (`--resume-grace-ms`, default
// 60 s); the server checks graces once a second (Hub lobby tick), then sends
// participant_left (grace_expired) and peer_removed. The test runs the server with a 3 s grace
// and allows grace + 2 s (one 1 s tick plus 1 s for detecting the close and delivery).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setup, T, pagesInLobby } from './harness.mjs';

const GRACE_MS = 3000;
const TICK_MARGIN_MS = 2000;

test('a page closes: the others remove it within resume grace + 2 s',
  { timeout: T.test }, async (t) => {
    const h = await setup(t, { name: 'case3-page-closes', serverArgs: ['--resume-grace-ms', String(GRACE_MS)] });
    const { pages: [ada, bob, cleo], ids: [adaId, bobId, cleoId] } =
      await pagesInLobby(h, ['ada', 'bob', 'cleo'], 'Leavers');
    const all = [adaId, bobId, cleoId];
    await Promise.all([ada, bob, cleo].map((p) => p.waitParticipants(all)));
    await ada.waitMeshConnected([bobId, cleoId]);
    await bob.waitMeshConnected([adaId, cleoId]);
    await cleo.waitMeshConnected([adaId, bobId]);

    // Each remaining page records (page clock) when it first shows Cleo away and when its
    // list drops her, with a MutationObserver, so both pages are watched at the same time.
    for (const p of [ada, bob]) {
      await p.evaluate((id) => {
        const list = document.querySelector('[data-testid="participant-list"]');
        const check = () => {
          const li = list.querySelector(`[data-testid="participant"][data-peer-id="${id}"]`);
          if (!li) window.__e2eGone ??= Date.now();
          else if (li.dataset.online === 'false') window.__e2eAway ??= Date.now();
        };
        new MutationObserver(check).observe(list, { subtree: true, childList: true, attributes: true });
      }, cleoId);
    }

    const closedAt = Date.now();
    await cleo.close();

    const limit = GRACE_MS + TICK_MARGIN_MS;
    for (const p of [ada, bob]) {
      const goneAt = await p.waitFor(() => window.__e2eGone, null, { timeout: limit + 5000, what: 'Cleo removed' });
      const awayAt = await p.evaluate(() => window.__e2eAway ?? null);
      const took = goneAt - closedAt;
      t.diagnostic(`${p.label}: Cleo shown away after ${awayAt ? awayAt - closedAt : 'never'} ms, `
        + `removed after ${took} ms (grace ${GRACE_MS} ms, limit ${limit} ms)`);
      assert.ok(awayAt !== null && awayAt < goneAt, `${p.label} showed Cleo as away during the grace`);
      assert.ok(took <= limit, `${p.label} removed Cleo within grace + ${TICK_MARGIN_MS} ms (took ${took} ms)`);
      assert.ok(took >= GRACE_MS - 200, `${p.label} kept Cleo for the resume grace (removed after ${took} ms)`);
    }

    for (const [p, other] of [[ada, bobId], [bob, adaId]]) {
      await p.waitParticipants([adaId, bobId]);
      assert.equal(await p.page.locator('#people-count').textContent(), '2', 'the people count says 2');
      // peer_removed closed the pair with Cleo; the pair between the two others stays up.
      await p.waitFor((id) => !window.lobbykit.peers.connections.has(id), cleoId,
        { what: 'pair with Cleo closed' });
      const health = await p.pairHealth();
      assert.deepEqual(Object.keys(health), [other]);
      assert.equal(health[other].connectionState, 'connected');
      assert.deepEqual(health[other].errors, []);
      await p.assertAudioFlowing([other]);
      await p.assertHealthy();
    }
  });
