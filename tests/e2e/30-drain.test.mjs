// Case 30: graceful drain. The first server gets SIGTERM while two pages are in a call; it
// tells each page to reconnect at the address in --drain-url (a "reconnect" push, then close
// 1001) and exits. A second server on that address, on the same database, takes the pages
// back: same peer ids, the same lobby, the chat kept, and the call's media reconnects.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { setup, T, Server, pagesInLobby } from './harness.mjs';

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

test('SIGTERM drains: pages follow the reconnect hint to the next server and keep the call',
  { timeout: T.test }, async (t) => {
    const nextPort = await freePort();
    const h = await setup(t, {
      name: 'case30-drain',
      serverArgs: ['--drain-ms', '1000', '--drain-url', `ws://127.0.0.1:${nextPort}/ws`],
    });
    const { pages, ids, lobbyId } = await pagesInLobby(h, ['ada', 'bob'], 'Moving');
    const [ada, bob] = pages;
    const [adaId, bobId] = ids;
    await ada.waitMeshConnected([bobId]);
    await bob.waitMeshConnected([adaId]);
    await ada.sendChat('before the drain');
    await bob.waitChat('before the drain', adaId);
    for (const p of pages) {
      await p.evaluate(() => {
        window.__e2eHints = [];
        window.lobbykit.connection.on('reconnect', (d) => window.__e2eHints.push(d));
      });
    }

    const exit = await h.server.kill('SIGTERM');  // returns once the drain is over
    assert.equal(exit.code, 0, 'a drained server exits 0');
    for (const p of pages) {
      const hints = await p.evaluate(() => window.__e2eHints);
      assert.equal(hints.length, 1, `${p.label} was told to reconnect once`);
      assert.equal(hints[0].url, `ws://127.0.0.1:${nextPort}/ws`);
    }

    // The next server: same database, the address the hint named.
    const next = new Server(h.dir, ['--drain-ms', '0']);
    next.port = nextPort;
    await next.start();
    t.after(() => next.stop());
    for (const [p, myId] of [[ada, adaId], [bob, bobId]]) {
      await p.waitFor(() => document.querySelector('[data-testid="connection-status"]').dataset.state
        === 'connected', null, { timeout: T.reconnect, what: 'connected to the next server' });
      const s = await p.session();
      assert.equal(s.peerId, myId, `${p.label} resumed its session on the next server`);
      assert.equal(s.resumed, true);
      assert.equal(await p.waitInLobby('Moving', { timeout: T.reconnect }), lobbyId);
      await p.waitParticipants([adaId, bobId], { timeout: T.reconnect });
      assert.ok((await p.chat()).some((m) => m.text === 'before the drain'), `${p.label} kept the chat`);
    }
    await ada.waitMeshConnected([bobId], { timeout: T.reconnect });
    await bob.waitMeshConnected([adaId], { timeout: T.reconnect });
    await bob.sendChat('on the next server');
    await ada.waitChat('on the next server', bobId);
  });
