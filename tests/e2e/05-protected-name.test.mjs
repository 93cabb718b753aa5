// Case 5: a name protected by a password cannot be taken by another page without it. The
// other page is told so in words (error banner, data-code password_required, then
// wrong_password with a wrong password), stays on the name form without a name, and the
// holder keeps the name: in the lobby, with media flowing, everyone still sees "Alice".

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setup, T } from './harness.mjs';

test('a password-protected name cannot be taken without its password',
  { timeout: T.test }, async (t) => {
    const h = await setup(t, { name: 'case5-protected-name' });
    const alice = await h.openPage('alice');
    const other = await h.openPage('other');

    await alice.setName('Alice', 'correct horse battery staple');
    const aliceSession = await alice.session();
    assert.equal(aliceSession.nameProtected, true, 'the name is protected');
    assert.equal(await alice.byTestId('my-name').getAttribute('title'), 'Protected by a password');
    const lobbyId = await alice.createLobby('Names');
    const aliceId = aliceSession.peerId;

    // Without a password (names compare case-insensitively).
    await other.submitName('ALICE');
    const required = await other.waitForError('password_required');
    assert.match(required.text, /protected by a password/i);
    await other.byTestId('name-view').waitFor({ state: 'visible' });
    assert.equal((await other.session()).name, '', 'the other page has no name');
    assert.equal(await other.byTestId('my-name').isVisible(), false);

    // With a wrong password.
    await other.submitName('Alice', 'not the password');
    const wrong = await other.waitForError('wrong_password');
    assert.match(wrong.text, /password is not right/i);
    await other.byTestId('name-view').waitFor({ state: 'visible' });
    assert.equal((await other.session()).name, '');
    assert.deepEqual((await other.storeErrors()).map((e) => [e.code, e.context]),
      [['password_required', 'set_name'], ['wrong_password', 'set_name']]);

    // The holder was not disturbed: same name, no takeover notice.
    assert.equal(await alice.byTestId('my-name').textContent(), 'Alice');
    assert.equal(await alice.byTestId('notice').isVisible(), false);
    assert.equal((await alice.session()).name, 'Alice');

    // The other page picks its own name (the banner goes away) and joins Alice's lobby.
    await other.setName('Bob');
    assert.equal(await other.shownError(), null, 'the error banner is gone after a good name');
    await other.joinById(lobbyId, 'Names');
    const bobId = await other.peerId();
    await alice.waitParticipants([aliceId, bobId]);
    await other.waitParticipants([aliceId, bobId]);
    const seen = (await other.participants()).find((p) => p.peerId === aliceId);
    assert.equal(seen.name, 'Alice', 'the lobby still shows Alice under her name');
    assert.equal(await other.page.locator(`[data-testid="participant"][data-peer-id="${aliceId}"] .p-label`)
      .textContent(), 'Alice');

    await alice.waitMeshConnected([bobId]);
    await other.waitMeshConnected([aliceId]);
    await alice.assertAudioFlowing([bobId]);
    await other.assertAudioFlowing([aliceId]);
    await alice.assertHealthy();
    await other.assertHealthy({ expected: ['password_required', 'wrong_password'] });
  });
