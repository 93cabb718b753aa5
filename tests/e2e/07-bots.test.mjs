// Case 7: bots in the demo page. A bot provider process (tests/integration/provider_proc.py)
// offers "assistant" and "reader". A page opens "Add a bot" with the keyboard, sees both
// kinds with their descriptions, adds "assistant", and shows the bot in the people list with
// the bot badge and the state "running"; a page that joins later gets it from the join
// snapshot. Adding a second bot over the lobby's quota shows a readable error. "Remove" takes
// the bot out on both pages. With a bot running again, the provider is killed (SIGKILL): after
// the reclaim window both pages show the dispatch waiting because no bot host is available,
// and "Add a bot" says why it cannot add one. A second case: a bot whose offer no provider
// answers ends "failed" with the reason in words, and "Try again" starts it on a provider
// that works.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { setup, T, ARTIFACTS } from './harness.mjs';

const KEY = 'e2e-provider-key';
const RECLAIM_MS = 1000;

const botRow = (kind) => `[data-bot-kind="${kind}"]`;

// Waits until the page shows a row for a bot dispatch of `kind` in `state` (and, when given,
// with that reason); returns what the row shows.
async function waitBotState(page, kind, state, { reason, timeout = T.ui } = {}) {
  await page.waitFor(({ sel, st, why }) => {
    const row = document.querySelector(`[data-testid="participant-list"] ${sel}`);
    const el = row?.querySelector('[data-testid="bot-state"]');
    return !!el && row.dataset.botState === st && el.dataset.state === st
      && (why === undefined || el.dataset.reason === why);
  }, { sel: botRow(kind), st: state, why: reason }, { timeout, what: `bot "${kind}" ${state}` });
  return botRowShown(page, kind);
}

async function botRowShown(page, kind) {
  return page.evaluate((sel) => {
    const row = document.querySelector(`[data-testid="participant-list"] ${sel}`);
    if (!row) return null;
    const visible = (n) => !!n && !n.hidden && n.getClientRects().length > 0;
    const badge = row.querySelector('[data-testid="bot-badge"]');
    return {
      testid: row.dataset.testid,
      peerId: row.dataset.peerId,
      name: row.querySelector('.p-label').textContent,
      hasMedia: row.dataset.hasMedia,
      badge: visible(badge) ? badge.textContent : null,
      stateText: row.querySelector('[data-testid="bot-state"]').textContent,
      sub: row.querySelector('.p-sub').textContent,
      remove: visible(row.querySelector('[data-testid="bot-remove"]')),
      retry: visible(row.querySelector('[data-testid="bot-retry"]')),
    };
  }, botRow(kind));
}

async function waitNoBot(page, kind) {
  await page.waitFor((sel) => !document.querySelector(`[data-testid="participant-list"] ${sel}`),
    botRow(kind), { what: `no bot "${kind}" in the people list` });
}

test('bots: add from the menu, shown with a badge and state, removed, waiting after the provider dies',
  { timeout: T.test }, async (t) => {
    const h = await setup(t, {
      name: 'case7-bots',
      serverArgs: ['--provider-key', KEY, '--bot-reclaim-ms', String(RECLAIM_MS),
        '--bot-retry-ms', '500', '--max-bots-per-lobby', '1'],
    });
    const provider = await h.startProvider({ key: KEY, kinds: ['assistant', 'reader'] });

    const ada = await h.openPage('ada');
    await ada.setName('Ada');
    await ada.setJoinWithMedia(false);
    const lobbyId = await ada.createLobby('Bots');
    const adaId = await ada.peerId();

    // "Add a bot" with the keyboard: Enter opens the menu, the focus goes to the first kind.
    const addBot = ada.byTestId('add-bot');
    assert.equal(await addBot.getAttribute('aria-haspopup'), 'menu');
    assert.equal(await addBot.getAttribute('aria-expanded'), 'false');
    await addBot.focus();
    await ada.page.keyboard.press('Enter');
    await ada.byTestId('bot-menu').waitFor({ state: 'visible' });
    assert.equal(await addBot.getAttribute('aria-expanded'), 'true');
    await ada.screenshot(path.join(ARTIFACTS, 'e2e-bot-menu.png'));
    const kinds = await ada.evaluate(() => [...document.querySelectorAll('[data-testid="bot-kind"]')]
      .map((li) => ({
        kind: li.dataset.kind,
        role: li.getAttribute('role'),
        disabled: li.getAttribute('aria-disabled'),
        name: document.getElementById(li.getAttribute('aria-labelledby')).textContent,
        about: document.getElementById(li.getAttribute('aria-describedby')).textContent,
      })));
    assert.deepEqual(kinds, [
      { kind: 'assistant', role: 'menuitem', disabled: 'false', name: 'assistant', about: 'assistant for tests' },
      { kind: 'reader', role: 'menuitem', disabled: 'false', name: 'reader', about: 'reader for tests' },
    ]);
    const focusedKind = () => ada.evaluate(() => document.activeElement?.dataset.kind ?? null);
    assert.equal(await focusedKind(), 'assistant', 'the focus is on the first kind');
    await ada.page.keyboard.press('ArrowDown');
    assert.equal(await focusedKind(), 'reader');
    await ada.page.keyboard.press('ArrowDown');
    assert.equal(await focusedKind(), 'assistant', 'the focus wraps around');
    await ada.page.keyboard.press('Escape');
    await ada.byTestId('bot-menu').waitFor({ state: 'hidden' });
    assert.equal(await ada.evaluate(() => document.activeElement?.dataset.testid), 'add-bot',
      'Escape puts the focus back on the button');
    await ada.page.keyboard.press('ArrowDown');
    await ada.byTestId('bot-menu').waitFor({ state: 'visible' });
    assert.equal(await focusedKind(), 'assistant');
    await ada.page.keyboard.press('Enter');
    await ada.byTestId('bot-menu').waitFor({ state: 'hidden' });

    // The bot joins: its row holds the participant, with the badge and the state "running".
    const joined = await provider.waitEvent((e) => e.event === 'joined', { what: 'the bot joined' });
    let shown = await waitBotState(ada, 'assistant', 'running');
    assert.equal(shown.testid, 'participant');
    assert.equal(shown.peerId, joined.peer_id, 'the row is the bot\'s participant');
    assert.equal(shown.name, joined.name);
    assert.equal(shown.badge, 'bot');
    assert.equal(shown.stateText, 'Running');
    assert.equal(shown.hasMedia, 'false');
    assert.doesNotMatch(shown.sub, /camera/, 'a bot is never shown with a camera');
    assert.equal(shown.remove, true);
    assert.equal(shown.retry, false);
    await ada.waitParticipants([adaId, joined.peer_id]);
    const dispatch = await ada.evaluate(() => window.lobbykit.store.getState().bots);
    assert.equal(dispatch.length, 1);
    assert.equal(dispatch[0].kind, 'assistant');
    assert.equal(dispatch[0].lobby_id, lobbyId);
    assert.equal(dispatch[0].bot_peer_id, joined.peer_id);

    // A page that joins now gets the bot from the join snapshot.
    const bob = await h.openPage('bob');
    await bob.setName('Bob');
    await bob.setJoinWithMedia(false);
    await bob.joinById(lobbyId, 'Bots');
    const bobId = await bob.peerId();
    shown = await waitBotState(bob, 'assistant', 'running');
    assert.equal(shown.peerId, joined.peer_id);
    assert.equal(shown.badge, 'bot');

    await ada.screenshot(path.join(ARTIFACTS, 'e2e-bot-running.png'));

    // Over the lobby's quota (1 bot): a readable error, no second bot.
    await ada.byTestId('add-bot').click();
    await ada.page.locator('[data-testid="bot-kind"][data-kind="reader"]').click();
    const quota = await ada.waitForError('bot_quota');
    assert.match(quota.text, /^The bot could not be added: this lobby already has as many bots as it may have/);
    assert.equal(await ada.page.locator('[data-testid="bot-dispatch"]').count(), 0);

    // Remove: the bot leaves both pages' lists.
    await ada.page.locator(`${botRow('assistant')} [data-testid="bot-remove"]`).click();
    await provider.waitEvent((e) => e.event === 'cancel' && e.reason === 'removed', { what: 'job cancelled' });
    for (const p of [ada, bob]) {
      await waitNoBot(p, 'assistant');
      await p.waitParticipants([adaId, bobId]);
      assert.deepEqual(await p.evaluate(() => window.lobbykit.store.getState().bots), []);
    }
    assert.equal(await ada.evaluate(() => document.activeElement?.dataset.testid), 'add-bot',
      'the focus stays in the people card after the row went away');

    // Again, by mouse; then the provider dies.
    await ada.byTestId('add-bot').click();
    await ada.page.locator('[data-testid="bot-kind"][data-kind="assistant"]').click();
    const second = await provider.waitEvent((e) => e.event === 'joined' && e.peer_id !== joined.peer_id,
      { what: 'the second bot joined' });
    await waitBotState(ada, 'assistant', 'running');
    await waitBotState(bob, 'assistant', 'running');

    const exit = await provider.kill('SIGKILL');
    assert.equal(exit.signal, 'SIGKILL');
    const killedAt = Date.now();
    for (const p of [ada, bob]) {
      shown = await waitBotState(p, 'assistant', 'waiting', { reason: 'no_provider' });
      assert.equal(shown.stateText, 'Waiting: no bot host is available');
      assert.equal(shown.badge, 'bot');
      assert.equal(shown.remove, true);
      await p.waitParticipants([adaId, bobId]); // the dead provider's bot session is gone
    }
    const waitedMs = Date.now() - killedAt;
    t.diagnostic(`dispatch waiting (no_provider) ${waitedMs} ms after the kill`);
    assert.ok(waitedMs >= RECLAIM_MS - 100, `not before the reclaim window (${waitedMs} ms)`);
    assert.notEqual(second.peer_id, undefined);

    // "Add a bot" says that no bot host is there (the kinds were asked again when the bot
    // went waiting), stays focusable, and pressing it asks again and says why nothing opens.
    await ada.waitFor(() => document.querySelector('[data-testid="add-bot"]').getAttribute('aria-disabled') === 'true'
      && !document.querySelector('[data-testid="add-bot-note"]').hidden, null,
    { what: '"Add a bot" disabled with a reason' });
    assert.match(await ada.byTestId('add-bot-note').textContent(), /^No bot host is available/);
    assert.equal(await addBot.getAttribute('aria-describedby'), 'add-bot-note');
    await addBot.focus();
    await ada.page.keyboard.press('Enter');
    await ada.waitFor(() => /^No bot host is available/.test(
      document.querySelector('[data-testid="bot-announcer"]').textContent), null,
    { what: 'the reason announced' });
    assert.equal(await ada.byTestId('bot-menu').isVisible(), false);
    await ada.screenshot(path.join(ARTIFACTS, 'e2e-bot-waiting.png'));

    await ada.assertHealthy({ expected: ['bot_quota'] });
    await bob.assertHealthy();
  });

test('bots: a failed dispatch shows why, and "Try again" starts it again', { timeout: T.test }, async (t) => {
  const h = await setup(t, {
    name: 'case7-bot-try-again',
    serverArgs: ['--provider-key', KEY, '--bot-offer-timeout-ms', '500', '--bot-max-attempts', '1',
      '--bot-reclaim-ms', String(RECLAIM_MS), '--bot-retry-ms', '500'],
  });
  const silent = await h.startProvider({ key: KEY, kinds: ['assistant'], name: 'silent', mode: 'ignore' });

  const ada = await h.openPage('ada');
  await ada.setName('Ada');
  await ada.setJoinWithMedia(false);
  await ada.createLobby('Flaky bots');
  const adaId = await ada.peerId();
  await ada.byTestId('add-bot').click();
  await ada.page.locator('[data-testid="bot-kind"][data-kind="assistant"]').click();
  await silent.waitEvent((e) => e.event === 'offer', { what: 'the offer reached the silent provider' });

  let shown = await waitBotState(ada, 'assistant', 'failed', { reason: 'offer_timeout' });
  assert.equal(shown.testid, 'bot-dispatch', 'no participant: the bot never came');
  assert.equal(shown.stateText, 'Failed: no bot host answered in time');
  assert.equal(shown.badge, 'bot');
  assert.equal(shown.retry, true);
  assert.equal(shown.remove, true);
  const [failed] = await ada.evaluate(() => window.lobbykit.store.getState().bots);
  assert.equal(failed.attempts, 1);

  // A provider that works replaces the silent one; "Try again" restarts the same dispatch.
  await silent.stop();
  const working = await h.startProvider({ key: KEY, kinds: ['assistant'], name: 'working' });
  const retry = ada.page.locator(`${botRow('assistant')} [data-testid="bot-retry"]`);
  assert.equal(await retry.getAttribute('aria-label'), 'Try assistant again');
  await retry.click();
  const joined = await working.waitEvent((e) => e.event === 'joined', { what: 'the bot joined' });
  shown = await waitBotState(ada, 'assistant', 'running');
  assert.equal(shown.peerId, joined.peer_id);
  assert.equal(shown.retry, false);
  const bots = await ada.evaluate(() => window.lobbykit.store.getState().bots);
  assert.deepEqual(bots.map((d) => [d.dispatch_id, d.key]), [[failed.dispatch_id, failed.key]],
    'the same dispatch, not a second one');
  await ada.waitParticipants([adaId, joined.peer_id]);
  await ada.assertHealthy();
});
