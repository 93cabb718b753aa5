// Case 16: screen sharing, and camera tiles. Ada shares her screen: it goes to Bob as a second video track of
// the pair they already have (no new peer connection), Bob's page shows it as "Ada's screen"
// with moving pictures and Ada's row says so; Ada's camera stays what it was. Stopping (or the
// browser ending the capture) removes it from Bob's page.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setup, T, pollUntil, pagesInLobby } from './harness.mjs';

// The screen tile for this peer on the page: {shown, width, time} of its <video>.
async function screenTile(page, peerId) {
  return page.evaluate((id) => {
    const v = document.querySelector(`[data-testid="screen-tile"][data-peer-id="${id}"] video`);
    return v ? { shown: true, width: v.videoWidth, time: v.currentTime, caption: v.nextElementSibling?.textContent }
      : { shown: false };
  }, peerId);
}

test('screen sharing reaches the others as a second video track and goes away when stopped',
  { timeout: T.test }, async (t) => {
    const h = await setup(t, { name: 'case16-screen', chromiumArgs: ['--auto-select-desktop-capture-source=Entire screen'] });
    const { pages, ids } = await pagesInLobby(h, ['ada', 'bob'], 'Screens');
    const [ada, bob] = pages;
    const [adaId, bobId] = ids;
    await ada.waitMeshConnected([bobId]);
    await bob.waitMeshConnected([adaId]);
    const pcBefore = await bob.evaluate((id) => window.lobbykit.peers.connections.get(id) !== undefined, adaId);
    assert.equal(pcBefore, true);
    await bob.evaluate((id) => { window.__pairWithAda = window.lobbykit.peers.connections.get(id); }, adaId);

    const share = ada.byTestId('share-screen');
    assert.equal(await share.textContent(), 'Share screen');
    await share.click();
    await ada.waitFor(() => document.querySelector('[data-testid="share-screen"]').getAttribute('aria-pressed') === 'true',
      undefined, { what: 'the button pressed while presenting' });
    assert.equal(await share.textContent(), 'Stop presenting');
    assert.equal(await ada.byTestId('screen-tile').count(), 1, 'Ada sees her own screen');

    // Bob: a tile named for Ada, whose picture has a size and moves, on the same pair.
    let first = null;
    await pollUntil(async () => {
      const tile = await screenTile(bob, adaId);
      if (!tile.shown || !(tile.width > 0)) return false;
      if (!first) first = tile;
      return tile.time > first.time + 0.5;
    }, { timeout: T.media, what: "Ada's screen playing on Bob's page" });
    assert.equal((await screenTile(bob, adaId)).caption, "Ada's screen");
    assert.equal(await bob.evaluate((id) => window.lobbykit.peers.connections.get(id) === window.__pairWithAda, adaId), true,
      'the screen came on the pair that was there');
    const row = bob.page.locator(`[data-testid="participant"][data-peer-id="${adaId}"] .p-sub`);
    assert.match(await row.textContent(), /sharing screen/);
    // A screen, not a camera: no camera tile for Ada.
    assert.equal(await bob.page.locator(`[data-testid="video-tile"][data-peer-id="${adaId}"]`).count(), 0);

    // Stop: the tile goes from Bob's page and the row no longer says so.
    await share.click();
    await bob.waitFor((id) => !document.querySelector(`[data-testid="screen-tile"][data-peer-id="${id}"]`), adaId,
      { what: "Ada's screen gone from Bob's page" });
    assert.doesNotMatch(await row.textContent(), /sharing screen/);
    assert.equal(await ada.byTestId('screen-tile').count(), 0);

    // Again, and this time the browser ends the capture (its own "Stop sharing" bar).
    await share.click();
    await pollUntil(async () => (await screenTile(bob, adaId)).shown, { timeout: T.media, what: 'shared again' });
    await ada.evaluate(() => {
      const track = window.lobbykit.peers.screenTrack;
      track.stop();
      track.dispatchEvent(new Event('ended')); // stop() alone fires no 'ended' on this page
    });
    await bob.waitFor((id) => !document.querySelector(`[data-testid="screen-tile"][data-peer-id="${id}"]`), adaId,
      { what: "Ada's screen gone after the browser ended it" });
    assert.equal(await share.textContent(), 'Share screen');
    await ada.assertHealthy();
    await bob.assertHealthy();
  });

test('camera tiles come and go with cameras; your own is mirrored, audio-only people have none',
  { timeout: T.test }, async (t) => {
    const h = await setup(t, { name: 'case16-camera-tiles' });
    const { pages, ids } = await pagesInLobby(h, ['ada', 'bob'], 'Cameras');
    const [ada, bob] = pages;
    const [adaId, bobId] = ids;
    await ada.waitMeshConnected([bobId]);
    await bob.waitMeshConnected([adaId]);
    const tile = (page, id) => page.evaluate((peer) => {
      const v = document.querySelector(`[data-testid="video-tile"][data-peer-id="${peer}"] video`);
      return v ? { width: v.videoWidth, time: v.currentTime } : null;
    }, id);
    assert.equal(await bob.page.locator('[data-testid="video-tile"]').count(), 0, 'no cameras, no tiles');

    await ada.byTestId('camera').click();
    let first = null;
    await pollUntil(async () => {
      const now = await tile(bob, adaId);
      if (!now || !(now.width > 0)) return false;
      if (!first) first = now;
      return now.time > first.time + 0.5;
    }, { timeout: T.media, what: "Ada's camera playing on Bob's page" });
    // Ada's own preview is mirrored; Bob (audio only) has no tile on either page.
    const self = await ada.evaluate(() => {
      const v = document.querySelector('[data-testid="video-tile"].self video');
      return v ? getComputedStyle(v).transform : null;
    });
    assert.equal(self, 'matrix(-1, 0, 0, 1, 0, 0)', 'your own camera is shown mirrored');
    assert.equal(await ada.page.locator(`[data-testid="video-tile"][data-peer-id="${bobId}"]`).count(), 0);
    assert.match(await bob.page.locator(`[data-testid="participant"][data-peer-id="${adaId}"] .p-sub`).textContent(),
      /camera on/);

    await ada.byTestId('camera').click();
    await bob.waitFor((id) => !document.querySelector(`[data-testid="video-tile"][data-peer-id="${id}"]`), adaId,
      { what: "Ada's tile gone from Bob's page" });
    assert.equal(await ada.page.locator('[data-testid="video-tile"]').count(), 0, 'the preview went too');
  });
