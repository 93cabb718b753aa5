// Case 13: the call page at a phone's width (390 px) and a laptop's (1280 px). Nothing makes
// the page scroll sideways, every control of the call is on screen horizontally and large
// enough to tap, and screenshots of both are kept: test-artifacts/e2e-call-390.png and
// e2e-call-1280.png.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { setup, T, ARTIFACTS, pagesInLobby } from './harness.mjs';

const CONTROLS = ['lobby-title', 'copy-invite', 'leave', 'add-bot', 'mute', 'camera', 'stop-media',
  'chat-input', 'chat-send'];

test('the call page fits 390 px and 1280 px: no sideways scroll, every control on screen',
  { timeout: T.test }, async (t) => {
    const h = await setup(t, { name: 'case13-layout' });
    const { pages, ids } = await pagesInLobby(h, ['ada', 'bob'], 'Design review with a long name');
    const [ada, bob] = pages;
    await ada.waitMeshConnected([ids[1]]);
    await bob.sendChat('Morning! Shall we start with the mobile layout?');
    await ada.waitChat('Morning! Shall we start with the mobile layout?', ids[1]);

    for (const width of [390, 1280]) {
      await ada.page.setViewportSize({ width, height: width === 390 ? 844 : 800 });
      await ada.page.waitForFunction((w) => window.innerWidth === w, width, { timeout: T.ui });
      const layout = await ada.evaluate((ids) => {
        const out = { scrollWidth: document.documentElement.scrollWidth, width: window.innerWidth, controls: {} };
        for (const id of ids) {
          const node = document.querySelector(`[data-testid="${id}"]`);
          const r = node.getBoundingClientRect();
          out.controls[id] = { left: r.left, right: r.right, width: r.width, height: r.height,
            shown: !!(node.offsetWidth || node.offsetHeight) };
        }
        return out;
      }, CONTROLS);
      assert.ok(layout.scrollWidth <= layout.width, `${width} px: the page is ${layout.scrollWidth} px wide`);
      for (const [id, r] of Object.entries(layout.controls)) {
        assert.ok(r.shown, `${width} px: ${id} is shown`);
        assert.ok(r.left >= 0 && r.right <= layout.width + 0.5, `${width} px: ${id} spans ${r.left}..${r.right}`);
        if (id !== 'lobby-title') assert.ok(r.height >= 32, `${width} px: ${id} is ${r.height} px tall`);
      }
      // Nothing in a card sticks out of it (a clipped badge or icon in a person's row).
      const clipped = await ada.evaluate(() => {
        const out = [];
        for (const card of document.querySelectorAll('#lobby-view .card')) {
          const c = card.getBoundingClientRect();
          for (const node of card.querySelectorAll('*')) {
            const r = node.getBoundingClientRect();
            if (r.width === 0 || r.height === 0) continue;
            if (r.left < c.left - 0.5 || r.right > c.right + 0.5) {
              out.push(`${node.tagName.toLowerCase()}.${node.className || ''}[${node.dataset.testid || ''}] ${r.left}..${r.right} in ${c.left}..${c.right}`);
            }
          }
        }
        return out;
      });
      assert.deepEqual(clipped, [], `${width} px: everything inside its card`);
      await ada.page.screenshot({ path: path.join(ARTIFACTS, `e2e-call-${width}.png`), fullPage: true });
    }
  });
