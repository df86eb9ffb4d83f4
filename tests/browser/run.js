#!/usr/bin/env node
// The browser test of `mosync admin` (issue 14): Debian's headless Chromium
// driven by playwright-core (executablePath set, no browser download) over the
// stack of tests/browser/stack.py (three tenants, each its own shop and goods
// owner, and the 4 pollers and 4 appliers running `--all-tenants`).  Steps, in
// order, each a pass or a fail: the login page, a wrong password (the error
// next to the field), a login by keyboard only, the tenants list, the tenant
// page, the same page at a phone's width, Pause, Resume, a dead letter
// re-driven; then the set-up of issue 14: Connect by OAuth through the Mystore
// simulator's consent, Fine-tune, Save and activate, the shop's orders in the
// Ongoing simulator (the chosen way of delivery with them) and under "Last
// orders", Pause of the new tenant; a second shop connected with a pasted
// token, tried first (the orders it would send on the page, no write in the
// Ongoing simulator), then activated (its orders arrive, and a new one after
// them); the refusals (a wrong WMS password, a consent denied), each storing
// nothing; and logout.  Connect, Fine-tune and Try first also at a phone's
// width (no sideways scrolling).  A grant missing scopes is left to
// tests/e2e/test_admin_connect.py: the simulator's consent page offers only
// Allow and Deny.  Every page of the admin gets an axe-core scan (a serious or
// critical violation fails its step) and a look for the stack's passwords and
// tokens in its HTML.  Each step leaves a PNG in build/browser-artefacts/.
// Ends with the time it took and "N passed, N failed".
//
//   node tests/browser/run.js            (make browser installs what it needs)
//   CHROMIUM=/path/to/chromium BUILD=build-asan node tests/browser/run.js
'use strict';

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const readline = require('node:readline');
const { chromium } = require('playwright-core');

const ROOT = path.resolve(__dirname, '..', '..');
const BUILD = process.env.BUILD || 'build';
const ARTEFACTS = path.join(ROOT, BUILD, 'browser-artefacts');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const AXE = require.resolve('axe-core/axe.min.js');
// The whole run, the stack's start included: issue 14 allows 3 minutes.
const DEADLINE_MS = 170 * 1000;
// A tenant's page reads Kafka (as `mosync status` does): seconds, not ms.
const PAGE_MS = 60 * 1000;

// Without the background-networking flags Chromium keeps trying hosts that
// this machine's closed network refuses.  Playwright gives every launch a
// fresh, empty --user-data-dir of its own.
const CHROMIUM_ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

class Stack {
  // Starts stack.py and waits for its JSON line (the URLs and the password).
  static async start() {
    const s = new Stack();
    s.logPath = path.join(ARTEFACTS, 'stack.log');
    const log = fs.openSync(s.logPath, 'w');
    s.proc = spawn('python3', [path.join(__dirname, 'stack.py')], {
      cwd: ROOT, env: { ...process.env, BUILD }, stdio: ['pipe', 'pipe', log],
    });
    s.lines = readline.createInterface({ input: s.proc.stdout });
    s.waiting = [];
    s.queued = [];
    s.lines.on('line', (l) => (s.waiting.length ? s.waiting.shift()(l) : s.queued.push(l)));
    s.exited = new Promise((resolve) => s.proc.on('exit', (code, sig) => resolve(code ?? sig)));
    s.exited.then((how) => {
      for (const w of s.waiting.splice(0)) w(null);
      s.gone = how;
    });
    const first = await s.line(120 * 1000, 'the stack to start');
    s.info = JSON.parse(first);
    return s;
  }

  line(ms, what) {
    if (this.queued.length) return Promise.resolve(this.queued.shift());
    if (this.gone !== undefined) return Promise.reject(this.died(what));
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no answer from stack.py for ${what} ` +
                                                  `within ${ms / 1000} s`)), ms);
      this.waiting.push((l) => {
        clearTimeout(t);
        if (l === null) reject(this.died(what));
        else resolve(l);
      });
    });
  }

  died(what) {
    const tail = fs.readFileSync(this.logPath, 'utf8').slice(-3000);
    return new Error(`stack.py exited (${this.gone}) waiting for ${what}:\n${tail}`);
  }

  // Asks stack.py about the registry itself ("state shop1", "letters shop1").
  async ask(request) {
    this.proc.stdin.write(request + '\n');
    const out = JSON.parse(await this.line(60 * 1000, request));
    if (out.error) throw new Error(out.error);
    return out;
  }

  async stop() {
    if (this.gone !== undefined) return;
    this.proc.stdin.end(); // stack.py tears everything down at end of input
    const t = setTimeout(() => this.proc.kill('SIGTERM'), 30 * 1000);
    await this.exited;
    clearTimeout(t);
  }
}

function check(cond, msg) {
  if (!cond) throw new Error(msg);
}

// The stack's passwords and tokens: none may be in a page's HTML (set once
// the stack is up).
let SECRETS = [];

// Injects axe-core and scans the page; a serious or critical violation fails.
// The admin's CSP allows no script: the context bypasses it for axe only.
// Also fails when the page's HTML holds one of the stack's secrets.
async function axeScan(page, what) {
  const html = await page.content();
  for (const [name, value] of SECRETS)
    check(!html.includes(value), `${name} in the HTML of ${what}`);
  await page.addScriptTag({ path: AXE });
  const res = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  const bad = res.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  const ids = res.violations.map((v) => `${v.id}(${v.impact}, ${v.nodes.length})`);
  console.log(`  axe ${what}: ${res.violations.length} violation(s), ${bad.length} serious ` +
              `or critical${ids.length ? ': ' + ids.join(' ') : ''}`);
  for (const v of bad) {
    for (const n of v.nodes.slice(0, 3))
      console.log(`    ${v.id}: ${v.help} at ${n.target.join(' ')}: ${n.failureSummary}`);
  }
  check(bad.length === 0, `axe: ${bad.length} serious or critical violation(s) on ${what}`);
}

// A step's mark: it needs only the session (it opens its own page), so it
// runs after an earlier step failed.
const ALONE = Symbol('alone');

let shot = 0;
async function screenshot(page, name) {
  shot += 1;
  const file = path.join(ARTEFACTS, `${String(shot).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

// Waits for the navigation a click starts and returns its main response.
async function clickAndWait(page, locator) {
  const [resp] = await Promise.all([
    page.waitForNavigation({ timeout: PAGE_MS }),
    locator.click(),
  ]);
  return resp;
}

async function text(locator) {
  return (await locator.innerText()).trim();
}

// Asks the stack until pred(answer) holds (a bound, not a measurement).
async function stackUntil(stack, request, pred, ms, what) {
  const end = Date.now() + ms;
  for (;;) {
    const out = await stack.ask(request);
    if (pred(out)) return out;
    if (Date.now() > end)
      throw new Error(`timed out after ${ms / 1000} s waiting for ${what}: ${JSON.stringify(out)}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

// Reloads the page until pred() holds; the admin's tenant page takes seconds
// to answer, so a reload is its own pace (a short pause for a quicker page).
async function reloadUntil(page, pred, ms, what) {
  const end = Date.now() + ms;
  for (;;) {
    if (await pred()) return;
    if (Date.now() > end) throw new Error(`timed out after ${ms / 1000} s waiting for ${what}`);
    await page.waitForTimeout(300);
    await page.reload({ timeout: PAGE_MS });
  }
}

// The field labelled `label` is marked invalid and its error, right under it,
// matches re.  Returns the error's text.
async function fieldError(page, label, re) {
  const field = page.getByLabel(label, { exact: true });
  check((await field.getAttribute('aria-invalid')) === 'true', `${label}: no aria-invalid`);
  const described = await field.getAttribute('aria-describedby');
  check(described, `${label}: no aria-describedby`);
  const error = page.locator('#' + described.split(/\s+/).join(', #')).first();
  check(await error.isVisible(), `${label}: the error is not visible`);
  const t = await text(error);
  check(re.test(t), `${label}: the error says ${JSON.stringify(t)}`);
  // Next to it: its first line right of the field on the field's line, or
  // right under the field.
  const f = await field.boundingBox();
  const e = await error.evaluate((el) => {
    const r = el.getClientRects()[0];
    return { x: r.x, y: r.y, height: r.height }; // the viewport's, as boundingBox()
  });
  const right = e.x >= f.x + f.width - 1 && e.x - (f.x + f.width) < 60 &&
                e.y < f.y + f.height && e.y + e.height > f.y;
  const below = e.y >= f.y + f.height - 1 && e.y - (f.y + f.height) < 60;
  check(right || below, `${label}: the error is not next to the field (field at ` +
                        `${JSON.stringify(f)}, error at ${JSON.stringify(e)})`);
  return t;
}

// At a phone's 390 px the page does not scroll sideways (wide tables scroll
// inside their box); the viewport is set back afterwards.
async function phoneFits(page, what) {
  await page.setViewportSize({ width: 390, height: 844 });
  try {
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    check(width <= 390, `${what} is ${width} px wide at a phone's 390`);
  } finally {
    await page.setViewportSize({ width: 1280, height: 900 });
  }
}

// Fills the Connect form by its labels.
async function fillConnect(page, stack, t, over = {}) {
  const v = {
    'Tenant name': t.tenant, 'Warehouse system': stack.info.ongoing, 'WMS user': t.user,
    'WMS password': t.password, 'Goods owner id': String(t.goods_owner),
    'Mystore shop name': t.shop, 'Mystore API URL': stack.info.mystore,
    'Personal access token (optional)': '', ...over,
  };
  for (const [label, value] of Object.entries(v))
    await page.getByLabel(label, { exact: true }).fill(value);
}

async function openConnect(page, admin) {
  await page.goto(admin + '/', { timeout: PAGE_MS });
  await clickAndWait(page, page.getByRole('link', { name: 'Connect a shop' }));
  check(new URL(page.url()).pathname === '/connect', `landed on ${page.url()}`);
}

// Nothing of tenant `name` stored: not in the registry, no pending connection.
async function nothingStored(stack, name) {
  const t = await stack.ask(`tenant ${name}`);
  check(t.tenant === null, `a tenant ${name} was stored: ${JSON.stringify(t.tenant)}`);
  check(t.pending === 0, `${t.pending} pending connection(s) left in Redis`);
}

// The Fine-tune page of tenant `name`, checked against the contract; sets the
// poll interval to 1 s, makes sure the shop's new orders ("Ubehandlet",
// status 1 of the seed) release an order, and, when `way` is given, picks
// Ongoing's first way of delivery for the shop's method `way`.  Returns
// {method, code, name} of the way picked.
async function fineTune(page, name, way) {
  check(new URL(page.url()).pathname === `/tenants/${name}/tune`, `landed on ${page.url()}`);
  check((await text(page.locator('h1'))) === `Fine-tune ${name}`,
        `h1 ${await text(page.locator('h1'))}`);
  const stock = page.getByLabel('Stock from the warehouse to the shop', { exact: true });
  check(!(await stock.isChecked()), 'stock is on by default');
  await page.getByLabel('Poll every (seconds)', { exact: true }).fill('1');

  const release = page.getByRole('group',
                                 { name: 'Order statuses that send an order to the warehouse' });
  const boxes = release.getByRole('checkbox');
  check((await boxes.count()) === 6, `${await boxes.count()} status checkboxes, the shop has 6`);
  const open = release.getByRole('checkbox', { name: /^(Ubehandlet|Unmanaged)$/ });
  check((await open.count()) === 1, 'no checkbox for the status Ubehandlet');
  await open.check();

  for (const [label, want] of [['Status meaning sent', /^levert$/i],
                               ['Status meaning cancelled', /^kansellert$/i]]) {
    const sel = page.getByLabel(label, { exact: true });
    const chosen = (await sel.locator('option:checked').innerText()).trim();
    check(want.test(chosen), `${label}: ${JSON.stringify(chosen)} preselected`);
    check((await sel.locator('option').count()) === 6, `${label}: not the shop's 6 statuses`);
  }

  const editable = page.getByRole('group',
                                  { name: 'Warehouse statuses in which an order may still change' });
  const ebox = editable.getByRole('checkbox');
  check((await ebox.count()) > 2, `${await ebox.count()} warehouse statuses`);
  for (let i = 0; i < (await ebox.count()); i++) {
    const label = await ebox.nth(i).evaluate((el) => (el.labels[0] || {}).textContent || '');
    check(/^\s*\d+ \S/.test(label), `a warehouse status labelled ${JSON.stringify(label)}`);
    const want = /^\s*(150|200) /.test(label);
    check((await ebox.nth(i).isChecked()) === want,
          `${label.trim()} is ${want ? 'not ' : ''}checked`);
  }

  let picked = null;
  if (way) {
    const sel = page.getByLabel(`Way of delivery for ${way}`, { exact: true });
    check((await sel.count()) === 1, `no way-of-delivery select for ${way}`);
    const opts = (await sel.locator('option').allInnerTexts()).map((o) => o.trim());
    check(opts[0] === "Same as the shop's method", `first option ${JSON.stringify(opts[0])}`);
    check(opts.length > 1, `no way of delivery of Ongoing offered: ${JSON.stringify(opts)}`);
    const m = /^(.*) \(([^()]+)\)$/.exec(opts[1]);
    check(m, `Ongoing's way ${JSON.stringify(opts[1])} is not "<name> (<code>)"`);
    check((await sel.locator('option:checked').innerText()).trim() === opts[0],
          `${way}: not "Same as the shop's method" by default`);
    await sel.selectOption({ label: opts[1] });
    picked = { method: way, name: m[1], code: m[2] };
  }
  for (const b of ['Save and try first', 'Save and activate'])
    check(await page.getByRole('button', { name: b }).isVisible(), `no button ${b}`);
  return picked;
}

// The "Last orders" of a tenant page (a heading, then a table in a region
// it labels) list every id in ids, each with a state under "In the
// warehouse" ("?" is the page's unknown).
async function lastOrdersList(page, ids) {
  check(await page.getByRole('heading', { name: 'Last orders' }).isVisible(),
        'no heading "Last orders"');
  const region = page.getByRole('region', { name: 'Last orders' });
  if ((await region.count()) !== 1) return false; // "None in the last two days."
  const heads = (await region.locator('thead th').allInnerTexts()).map((h) => h.trim());
  const col = heads.indexOf('In the warehouse');
  check(col >= 0, `"Last orders" has no column "In the warehouse": ${heads}`);
  for (const id of ids) {
    const row = region.locator('tbody tr', { has: page.locator('td', { hasText: new RegExp(`^${id}$`) }) });
    if ((await row.count()) === 0) return false;
    const cell = (await row.first().locator('td').nth(col).innerText()).trim();
    if (!cell || cell === '?') return false;
  }
  return true;
}

function steps(stack, page) {
  const { admin, password, tenant, letter, oa, dry } = stack.info;
  const state = page.locator('main .box .state').first();
  let way = null; // the way of delivery picked for oa1
  return [
    ['a page without a session leads to the login page', async () => {
      await page.goto(admin + '/', { timeout: PAGE_MS });
      check(new URL(page.url()).pathname === '/login', `landed on ${page.url()}`);
      check((await text(page.locator('h1'))) === 'Log in' ||
            (await page.locator('#password').count()) === 1, 'no password field');
      await axeScan(page, 'the login page');
      await screenshot(page, 'login');
    }],
    ['a wrong password: 401 and the error next to the field', async () => {
      await page.locator('#password').fill(password.slice(0, -1) + 'x');
      const resp = await clickAndWait(page, page.getByRole('button', { name: 'Log in' }));
      check(resp.status() === 401, `status ${resp.status()}`);
      const field = page.locator('#password');
      check((await field.getAttribute('aria-invalid')) === 'true', 'no aria-invalid');
      const described = await field.getAttribute('aria-describedby');
      const error = page.locator('#' + described);
      check(described && (await error.isVisible()), 'the error is not visible');
      check(/wrong password/i.test(await text(error)), `error text: ${await text(error)}`);
      // Next to the field: right under it, not somewhere else on the page.
      const f = await field.boundingBox();
      const e = await error.boundingBox();
      check(e.y >= f.y + f.height && e.y - (f.y + f.height) < 60,
            `the error is ${e.y - (f.y + f.height)} px below the field`);
      check((await page.context().cookies()).length === 0, 'a cookie after a wrong password');
      await axeScan(page, 'the login page with its error');
      await screenshot(page, 'login-wrong-password');
    }],
    ['a login by keyboard only (Tab, Enter)', async () => {
      await page.goto(admin + '/login', { timeout: PAGE_MS });
      // The field has autofocus; Tab towards it otherwise, a few presses at most.
      for (let i = 0; i < 5 && !(await page.evaluate(() => document.activeElement.id ===
                                                      'password')); i++)
        await page.keyboard.press('Tab');
      check(await page.evaluate(() => document.activeElement.id === 'password'),
            'the keyboard never reached the password field');
      await page.keyboard.type(password);
      await page.keyboard.press('Tab');
      const focused = await page.evaluate(() => document.activeElement.textContent.trim());
      check(focused === 'Log in', `Tab after the field lands on ${JSON.stringify(focused)}`);
      await screenshot(page, 'login-keyboard'); // the focus ring on the button
      await Promise.all([page.waitForNavigation({ timeout: PAGE_MS }),
                         page.keyboard.press('Enter')]);
      check(new URL(page.url()).pathname === '/', `landed on ${page.url()}`);
      const cookie = (await page.context().cookies()).find((c) => c.name === 'mosync_admin');
      check(cookie && cookie.httpOnly && cookie.sameSite === 'Strict',
            `the session cookie: ${JSON.stringify(cookie)}`);
    }],
    ['the tenants list', async () => {
      const link = page.getByRole('link', { name: tenant, exact: true });
      check((await link.count()) === 1, `no link to ${tenant}`);
      const row = page.locator('tbody tr', { has: link });
      check((await text(row.locator('.state'))) === 'active', 'the tenant is not shown active');
      await axeScan(page, 'the tenants list');
      await screenshot(page, 'tenants');
    }],
    ['the tenant page', async () => {
      const resp = await clickAndWait(page, page.getByRole('link', { name: tenant, exact: true }));
      check(resp.status() === 200, `status ${resp.status()}`);
      check((await text(page.locator('h1'))).includes(tenant), 'the h1 does not name it');
      check((await text(state)) === 'active', `state ${await text(state)}`);
      for (const h of ['Pollers', 'Flows', 'Open dead letters'])
        check(await page.getByRole('heading', { name: h }).isVisible(), `no heading ${h}`);
      check(await page.getByRole('button', { name: `Re-drive letter ${letter}` }).isVisible(),
            `no Re-drive button for ${letter}`);
      await axeScan(page, 'the tenant page');
      await screenshot(page, 'tenant');
    }],
    ['the tenant page at a phone\'s width (390x844)', async () => {
      await page.setViewportSize({ width: 390, height: 844 });
      try {
        await page.reload({ timeout: PAGE_MS });
        // Wide tables scroll inside their box; the page itself does not.
        const width = await page.evaluate(() => document.documentElement.scrollWidth);
        check(width <= 390, `the page is ${width} px wide at a phone's 390`);
        check(await page.getByRole('button', { name: 'Pause' }).isVisible(), 'no Pause');
        await axeScan(page, 'the tenant page at 390x844');
        await screenshot(page, 'tenant-phone');
      } finally {
        await page.setViewportSize({ width: 1280, height: 900 });
      }
    }],
    ['Pause: the page and the registry say paused', async () => {
      await clickAndWait(page, page.getByRole('button', { name: 'Pause' }));
      check(new URL(page.url()).search === '?done=paused', `landed on ${page.url()}`);
      check((await text(state)) === 'paused', `state on the page ${await text(state)}`);
      check(await page.getByRole('status').isVisible(), 'no notice of the pause');
      check(await page.getByRole('button', { name: 'Resume' }).isVisible(), 'no Resume');
      const reg = await stack.ask(`state ${tenant}`);
      check(reg.state === 'paused', `state in the registry ${reg.state}`);
      await axeScan(page, 'the tenant page, paused');
      await screenshot(page, 'tenant-paused');
    }],
    ['Resume: the page and the registry say active', async () => {
      await clickAndWait(page, page.getByRole('button', { name: 'Resume' }));
      check(new URL(page.url()).search === '?done=resumed', `landed on ${page.url()}`);
      check((await text(state)) === 'active', `state on the page ${await text(state)}`);
      const reg = await stack.ask(`state ${tenant}`);
      check(reg.state === 'active', `state in the registry ${reg.state}`);
      await axeScan(page, 'the tenant page, resumed');
      await screenshot(page, 'tenant-resumed');
    }],
    ['Re-drive a dead letter from the page', async () => {
      const button = page.getByRole('button', { name: `Re-drive letter ${letter}` });
      await clickAndWait(page, button);
      // The running applier may have applied it already (then "resolved").
      const reg = await stack.ask(`letters ${tenant}`);
      const l = reg.letters.find((x) => x.id === letter);
      check(l && (l.state === 'redriven' || l.state === 'resolved'),
            `the letter in the registry: ${JSON.stringify(l)}`);
      check((await button.count()) === 0, 'the letter is still offered for a re-drive');
      // And the applier puts the order into the warehouse, which refused it before.
      await stackUntil(stack, 'writes 1', (x) => x.orders.includes(stack.info.letter_order),
                       30 * 1000, `the re-driven order ${stack.info.letter_order} in the warehouse`);
      await axeScan(page, 'the tenant page after a re-drive');
      await screenshot(page, 'tenant-redriven');
    }],
    ['Connect by OAuth: the form, the Mystore simulator\'s consent, the callback', async () => {
      await openConnect(page, admin);
      await phoneFits(page, 'the Connect page');
      await axeScan(page, 'the Connect page');
      await fillConnect(page, stack, oa);
      await screenshot(page, 'connect');
      await clickAndWait(page, page.getByRole('button', { name: 'Check and continue' }));
      check(page.url().startsWith(stack.info.mystore + '/oauth/authorize'),
            `Check and continue led to ${page.url()}`);
      check((await text(page.locator('h1'))).includes(oa.shop),
            `the consent page does not name ${oa.shop}: ${await text(page.locator('h1'))}`);
      await screenshot(page, 'mystore-consent'); // the simulator's page: no axe scan
      const resp = await clickAndWait(page, page.getByRole('button', { name: 'Allow' }));
      check(new URL(page.url()).origin === admin, `the consent led to ${page.url()}`);
      check(resp.status() === 200, `status ${resp.status()} at ${page.url()}`);
      check(/connected/i.test(await text(page.locator('h1'))),
            `h1 ${JSON.stringify(await text(page.locator('h1')))}`);
      check(await page.getByRole('link', { name: `Fine-tune ${oa.tenant}` }).isVisible(),
            `no link "Fine-tune ${oa.tenant}"`);
      const t = (await stack.ask(`tenant ${oa.tenant}`)).tenant;
      check(t && t.settings.MYSTORE_SHOP === oa.shop &&
            t.settings.ONGOING_GOODS_OWNER_ID === String(oa.goods_owner),
            `${oa.tenant} in the registry: ${JSON.stringify(t)}`);
      await axeScan(page, 'the page after the callback');
      await screenshot(page, 'connected');
    }],
    ['Fine-tune: the page of the new tenant, a way of delivery picked', async () => {
      await clickAndWait(page, page.getByRole('link', { name: `Fine-tune ${oa.tenant}` }));
      // Helthjem is the method of one order of the shop (stack.py, ORDER_METHODS).
      await phoneFits(page, 'the Fine-tune page');
      way = await fineTune(page, oa.tenant, 'Helthjem');
      await axeScan(page, 'the Fine-tune page');
      await screenshot(page, 'fine-tune');
    }],
    ['Save and activate: the shop\'s orders in the warehouse and under "Last orders"', async () => {
      await clickAndWait(page, page.getByRole('button', { name: 'Save and activate' }));
      const u = new URL(page.url());
      check(u.pathname === `/tenants/${oa.tenant}` && u.search === '?done=activated',
            `landed on ${page.url()}`);
      check((await text(state)) === 'active', `state on the page ${await text(state)}`);
      const t = (await stack.ask(`tenant ${oa.tenant}`)).tenant;
      check(t.state === 'active', `state in the registry ${t.state}`);
      check(t.settings.POLL_INTERVAL_S === '1', `POLL_INTERVAL_S ${t.settings.POLL_INTERVAL_S}`);
      check(String(t.settings.STOCK_SYNC).toLowerCase() === 'off',
            `STOCK_SYNC ${t.settings.STOCK_SYNC}`);
      await axeScan(page, 'the activated tenant\'s page');
      await screenshot(page, 'activated');
      const ids = Object.keys(oa.orders).sort();
      const w = await stackUntil(stack, `writes ${oa.goods_owner}`,
                                 (x) => ids.every((id) => x.orders.includes(id)), 30 * 1000,
                                 `the orders of ${oa.shop} in goods owner ${oa.goods_owner}`);
      for (const id of ids) {
        const sent = w.ways[id] || {};
        const want = oa.orders[id] === way.method ? way : { code: oa.orders[id],
                                                           name: oa.orders[id] };
        check(sent.code === want.code && sent.name === want.name,
              `order ${id} (${oa.orders[id]}) went with the way ${JSON.stringify(sent)}, ` +
              `not ${want.name} (${want.code})`);
      }
      await reloadUntil(page, () => lastOrdersList(page, ids), 30 * 1000,
                        `"Last orders" to list ${ids.join(', ')}`);
      await axeScan(page, 'the tenant page with its last orders');
      await screenshot(page, 'last-orders');
    }],
    ['Pause the new tenant: the page and the registry say paused', async () => {
      await clickAndWait(page, page.getByRole('button', { name: 'Pause' }));
      check(new URL(page.url()).search === '?done=paused', `landed on ${page.url()}`);
      check((await text(state)) === 'paused', `state on the page ${await text(state)}`);
      const reg = await stack.ask(`state ${oa.tenant}`);
      check(reg.state === 'paused', `state in the registry ${reg.state}`);
      await axeScan(page, `${oa.tenant}'s page, paused`);
      await screenshot(page, 'oa-paused');
    }],
    ['A pasted token: straight to Fine-tune, then Save and try first', async () => {
      await openConnect(page, admin);
      await fillConnect(page, stack, dry, { 'Personal access token (optional)': dry.token });
      await clickAndWait(page, page.getByRole('button', { name: 'Check and continue' }));
      await fineTune(page, dry.tenant, null);
      await axeScan(page, `the Fine-tune page of ${dry.tenant}`);
      await screenshot(page, 'dry-fine-tune');
      await clickAndWait(page, page.getByRole('button', { name: 'Save and try first' }));
      check(new URL(page.url()).pathname === `/tenants/${dry.tenant}/dry`,
            `landed on ${page.url()}`);
      check((await text(page.locator('h1'))) === `Try first: ${dry.tenant}`,
            `h1 ${await text(page.locator('h1'))}`);
      const t = (await stack.ask(`tenant ${dry.tenant}`)).tenant;
      check(/^(on|1|true|yes)$/i.test(String(t.settings.DRY_RUN)),
            `DRY_RUN in the registry: ${t.settings.DRY_RUN}`);
    }],
    ['Try first: the orders it would send, and no write in the warehouse', async () => {
      const ids = Object.keys(dry.orders).sort();
      const region = page.getByRole('region', { name: 'Orders it would send' });
      await reloadUntil(page, async () => {
        for (const id of ids) {
          const row = region.locator('tbody tr', {
            has: page.locator('td', { hasText: new RegExp(`^${id}$`) }) });
          if ((await row.count()) === 0 || !/create/i.test(await row.first().innerText()))
            return false;
        }
        return true;
      }, 30 * 1000, `"Orders it would send" to list ${ids.join(', ')} with "create"`);
      const w = await stack.ask(`writes ${dry.goods_owner}`);
      check(w.writes === 0, `${w.writes} write(s) for goods owner ${dry.goods_owner} in a dry ` +
                            `run: ${JSON.stringify(w)}`);
      await phoneFits(page, 'the Try first page');
      await axeScan(page, 'the Try first page');
      await screenshot(page, 'try-first');
    }],
    ['Activate after the dry run: the orders arrive, and a new one after them', async () => {
      await clickAndWait(page, page.getByRole('button', { name: 'Activate' }));
      const u = new URL(page.url());
      check(u.pathname === `/tenants/${dry.tenant}` && u.search === '?done=activated',
            `landed on ${page.url()}`);
      check((await text(state)) === 'active', `state on the page ${await text(state)}`);
      const t = (await stack.ask(`tenant ${dry.tenant}`)).tenant;
      check(t.state === 'active' && !/^(on|1|true|yes)$/i.test(String(t.settings.DRY_RUN)),
            `${dry.tenant} in the registry: ${JSON.stringify(t)}`);
      const ids = Object.keys(dry.orders).sort();
      await stackUntil(stack, `writes ${dry.goods_owner}`,
                       (x) => ids.every((id) => x.orders.includes(id)), 30 * 1000,
                       `the orders of ${dry.shop} in goods owner ${dry.goods_owner}`);
      // A new order in the shop now goes the same way.
      const fresh = await stack.ask(`order ${dry.shop}`);
      ids.push(fresh.id);
      await stackUntil(stack, `writes ${dry.goods_owner}`, (x) => x.orders.includes(fresh.id),
                       30 * 1000, `the new order ${fresh.id} in goods owner ${dry.goods_owner}`);
      await reloadUntil(page, () => lastOrdersList(page, ids), 30 * 1000,
                        `"Last orders" to list ${ids.join(', ')}`);
      await axeScan(page, `${dry.tenant}'s page, activated`);
      await screenshot(page, 'dry-activated');
    }],
    ['A wrong WMS password: the error next to the field, nothing stored', async () => {
      await openConnect(page, admin);
      const wrong = { ...oa, tenant: 'no1', password: oa.password + 'x' };
      await fillConnect(page, stack, wrong);
      const resp = await clickAndWait(page, page.getByRole('button', { name: 'Check and continue' }));
      check(resp.status() === 400, `status ${resp.status()}`);
      check(new URL(page.url()).pathname === '/connect', `landed on ${page.url()}`);
      await fieldError(page, 'WMS password', /refused this user or password[\s\S]*try again/i);
      await nothingStored(stack, 'no1');
      await axeScan(page, 'the Connect page with a wrong WMS password');
      await screenshot(page, 'connect-wrong-password');
    }, ALONE],
    ['A consent denied at Mystore: a page saying to start again, nothing stored', async () => {
      await openConnect(page, admin);
      await fillConnect(page, stack, { ...oa, tenant: 'no2' });
      await clickAndWait(page, page.getByRole('button', { name: 'Check and continue' }));
      check(page.url().startsWith(stack.info.mystore + '/oauth/authorize'),
            `Check and continue led to ${page.url()}`);
      const resp = await clickAndWait(page, page.getByRole('button', { name: 'Deny' }));
      check(new URL(page.url()).origin === admin, `the denial led to ${page.url()}`);
      check(resp.status() === 403, `status ${resp.status()}`);
      const body = await text(page.locator('main'));
      check(/not granted/i.test(body) && /start again/i.test(body),
            `the page says: ${body.slice(0, 300)}`);
      const again = page.locator('main a[href="/connect"]');
      check((await again.count()) >= 1 && (await again.first().isVisible()),
            'no link back to Connect');
      await nothingStored(stack, 'no2');
      await axeScan(page, 'the page of a denied consent');
      await screenshot(page, 'consent-denied');
    }, ALONE],
    ['Log out: back to the login page, the session ended', async () => {
      await page.goto(admin + '/', { timeout: PAGE_MS });
      await clickAndWait(page, page.getByRole('button', { name: 'Log out' }));
      check(new URL(page.url()).pathname === '/login', `landed on ${page.url()}`);
      await page.goto(`${admin}/tenants/${tenant}`, { timeout: PAGE_MS });
      check(new URL(page.url()).pathname === '/login', `after logout: ${page.url()}`);
      await screenshot(page, 'logged-out');
    }, ALONE],
  ];
}

async function main() {
  const started = Date.now();
  fs.mkdirSync(ARTEFACTS, { recursive: true });
  for (const f of fs.readdirSync(ARTEFACTS)) if (f.endsWith('.png')) fs.rmSync(path.join(ARTEFACTS, f));
  const watchdog = setTimeout(() => {
    console.log(`### the browser test took over ${DEADLINE_MS / 1000} s`);
    console.log('0 passed, 1 failed');
    process.exit(1);
  }, DEADLINE_MS);

  let passed = 0;
  let failed = 0;
  let loggedIn = false;
  let stack;
  let browser;
  try {
    stack = await Stack.start();
    console.log(`stack up in ${((Date.now() - started) / 1000).toFixed(1)} s: ${stack.info.admin}`);
    const { oa, dry } = stack.info;
    SECRETS = [['the admin password', stack.info.password], ['a WMS password', oa.password],
               ['a WMS password', dry.password], ['the pasted token', dry.token]];
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true,
                                      args: CHROMIUM_ARGS });
    console.log(`Chromium ${browser.version()}`);
    const context = await browser.newContext({ bypassCSP: true,
                                               viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    page.setDefaultTimeout(PAGE_MS);
    const all = steps(stack, page);
    // Each step needs the ones before it (the session, the page): after a
    // failure the rest are counted failed, not run, but for those marked
    // ALONE, which need only the session and open their own page.
    for (const [name, fn, alone] of all) {
      if (failed && !(alone === ALONE && loggedIn)) {
        console.log(`not run: ${name}`);
        failed += 1;
        continue;
      }
      const t0 = Date.now();
      try {
        await fn();
        passed += 1;
        if (name.startsWith('a login by keyboard')) loggedIn = true;
        console.log(`ok: ${name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
      } catch (e) {
        failed += 1;
        console.log(`FAILED: ${name}: ${e.message}`);
        await screenshot(page, 'FAILED').catch(() => {});
      }
    }
  } catch (e) {
    console.log(`FAILED: the harness: ${e.stack || e}`);
    failed += 1;
  } finally {
    if (browser) await browser.close().catch(() => {});
    if (stack) await stack.stop();
  }
  clearTimeout(watchdog);
  console.log(`screenshots: ${path.relative(ROOT, ARTEFACTS)}/ (stack log: stack.log)`);
  console.log(`took ${((Date.now() - started) / 1000).toFixed(1)} s`);
  console.log(`${passed} passed, ${failed} failed`);
  process.exitCode = failed ? 1 : 0;
}

main();
