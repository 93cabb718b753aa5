// Case 12: what the call page shows while the server is away. The server is killed during a
// call: the page shows one steady "Reconnecting…" with "Retry now" (no countdown flicker), a
// banner that says the call continues — and it does, audio keeps flowing peer to peer — and
// why Send is disabled. Muting meanwhile shows in your own row as on the button. When the
// server is back, a short "Reconnected" note replaces the banner. Also: the camera button
// names its action, and the lobby's name outranks its id in the header.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setup, T, pagesInLobby } from './harness.mjs';

test('outage: steady status, the call continues, Send says why, mute shows, reconnected note',
  { timeout: T.test }, async (t) => {
    const h = await setup(t, { name: 'case12-outage' });
    const { pages, ids } = await pagesInLobby(h, ['ada', 'bob'], 'Weekly call');
    const [ada, bob] = pages;
    const [adaId, bobId] = ids;
    await ada.waitMeshConnected([bobId]);
    await bob.waitMeshConnected([adaId]);

    // The header: the name is what stands out; the id is small print.
    const sizes = await ada.evaluate(() => {
      const px = (id) => parseFloat(getComputedStyle(document.getElementById(id)).fontSize);
      return { title: px('lobby-title'), id: px('lobby-id') };
    });
    assert.ok(sizes.id < sizes.title * 0.6, `lobby id ${sizes.id}px against title ${sizes.title}px`);
    assert.equal((await ada.byTestId('camera').textContent()).trim(), 'Turn camera on');
    assert.equal(await ada.byTestId('outage-banner').isVisible(), false);

    await h.server.kill('SIGKILL');
    await ada.byTestId('outage-banner').waitFor({ state: 'visible', timeout: T.reconnect });
    assert.match(await ada.byTestId('outage-banner').textContent(), /call continues/);

    // Three seconds of the outage, sampled: one label, and Retry now stays put.
    const seen = new Set();
    for (let i = 0; i < 15; i++) {
      seen.add(await ada.evaluate(() => {
        const label = document.querySelector('.status-label').textContent;
        const retry = !document.querySelector('[data-testid="retry-now"]').hidden;
        return `${label}|retry ${retry}`;
      }));
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.deepEqual([...seen], ['Reconnecting…|retry true']);

    // Chat waits, and says so.
    assert.equal(await ada.byTestId('chat-send').isDisabled(), true);
    assert.equal(await ada.byTestId('chat-offline-reason').isVisible(), true);

    // The call itself goes on without the server.
    await ada.assertAudioFlowing([bobId]);
    await bob.assertAudioFlowing([adaId]);

    // Muting offline: the button and your own row agree at once.
    await ada.byTestId('mute').click();
    assert.equal((await ada.byTestId('mute').textContent()).trim(), 'Unmute');
    const me = ada.page.locator(`[data-testid="participant"][data-peer-id="${adaId}"]`);
    assert.equal(await me.getAttribute('data-audio-muted'), 'true');
    assert.match(await me.locator('.p-sub').textContent(), /muted/);

    await h.server.start();
    await ada.byTestId('reconnected-note').waitFor({ state: 'visible', timeout: T.reconnect });
    assert.equal(await ada.byTestId('outage-banner').isVisible(), false);
    assert.equal(await ada.byTestId('chat-offline-reason').isVisible(), false);
    await ada.page.waitForFunction(() => !document.querySelector('[data-testid="chat-send"]').disabled,
      null, { timeout: T.ui, polling: 100 });
    // The note goes by itself.
    await ada.byTestId('reconnected-note').waitFor({ state: 'hidden', timeout: 10_000 });
    // The server heard of the mute once it was back: Bob sees Ada muted.
    await bob.page.waitForFunction((id) => document.querySelector(
      `[data-testid="participant"][data-peer-id="${id}"]`)?.dataset.audioMuted === 'true',
    adaId, { timeout: T.reconnect, polling: 100 });
  });
