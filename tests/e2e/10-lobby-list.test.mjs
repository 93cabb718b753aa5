// Case 10: the lobby list is pushed, not polled (issue 12). Page A stays on the lobbies view;
// page B creates a public lobby, joins it and leaves it, then the admin makes it private and
// removes another. A's list follows each change without a reload, every change reaches A as a
// lobby_listed / lobby_unlisted push, and A never sends list_lobbies while it waits.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setup, T } from './harness.mjs';

const ADMIN = 'e2e-lobby-list-admin';

async function admin(h, method, pathname, body) {
  const r = await fetch(new URL(pathname, h.server.url), {
    method,
    headers: { Authorization: `Bearer ${ADMIN}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  assert.ok(r.ok, `${method} ${pathname}: ${r.status}`);
}

// The list A shows: [{name, meta}] in order.
async function shownList(page) {
  return page.evaluate(() => [...document.querySelectorAll('[data-testid="lobby-item"]')]
    .map((li) => ({ name: li.dataset.lobbyName, id: li.dataset.lobbyId,
      meta: li.querySelector('.lobby-meta')?.textContent || '' })));
}

async function waitList(page, pred, what, arg) {
  await page.waitFor(pred, arg, { what });
}

test('the lobby list updates by push: create, participant count, private, removed',
  { timeout: T.test }, async (t) => {
    const h = await setup(t, { name: 'case10-lobby-list', serverArgs: ['--admin-token', ADMIN] });
    const a = await h.openPage('watcher');
    const b = await h.openPage('creator');
    await a.setName('Ann');
    await b.setName('Ben');

    // From here on: what A sends and which pushes reach it.
    await a.evaluate(() => {
      const conn = window.lobbykit.connection;
      window.__sent = [];
      const request = conn.request.bind(conn);
      conn.request = (type, data, ...rest) => {
        window.__sent.push(type);
        return request(type, data, ...rest);
      };
      window.__pushes = [];
      for (const type of ['lobby_listed', 'lobby_unlisted']) {
        conn.on(type, (d) => window.__pushes.push({ type, d }));
      }
    });

    const lobbyId = await b.createLobby('Pushed room');  // B creates and is in it
    await waitList(a, () => [...document.querySelectorAll('[data-testid="lobby-item"]')]
      .some((li) => li.dataset.lobbyName === 'Pushed room' &&
        /^1 person/.test(li.querySelector('.lobby-meta').textContent)),
    'A lists the new lobby with one person');
    let shown = await shownList(a);
    assert.deepEqual(shown.map((l) => l.id), [lobbyId]);

    await b.byTestId('leave').click();
    await waitList(a, () => [...document.querySelectorAll('[data-testid="lobby-item"] .lobby-meta')]
      .some((m) => /^0 people/.test(m.textContent)), 'A sees the count drop to 0');

    const other = await b.createLobby('Second room');
    await b.byTestId('leave').click();
    await waitList(a, () => document.querySelectorAll('[data-testid="lobby-item"]').length === 2,
      'A lists the second lobby');

    await admin(h, 'PATCH', `/api/admin/lobbies/${lobbyId}`, { private: true });
    await waitList(a, (id) => ![...document.querySelectorAll('[data-testid="lobby-item"]')]
      .some((li) => li.dataset.lobbyId === id), 'A drops the lobby made private', lobbyId);
    await admin(h, 'DELETE', `/api/admin/lobbies/${other}`);
    await waitList(a, () => document.querySelectorAll('[data-testid="lobby-item"]').length === 0,
      'A drops the removed lobby');

    const { sent, pushes } = await a.evaluate(() => ({ sent: window.__sent, pushes: window.__pushes }));
    assert.ok(!sent.includes('list_lobbies'), `A polled: ${sent.join(', ')}`);
    const listed = pushes.filter((p) => p.type === 'lobby_listed').map((p) => p.d.lobby.id);
    assert.ok(listed.includes(lobbyId) && listed.includes(other), 'the lobbies came as lobby_listed');
    assert.deepEqual(pushes.filter((p) => p.type === 'lobby_unlisted').map((p) => p.d.lobby_id),
      [lobbyId, other]);
    await a.assertHealthy();
  });
