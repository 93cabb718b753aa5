// Case 9: the real voicebot (examples/voicebot) from the page. Chromium's microphone plays a
// WAV in which espeak-ng says "what time is it" (examples/voicebot/make_wav.sh; Chromium loops
// it). A person adds the assistant with "Add a bot"; the chat shows what the bot heard and its
// answer, and the page receives the bot's voice (inbound audio level above silence). Then the
// reader: a chat message is spoken into the call. The voicebot runs as its README says, with
// aiortc kept on loopback candidates (tests/python/voice_peer.py) as the other voice tests do.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { setup, pollUntil, T, REPO, SERVER_BIN, speechWav } from './harness.mjs';

const KEY = 'e2e-voicebot-key';

function voicebotArgv(port) {
  const launcher = [
    'import sys, runpy',
    `sys.path.insert(0, ${JSON.stringify(path.join(REPO, 'tests', 'python'))})`,
    'import voice_peer',
    'voice_peer._loopback_acquire()',
    `sys.argv = ["main.py", "--url", "ws://127.0.0.1:${port}/ws", "--key", "${KEY}", "-v"]`,
    `runpy.run_path(${JSON.stringify(path.join(REPO, 'examples', 'voicebot', 'main.py'))}, run_name="__main__")`,
  ].join('; ');
  return ['-c', launcher];
}

async function kindsAvailable(url) {
  const r = await fetch(new URL("/api/bots/kinds", url));
  const { kinds } = await r.json();
  return kinds.filter((k) => k.available).map((k) => k.kind);
}

// The highest inbound audio level (0..1, getStats) from `peerId` over `ms`.
async function peakAudioLevel(page, peerId, ms) {
  let peak = 0;
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const level = await page.evaluate(async (id) => {
      const pc = window.lobbykit.peers.connections.get(id);
      if (!pc) return 0;
      let l = 0;
      (await pc.getStats()).forEach((r) => {
        if (r.type === 'inbound-rtp' && r.kind === 'audio') l = Math.max(l, r.audioLevel || 0);
      });
      return l;
    }, peerId);
    peak = Math.max(peak, level);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return peak;
}

async function addBotFromMenu(page, kind) {
  await page.byTestId('add-bot').click();
  await page.byTestId('bot-menu').waitFor({ state: 'visible' });
  await page.page.locator(`[data-testid="bot-kind"][data-kind="${kind}"]`).click();
}

async function runningBotPeer(page, kind, timeout) {
  await page.waitFor((k) => {
    const row = document.querySelector(`[data-testid="participant-list"] [data-bot-kind="${k}"]`);
    return row?.dataset.botState === 'running' && !!row.dataset.peerId;
  }, kind, { timeout, what: `bot "${kind}" running` });
  return page.evaluate((k) => document.querySelector(
    `[data-testid="participant-list"] [data-bot-kind="${k}"]`).dataset.peerId, kind);
}

test('voicebot: the assistant hears "what time is it" and answers; the reader speaks the chat',
  { timeout: 4 * T.test }, async (t) => {
    const wav = await speechWav(t, 'what time is it');
    const h = await setup(t, {
      name: 'case9-voicebot',
      serverArgs: ['--provider-key', KEY],
      chromiumArgs: [`--use-file-for-fake-audio-capture=${wav}`],
    });
    await h.startProvider({
      key: KEY,
      argv: voicebotArgv(h.server.port),
      env: { PYTHONPATH: path.join(path.dirname(SERVER_BIN), 'python') },
    });
    await pollUntil(async () => (await kindsAvailable(h.url)).includes('assistant'),
      { timeout: T.ui * 3, what: 'the voicebot registered' });

    const ada = await h.openPage('ada');
    await ada.setName('Ada');
    await ada.setJoinWithMedia(true);
    await ada.createLobby('Voice');

    await addBotFromMenu(ada, 'assistant');
    const assistant = await runningBotPeer(ada, 'assistant', T.ui * 3);
    await ada.waitMeshConnected([assistant]);
    // The microphone keeps asking; the assistant's report of the first answer is enough.
    await ada.waitFor((id) => [...document.querySelectorAll('[data-testid="chat-message"]')]
      .some((li) => li.dataset.sender === id
        && /^Heard Ada: "what time is it"\. Answered: "It is /.test(li.querySelector('.m-text')?.textContent ?? '')),
    assistant, { timeout: T.media * 2, what: 'the assistant reports what it heard and answered' });
    const spoken = await peakAudioLevel(ada, assistant, 6000);
    assert.ok(spoken > 0.01, `the page hears the assistant (peak inbound audio level ${spoken})`);

    await addBotFromMenu(ada, 'reader');
    const reader = await runningBotPeer(ada, 'reader', T.ui * 3);
    await ada.waitMeshConnected([assistant, reader]);
    await ada.waitFor((id) => [...document.querySelectorAll('[data-testid="chat-message"]')]
      .some((li) => li.dataset.sender === id), reader, { timeout: T.media, what: 'the reader says hello' });
    const quiet = await peakAudioLevel(ada, reader, 1500);
    await ada.sendChat('The meeting moves to room four at noon');
    const reading = await peakAudioLevel(ada, reader, 6000);
    assert.ok(reading > 0.01 && reading > 3 * quiet,
      `the page hears the reader read the chat (peak ${reading}, before ${quiet})`);
  });
