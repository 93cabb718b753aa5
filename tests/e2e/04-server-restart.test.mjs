// Case 4: the server is killed (SIGKILL) and started again on the same port and database.
// Both pages show that they reconnect, resume the same peer id (welcome.resumed), are back in
// the same lobby with both members online, the chat history is intact (on the page and as the
// server returns it), new chat continues at the next offset, and the media mesh comes back:
// new RTCPeerConnections reach 'connected' and inbound audio packets increase again.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setup, T, pagesInLobby, assertNoNegotiationErrors } from './harness.mjs';

test('server killed and restarted: pages resume, re-enter the lobby, keep chat, media reconnects',
  { timeout: T.test }, async (t) => {
    const h = await setup(t, { name: 'case4-server-restart' });
    const { pages, ids, lobbyId } = await pagesInLobby(h, ['ada', 'bob'], 'Durable');
    const [ada, bob] = pages;
    const [adaId, bobId] = ids;
    await ada.waitMeshConnected([bobId]);
    await bob.waitMeshConnected([adaId]);
    await ada.assertAudioFlowing([bobId]);

    await ada.sendChat('before the crash 1');
    await bob.sendChat('before the crash 2');
    await ada.waitChat('before the crash 2', bobId);
    await bob.waitChat('before the crash 1', adaId);
    const chatBefore = await ada.chat();
    assert.deepEqual(chatBefore.map((m) => m.offset), [1, 2]);

    // Tag the current peer connections, to tell the new ones from them afterwards.
    for (const p of pages) {
      await p.evaluate(() => {
        for (const pc of window.lobbykit.peers.connections.values()) pc.__e2eBeforeRestart = true;
      });
    }

    const port = h.server.port;
    const exit = await h.server.kill('SIGKILL');
    assert.equal(exit.signal, 'SIGKILL');
    for (const p of pages) {
      await p.waitFor(() => document.querySelector('[data-testid="connection-status"]').dataset.state
        === 'reconnecting', null, { what: 'status reconnecting' });
    }
    const restartAt = Date.now();
    await h.server.start();
    assert.equal(h.server.port, port);

    for (const [p, myId] of [[ada, adaId], [bob, bobId]]) {
      await p.waitFor(() => document.querySelector('[data-testid="connection-status"]').dataset.state
        === 'connected', null, { timeout: T.reconnect, what: 'status connected after the restart' });
      const s = await p.session();
      assert.equal(s.peerId, myId, `${p.label} resumed the same peer id`);
      assert.equal(s.resumed, true, `${p.label}: the server resumed the session`);
      assert.equal(await p.waitInLobby('Durable', { timeout: T.reconnect }), lobbyId);
      await p.waitParticipants([adaId, bobId], { timeout: T.reconnect });
    }
    t.diagnostic(`both pages connected and back in the lobby ${Date.now() - restartAt} ms after the restart`);

    // Media: the restored pages re-enter the mesh (update_media), with new peer connections.
    const meshMs = Math.max(
      await ada.waitMeshConnected([bobId], { timeout: T.reconnect }),
      await bob.waitMeshConnected([adaId], { timeout: T.reconnect }));
    t.diagnostic(`media mesh connected again ${Date.now() - restartAt} ms after the restart (${meshMs} ms wait)`);
    for (const p of pages) {
      assert.equal(await p.evaluate(() => [...window.lobbykit.peers.connections.values()]
        .some((pc) => pc.__e2eBeforeRestart)), false, `${p.label} uses new peer connections`);
    }
    await ada.assertAudioFlowing([bobId]);
    await bob.assertAudioFlowing([adaId]);
    await assertNoNegotiationErrors(pages);

    // Chat history: the same on the page, and the restarted server still has it.
    for (const p of pages) {
      assert.deepEqual((await p.chat()).map((m) => [m.offset, m.sender, m.text]),
        chatBefore.map((m) => [m.offset, m.sender, m.text]), `${p.label} shows the same chat`);
      const fromServer = await p.evaluate(() => window.lobbykit.connection.request('chat_history', { after: 0 }));
      assert.deepEqual(fromServer.messages.map((m) => [m.offset, m.sender, m.text]),
        chatBefore.map((m) => [m.offset, m.sender, m.text]), 'the restarted server kept the history');
      assert.equal(fromServer.complete, true);
    }
    await bob.sendChat('after the restart');
    await ada.waitChat('after the restart', bobId);
    assert.deepEqual((await ada.chat()).map((m) => m.offset), [1, 2, 3], 'offsets continue after the restart');

    for (const p of pages) await p.assertHealthy();
  });
