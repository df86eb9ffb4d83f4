#!/usr/bin/env node
// The browser test of `mosync admin` (issue 14): Debian's headless Chromium
// driven by playwright-core (executablePath set, no browser download) over the
// stack of tests/browser/stack.py.  Steps, in order, each a pass or a fail:
// the login page, a wrong password (the error next to the field), a login by
// keyboard only, the tenants list, the tenant page, the same page at a phone's
// width, Pause, Resume, a dead letter re-driven, and logout.  Every page gets
// an axe-core scan; a serious or critical violation fails its step.  Each step
// leaves a PNG in build/browser-artefacts/.  Ends with "N passed, N failed".
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

// Injects axe-core and scans the page; a serious or critical violation fails.
// The admin's CSP allows no script: the context bypasses it for axe only.
async function axeScan(page, what) {
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

function steps(stack, page) {
  const { admin, password, tenant, letter } = stack.info;
  const state = page.locator('main .box .state').first();
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
      const reg = await stack.ask(`letters ${tenant}`);
      const l = reg.letters.find((x) => x.id === letter);
      check(l && l.state === 'redriven', `the letter in the registry: ${JSON.stringify(l)}`);
      check((await button.count()) === 0, 'the letter is still offered for a re-drive');
      await axeScan(page, 'the tenant page after a re-drive');
      await screenshot(page, 'tenant-redriven');
    }],
    ['Log out: back to the login page, the session ended', async () => {
      await clickAndWait(page, page.getByRole('button', { name: 'Log out' }));
      check(new URL(page.url()).pathname === '/login', `landed on ${page.url()}`);
      await page.goto(`${admin}/tenants/${tenant}`, { timeout: PAGE_MS });
      check(new URL(page.url()).pathname === '/login', `after logout: ${page.url()}`);
      await screenshot(page, 'logged-out');
    }],
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
  let stack;
  let browser;
  try {
    stack = await Stack.start();
    console.log(`stack up in ${((Date.now() - started) / 1000).toFixed(1)} s: ${stack.info.admin}`);
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true,
                                      args: CHROMIUM_ARGS });
    console.log(`Chromium ${browser.version()}`);
    const context = await browser.newContext({ bypassCSP: true,
                                               viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    page.setDefaultTimeout(PAGE_MS);
    const all = steps(stack, page);
    // Each step needs the ones before it (the session, the page): after a
    // failure the rest are counted failed, not run.
    for (const [name, fn] of all) {
      if (failed) {
        console.log(`not run: ${name}`);
        failed += 1;
        continue;
      }
      const t0 = Date.now();
      try {
        await fn();
        passed += 1;
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
