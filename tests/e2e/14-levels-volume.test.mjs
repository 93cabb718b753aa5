// Case 14: audio levels and volume. Each person's microphone is a recording of speech (a
// phrase of about two seconds, then a second of silence, looped), and each page's people list
// shows a level that moves and a speaking ring, for the other person (from the received
// stream) and for yourself (from your microphone). The volume slider on the other person's row
// is reachable from the keyboard and sets the playback volume of their audio.
//
// Not Chromium's built-in fake microphone: its beep is a steady tone, which the browser's noise
// suppression and gain control treat differently from run to run (peaks seen from 0.07 to
// 1.0), and it repeats every half second, faster than the meter falls. And each person has a
// browser of their own: two pages of one browser share its echo canceller, which hears one
// page's sound played by the other as echo and removes it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setup, T, pollUntil, pagesInLobby, speechWav } from './harness.mjs';

async function levelsOf(page, peerId) {
  return page.evaluate((id) => {
    const row = document.querySelector(`[data-testid="participant"][data-peer-id="${id}"]`);
    return { level: Number(row?.dataset.level || 0), speaking: row?.dataset.speaking === 'true' };
  }, peerId);
}

test('levels move for you and the others; the volume slider sets their playback volume',
  { timeout: T.test }, async (t) => {
    const wav = await speechWav(t, 'hello there, can you hear me', { lead: 0.2, tail: 1.2 });
    const h = await setup(t, {
      name: 'case14-levels-volume',
      browserPerPage: true,
      chromiumArgs: [`--use-file-for-fake-audio-capture=${wav}`],
    });
    const { pages, ids } = await pagesInLobby(h, ['ada', 'bob'], 'Levels');
    const [ada, bob] = pages;
    const [adaId, bobId] = ids;
    await ada.waitMeshConnected([bobId]);
    await bob.waitMeshConnected([adaId]);

    // Within a few seconds of speech each level has been well above silence and the speaking
    // ring has shown, for both people.
    for (const id of [bobId, adaId]) {
      let seen = { level: 0, speaking: false };
      await pollUntil(async () => {
        const now = await levelsOf(ada, id);
        seen = { level: Math.max(seen.level, now.level), speaking: seen.speaking || now.speaking };
        return seen.level > 0.2 && seen.speaking;
      }, { timeout: T.media, interval: 50, what: `a moving level for ${id === adaId ? 'Ada herself' : 'Bob'} on Ada's page` });
    }
    // And the level falls again in the pause after the phrase: it is a meter, not a latch.
    await pollUntil(async () => (await levelsOf(ada, bobId)).level < 0.05,
      { timeout: T.media, interval: 50, what: "Bob's level falling in the pause" });

    // Your own row has no volume slider; Bob's has one, labelled for screen readers.
    const mine = ada.page.locator(`[data-testid="participant"][data-peer-id="${adaId}"] [data-testid="volume"]`);
    assert.equal(await mine.isVisible(), false);
    const slider = ada.page.locator(`[data-testid="participant"][data-peer-id="${bobId}"] [data-testid="volume"]`);
    assert.equal(await slider.getAttribute('aria-label'), 'Volume for Bob');
    const volumeOfBob = () => ada.evaluate((id) =>
      document.querySelector(`#audio-sink audio[data-peer-id="${id}"]`).volume, bobId);
    assert.equal(await volumeOfBob(), 1);
    await slider.focus();
    await ada.page.keyboard.press('Home');
    assert.equal(await slider.inputValue(), '0');
    assert.equal(await volumeOfBob(), 0);
    await ada.page.keyboard.press('ArrowRight');
    await ada.page.keyboard.press('ArrowRight');
    assert.equal(await volumeOfBob(), 0.1);
  });
