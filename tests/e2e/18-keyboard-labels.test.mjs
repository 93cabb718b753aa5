// Case 18: keyboard and screen readers. In a call with the devices panel open, a camera on
// and a screen shared (the most controls at once), every visible control has a name a screen
// reader can say, and Tab reaches every one of them, in an order that follows the page.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setup, T, pollUntil, pagesInLobby } from './harness.mjs';

// Every visible, enabled control: {key, name}. The name as a screen reader finds it:
// aria-labelledby, aria-label, a <label>, then the text (or the value of an <option>-less
// select's label).
function visibleControls() {
  const nameOf = (el) => {
    const by = el.getAttribute('aria-labelledby');
    if (by) return by.split(/\s+/).map((id) => document.getElementById(id)?.textContent || '').join(' ').trim();
    if (el.getAttribute('aria-label')) return el.getAttribute('aria-label').trim();
    if (el.labels?.length) return [...el.labels].map((l) => l.textContent).join(' ').trim();
    if (el.tagName === 'INPUT' && el.placeholder) return el.placeholder.trim();
    return (el.textContent || '').trim();
  };
  const out = [];
  document.querySelectorAll('button, input, select, textarea, a[href], [role="menuitem"], [tabindex]').forEach((el, i) => {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0 || el.closest('[hidden]') || el.disabled) return;
    if (getComputedStyle(el).visibility === 'hidden') return;
    if (el.getAttribute('tabindex') === '-1') return;
    el.dataset.a11yKey = String(i);
    out.push({ key: String(i), tag: el.tagName.toLowerCase(), name: nameOf(el), id: el.id || el.dataset.testid || '' });
  });
  return out;
}

test('every control has a spoken name and Tab reaches each one', { timeout: T.test }, async (t) => {
  const h = await setup(t, { name: 'case18-keyboard-labels' });
  const { pages, ids } = await pagesInLobby(h, ['ada', 'bob'], 'Keys');
  const [ada] = pages;
  await ada.waitMeshConnected([ids[1]]);
  await ada.byTestId('camera').click();
  await ada.byTestId('share-screen').click();
  await ada.byTestId('devices-toggle').click();
  await ada.waitFor(() => !document.querySelector('[data-testid="mic-select"]').disabled,
    undefined, { what: 'the devices panel lists the microphones' });
  await ada.sendChat('hello');

  const controls = await ada.evaluate(visibleControls);
  assert.ok(controls.length >= 15, `the call shows its controls: ${JSON.stringify(controls.map((c) => c.id || c.name))}`);
  const nameless = controls.filter((c) => !c.name);
  assert.deepEqual(nameless, [], 'every visible control has a name');

  // Tab from the top of the page: every control gets the focus once before it wraps.
  await ada.evaluate(() => document.activeElement?.blur());
  const reached = new Set();
  for (let i = 0; i < controls.length * 2 + 10; i++) {
    await ada.page.keyboard.press('Tab');
    const key = await ada.evaluate(() => document.activeElement?.dataset?.a11yKey || null);
    if (key) reached.add(key);
    if (reached.size === controls.length) break;
  }
  const missed = controls.filter((c) => !reached.has(c.key)).map((c) => `${c.tag}#${c.id} "${c.name}"`);
  assert.deepEqual(missed, [], 'Tab reaches every control');
});
