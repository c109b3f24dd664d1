// Browser end-to-end test of the demo stack (scripts/demo) with Debian's
// Chromium, driven by playwright-core. Run it through test/e2e/run, which
// installs what is missing, starts the demo on free ports in a temporary
// DEMO_DIR and stops it afterwards.
//
// One browser profile walks through the story of issue #7: log in once on
// the site, read the docs and the report, cross to the cabinet on another
// port and back, survive an nginx stop/start and a Redis restart, and log
// out once for every service. Screenshots go to test/e2e/artifacts/.
//
// Output: "ok N - ..." / "not ok N - ..." lines, "1..N", then
// "N passed, M failed"; the exit status is 1 when anything failed.

import { chromium } from 'playwright-core';
import { spawnSync } from 'node:child_process';
import { createServer, get as httpGet } from 'node:http';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync }
    from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

const here = dirname(fileURLToPath(import.meta.url));
const env = (name, dflt) => process.env[name] || dflt;

const DEMO_DIR = env('DEMO_DIR', '/tmp/ngx-session-demo');
const SITE_PORT = env('DEMO_SITE_PORT', '50000');
const CABINET_PORT = env('DEMO_CABINET_PORT', '50003');
const HOST = '127.0.0.1';
const ARTIFACTS = env('E2E_ARTIFACTS', join(here, 'artifacts'));
const CHROMIUM = env('E2E_CHROMIUM', '/usr/bin/chromium');
const USER = 'demo';
const PASSWORD = 'demo-password';

const site = (path = '/') => `http://${HOST}:${SITE_PORT}${path}`;
const cabinet = (path = '/') => `http://${HOST}:${CABINET_PORT}${path}`;

// ---------------------------------------------------------------- TAP-ish

let n = 0;
let passed = 0;
let failed = 0;
let shots = 0;
let page;               // the one tab the whole story happens in

const say = (line) => process.stdout.write(line + '\n');
const diag = (text) => String(text).split('\n').forEach((l) => say(`#   ${l}`));

async function check(name, fn) {
    n += 1;
    try {
        await fn();
        passed += 1;
        say(`ok ${n} - ${name}`);
    } catch (err) {
        failed += 1;
        say(`not ok ${n} - ${name}`);
        diag(err && err.stack ? err.stack.split('\n').slice(0, 4).join('\n') : err);
        if (page) {
            try {
                diag(`page: ${page.url()}`);
                await shot(`FAILED-${n}`);
            } catch { /* the page may be gone */ }
        }
    }
}

function assert(cond, message) {
    if (!cond) {
        throw new Error(message);
    }
}

function equal(actual, expected, what) {
    assert(actual === expected,
           `${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
}

async function shot(name) {
    shots += 1;
    const file = join(ARTIFACTS, `${String(shots).padStart(2, '0')}-${name}.png`);
    await page.screenshot({ path: file, fullPage: true });
    say(`# screenshot ${file}`);
}

// ---------------------------------------------------------------- helpers

async function onLoginPage(expectedUrl) {
    await page.waitForSelector('#login-form', { timeout: 5000 });
    if (expectedUrl) {
        equal(page.url(), expectedUrl, 'login page URL');
    } else {
        assert(new URL(page.url()).pathname === '/login', `not the login page: ${page.url()}`);
    }
}

async function signedInAs(user) {
    const who = (await page.textContent('#who', { timeout: 5000 })).trim();
    equal(who, user, 'the user shown on the page');
}

async function title() {
    return (await page.textContent('#title', { timeout: 5000 })).trim();
}

async function sidCookie() {
    const cookies = await page.context().cookies(site('/'));
    return cookies.find((c) => c.name === 'sid');
}

// An HTTP request outside the browser, on a new connection each time (a
// pooled keep-alive connection would not survive the nginx restart). No
// Accept: text/html, so the module answers 401 rather than redirecting.
function http(url, headers = {}) {
    return new Promise((resolve, reject) => {
        const req = httpGet(url, { headers, agent: false }, (res) => {
            let body = '';
            res.setEncoding('utf8');
            res.on('data', (d) => { body += d; });
            res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
        });
        req.setTimeout(5000, () => req.destroy(new Error(`timeout: ${url}`)));
        req.on('error', reject);
    });
}

// Runs a command of the demo's own (nginx, redis-server), output to artifacts.
function run(cmd, args) {
    const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 60_000 });
    writeFileSync(join(ARTIFACTS, `${cmd}-${Date.now()}.log`),
                  `$ ${cmd} ${args.join(' ')}\n${r.stdout || ''}${r.stderr || ''}`);
    if (r.status !== 0) {
        throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
    }
}

function alive(pid) {
    try {
        process.kill(pid, 0);
        return true;
    } catch {
        return false;
    }
}

async function waitFor(what, cond, ms = 10_000) {
    const end = Date.now() + ms;
    let last = '';
    for (;;) {
        try {
            if (await cond()) {
                return;
            }
        } catch (err) {
            last = ` (last error: ${err.message})`;
        }
        if (Date.now() > end) {
            throw new Error(`timed out waiting for ${what}${last}`);
        }
        await sleep(100);
    }
}

async function refused(url) {
    try {
        await http(url);
        return false;
    } catch (err) {
        return err.code === 'ECONNREFUSED';
    }
}

// ---------------------------------------------------------------- the story

mkdirSync(ARTIFACTS, { recursive: true });

const profile = mkdtempSync(join(tmpdir(), 'ngx-session-e2e-profile-'));
let context;
try {
    context = await chromium.launchPersistentContext(profile, {
        executablePath: CHROMIUM,
        headless: true,
        viewport: { width: 1100, height: 720 },
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
               '--no-first-run', '--disable-background-networking',
               '--disable-component-update', '--disable-sync'],
    });
} catch (err) {
    say('not ok 1 - Chromium starts');
    diag(err.message.split('\n').slice(0, 6).join('\n'));
    rmSync(profile, { recursive: true, force: true });
    say('1..1');
    say('0 passed, 1 failed');
    process.exit(1);
}

say(`# Chromium ${context.browser()?.version() ?? ''} (${CHROMIUM}), profile ${profile}`);
say(`# site ${site()}  cabinet ${cabinet()}  DEMO_DIR ${DEMO_DIR}`);

let cookie;             // the session cookie value, to replay after logout
let redisPid;

try {
    page = context.pages()[0] || await context.newPage();
    page.setDefaultTimeout(10_000);

    await check('the site sends a browser without a session to the login page', async () => {
        await page.goto(site('/'));
        await onLoginPage(site('/login?next=%2F'));
        assert(!(await sidCookie()), 'no session cookie yet');
        await shot('login-form');
    });

    await check('a wrong password is refused with 401 and no cookie', async () => {
        await page.fill('#user', USER);
        await page.fill('#password', 'not-the-password');
        const [resp] = await Promise.all([
            page.waitForResponse((r) => r.url().startsWith(site('/login'))
                                        && r.request().method() === 'POST'),
            page.click('#sign-in'),
        ]);
        equal(resp.status(), 401, 'status of POST /login');
        await page.waitForSelector('#error');
        assert(!(await sidCookie()), 'no session cookie after a wrong password');
        await shot('wrong-password');
    });

    await check('log in at :' + SITE_PORT + ' through the form', async () => {
        await page.fill('#user', USER);
        await page.fill('#password', PASSWORD);
        await Promise.all([page.waitForURL(site('/')), page.click('#sign-in')]);
        equal(await title(), 'EchoBot — the site', 'page title');
        await signedInAs(USER);
        const c = await sidCookie();
        assert(c, 'a sid cookie is set');
        equal(c.domain, HOST, 'cookie domain (host-only)');
        equal(c.httpOnly, true, 'cookie HttpOnly');
        equal(c.sameSite, 'Lax', 'cookie SameSite');
        cookie = c.value;
        await shot('site-home-logged-in');
    });

    await check('the docs open without a second login', async () => {
        await Promise.all([page.waitForURL(site('/docs/')), page.click('#to-docs')]);
        equal(await title(), 'Getting started', 'docs page');
        await signedInAs(USER);
        await Promise.all([page.waitForURL(site('/docs/commands.html')),
                           page.click('#to-commands')]);
        equal(await title(), 'Bot commands', 'second docs page');
        await signedInAs(USER);
        await shot('docs');
    });

    await check('the report homepage opens without a second login', async () => {
        await Promise.all([page.waitForURL(site('/report/')),
                           page.click('header nav >> text=Test report')]);
        equal(await title(), 'Allure Report', 'report page');
        await signedInAs(USER);
        await shot('report');
    });

    await check('click through to :' + CABINET_PORT + ': the cabinet knows the user, no login', async () => {
        await Promise.all([page.waitForURL(cabinet('/')),
                           page.click('header nav >> text=Cabinet')]);
        equal(await title(), 'Bot admin cabinet', 'cabinet page');
        await signedInAs(USER);
        const me = await page.evaluate(() => fetch('/api/whoami').then((r) => r.json()));
        equal(me.user, USER, 'the Flask app verified the signed assertion');
        equal(me.role, 'admin', 'and its role claim');
        await shot('cabinet');
    });

    await check('back to :' + SITE_PORT + ' and reload: still logged in', async () => {
        await Promise.all([page.waitForURL(site('/')),
                           page.click('header nav >> text=Site')]);
        await signedInAs(USER);
        await page.reload();
        await signedInAs(USER);
        await page.goto(cabinet('/'));
        await page.reload();
        await signedInAs(USER);
        await shot('back-and-reloaded');
    });

    await check('the session cookie works for all three services outside the browser', async () => {
        const h = { Cookie: `sid=${cookie}` };
        equal((await http(site('/docs/'), h)).status, 200, 'docs');
        equal((await http(site('/report/'), h)).status, 200, 'report');
        const me = await http(cabinet('/api/whoami'), h);
        equal(me.status, 200, 'bot admin');
        equal(JSON.parse(me.body).user, USER, 'bot admin user');
    });

    await check('a form on another origin that auto-submits to the cabinet is refused (session_csrf)', async () => {
        // another port of the same host: same-site, so the Lax cookie goes
        // along, and only the origin check stands between it and a logout
        // or a login as someone else
        const evil = createServer((req, res) => {
            const [, action, fields] = req.url.match(/^\/(\w+)(?:\?(.*))?$/) || [];
            const inputs = new URLSearchParams(fields || '');
            res.writeHead(200, { 'Content-Type': 'text/html' });
            res.end(`<!doctype html><title>evil</title>
<form id="f" method="post" action="${cabinet('/' + action)}">
${[...inputs].map(([k, v]) => `<input name="${k}" value="${v}">`).join('\n')}
</form><script>document.getElementById('f').submit();</script>`);
        });
        await new Promise((ok) => evil.listen(0, HOST, ok));
        const evilOrigin = `http://${HOST}:${evil.address().port}`;
        try {
            for (const [what, path] of [
                ['a logout', '/logout'],
                ['a login as the viewer', '/login?user=viewer&password=viewer-password&next=%2F'],
            ]) {
                const [resp] = await Promise.all([
                    page.waitForResponse((r) => r.request().method() === 'POST'
                                                && r.url().startsWith(cabinet('/'))),
                    page.goto(evilOrigin + path),
                ]);
                equal(resp.status(), 403, `${what} posted from ${evilOrigin}`);
                const sent = await resp.request().allHeaders();
                equal(sent.origin, evilOrigin, 'the browser sent its Origin');
                equal((await sidCookie())?.value, cookie, `the cookie is unchanged after ${what}`);
            }
            const me = await http(cabinet('/api/whoami'), { Cookie: `sid=${cookie}` });
            equal(me.status, 200, 'the session is still valid');
            equal(JSON.parse(me.body).user, USER, 'and still the same user');
            await page.goto(cabinet('/'));
            await signedInAs(USER);
            await shot('csrf-refused');
        } finally {
            evil.close();
        }
    });

    await check('the cabinet\'s own forms still work (a same-origin POST)', async () => {
        await page.goto(cabinet('/login'));
        const status = await page.evaluate(() => fetch('/login', {
            method: 'POST', redirect: 'manual',
            body: new URLSearchParams({ user: 'nobody', password: 'x' }),
        }).then((r) => r.status));
        equal(status, 401, 'same-origin POST /login reaches Flask (wrong password: 401, not 403)');
        await page.goto(cabinet('/'));
        await signedInAs(USER);
    });

    await check('X-User-Id from a client is never trusted', async () => {
        const forged = await http(cabinet('/api/whoami'), { 'X-User-Id': USER });
        equal(forged.status, 401, 'no session + forged header');
        const direct = await http(`http://${HOST}:${env('DEMO_APP_PORT', '50010')}/api/whoami`,
                                  { 'X-User-Id': USER, 'X-User-Role': 'admin' });
        equal(direct.status, 401, 'the Flask app reached directly with a forged X-User-Id');
        const replaced = await http(cabinet('/api/whoami'),
                                    { Cookie: `sid=${cookie}`, 'X-User-Id': 'root' });
        equal(JSON.parse(replaced.body).user, USER, 'header replaced by nginx');
    });

    await check('nginx stopped and started: still logged in', async () => {
        const pid = Number(readFileSync(join(DEMO_DIR, 'logs', 'nginx.pid'), 'utf8'));
        const r = spawnSync('nginx', ['-p', DEMO_DIR, '-c', 'conf/nginx.conf', '-s', 'stop']);
        equal(r.status, 0, 'nginx -s stop');
        await waitFor('nginx to exit', () => !alive(pid));
        assert(await refused(site('/')), 'the site is down');
        assert(await refused(cabinet('/')), 'the cabinet is down');
        run('nginx', ['-p', DEMO_DIR, '-c', 'conf/nginx.conf']);
        const pid2 = Number(readFileSync(join(DEMO_DIR, 'logs', 'nginx.pid'), 'utf8'));
        assert(pid2 !== pid && alive(pid2), 'a new nginx master');
        await page.goto(cabinet('/'));
        equal(await title(), 'Bot admin cabinet', 'cabinet page');
        await signedInAs(USER);
        await page.goto(site('/docs/'));
        await signedInAs(USER);
        await shot('after-nginx-restart');
    });

    await check('Redis down: fail closed with 503, no login page', async () => {
        redisPid = Number(readFileSync(join(DEMO_DIR, 'run', 'redis.pid'), 'utf8'));
        process.kill(redisPid, 'SIGTERM');       // Redis writes its AOF and exits
        await waitFor('redis to exit', () => !alive(redisPid));
        const r = await http(site('/docs/'), { Cookie: `sid=${cookie}` });
        equal(r.status, 503, 'status while Redis is down');
        equal(r.headers['retry-after'], '1', 'Retry-After');
        const resp = await page.goto(site('/report/'));
        equal(resp.status(), 503, 'browser navigation while Redis is down');
        await shot('redis-down-503');
    });

    await check('Redis restarted (AOF): still logged in', async () => {
        assert(existsSync(join(DEMO_DIR, 'redis', 'appendonlydir')), 'an AOF directory');
        assert(redisPid && !alive(redisPid), 'Redis is still down');
        run('redis-server', [join(DEMO_DIR, 'conf', 'redis.conf')]);   // replays the AOF
        const t0 = Date.now();
        await waitFor('nginx to reconnect to Redis', async () =>
            (await http(site('/report/'), { Cookie: `sid=${cookie}` })).status === 200);
        say(`# nginx answered from Redis again after ${Date.now() - t0} ms`);
        await page.goto(site('/report/'));
        equal(await title(), 'Allure Report', 'report page');
        await signedInAs(USER);
        await page.goto(cabinet('/'));
        await signedInAs(USER);
        await page.goto(site('/report/'));
        await shot('after-redis-restart');
    });

    await check('log out on the report page', async () => {
        await Promise.all([page.waitForURL(site('/login?bye=1')), page.click('#logout')]);
        await page.waitForSelector('#signed-out');
        assert(!(await sidCookie()), 'the browser dropped the cookie');
        await shot('logged-out');
    });

    await check('logged out on the site and the docs: back to the login page', async () => {
        await page.goto(site('/'));
        await onLoginPage(site('/login?next=%2F'));
        await page.goto(site('/docs/commands.html'));
        await onLoginPage(site('/login?next=%2Fdocs%2Fcommands.html'));
        await shot('docs-after-logout');
    });

    await check('logged out on the report: back to the login page', async () => {
        await page.goto(site('/report/'));
        await onLoginPage(site('/login?next=%2Freport%2F'));
    });

    await check('logged out on the cabinet (:' + CABINET_PORT + '): back to its login page', async () => {
        await page.goto(cabinet('/'));
        await onLoginPage(cabinet('/login?next=%2F'));
        await shot('cabinet-after-logout');
    });

    await check('API calls from the browser get 401 on every service', async () => {
        const json = { headers: { Accept: 'application/json' } };
        equal(await page.evaluate((o) => fetch('/api/whoami', o).then((r) => r.status), json),
              401, 'cabinet /api/whoami');
        await page.goto(site('/login'));
        equal(await page.evaluate((o) => fetch('/docs/', o).then((r) => r.status), json),
              401, 'docs');
        equal(await page.evaluate((o) => fetch('/report/', o).then((r) => r.status), json),
              401, 'report');
    });

    await check('the old cookie is dead in Redis: 401 on all three services', async () => {
        const h = { Cookie: `sid=${cookie}` };
        equal((await http(site('/docs/'), h)).status, 401, 'docs');
        equal((await http(site('/report/'), h)).status, 401, 'report');
        equal((await http(cabinet('/api/whoami'), h)).status, 401, 'bot admin');
        const nav = await http(cabinet('/'), { ...h, Accept: 'text/html' });
        equal(nav.status, 302, 'a navigation with it is redirected');
        equal(nav.headers.location, cabinet('/login?next=%2F'), 'to the login page');
    });

    await check('a viewer can read the docs but gets 403 in the cabinet', async () => {
        await page.goto(cabinet('/'));
        await onLoginPage();
        await page.fill('#user', 'viewer');
        await page.fill('#password', 'viewer-password');
        const [resp] = await Promise.all([
            page.waitForResponse((r) => r.url() === cabinet('/')),
            page.click('#sign-in'),
        ]);
        equal(resp.status(), 403, 'cabinet for a viewer');
        await page.waitForSelector('#forbidden');
        await shot('viewer-403-cabinet');
        await page.goto(site('/docs/'));
        await signedInAs('viewer');
        await Promise.all([page.waitForURL(site('/login?bye=1')), page.click('#logout')]);
    });

    // ------------------------------------------------ issue 15: two browsers
    // A and B log in to the cabinet as the same user; B's cabinet holds a
    // WebSocket (location /live, session_live_close on). A opens "Your
    // sessions" and signs B out: B's WebSocket is closed by nginx, and B's
    // next click lands on the login page. A stays signed in.
    let twin;
    try {
        twin = await chromium.launch({
            executablePath: CHROMIUM,
            headless: true,
            args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
                   '--no-first-run', '--disable-background-networking',
                   '--disable-component-update', '--disable-sync'],
        });
        const pA = await (await twin.newContext({ userAgent: 'browser A' })).newPage();
        const pB = await (await twin.newContext({ userAgent: 'browser B' })).newPage();
        pA.setDefaultTimeout(10_000);
        pB.setDefaultTimeout(10_000);

        const logIn = async (p) => {
            await p.goto(cabinet('/'));
            await p.waitForSelector('#login-form');
            await p.fill('#user', USER);
            await p.fill('#password', PASSWORD);
            await Promise.all([p.waitForURL(cabinet('/')), p.click('#sign-in')]);
        };
        let bId;

        await check('two browsers log in to the cabinet; B\'s live WebSocket connects', async () => {
            await logIn(pA);
            await logIn(pB);
            await pB.waitForFunction(
                () => document.getElementById('live-status').textContent === 'connected');
            const j = await pB.evaluate(async () =>
                (await fetch('/account/sessions.json')).json());
            bId = j.sessions.find((s) => s.current).id;
            assert(/^[0-9a-f]{16}$/.test(bId), `B's session id: ${bId}`);
        });

        await check('"Your sessions" in A lists B with its browser and a sign-out button', async () => {
            await Promise.all([pA.waitForURL(cabinet('/sessions')), pA.click('#to-sessions')]);
            await pA.waitForSelector(`tr.session[data-id="${bId}"] button.revoke`);
            const ua = await pA.textContent(`tr.session[data-id="${bId}"] td:nth-child(4)`);
            equal(ua, 'browser B', 'the User-Agent shown for B');
            assert(await pA.$('tr.session.current'), 'A\'s own session is marked');
            page = pA;
            await shot('your-sessions');
        });

        await check('A signs B out: B\'s WebSocket is closed by nginx within 2 s', async () => {
            const t0 = Date.now();
            await pA.click(`tr.session[data-id="${bId}"] button.revoke`);
            await pA.waitForFunction(() =>
                document.getElementById('sessions-status').textContent === 'signed out');
            await pB.waitForFunction(
                () => document.getElementById('live-status').textContent.startsWith('closed'),
                null, { timeout: 5000 });
            const ms = Date.now() - t0;
            assert(ms < 2500, `closed after ${ms} ms`);
            diag(`B's WebSocket: ${await pB.textContent('#live-status')} after ${ms} ms`);
            assert(!(await pA.$(`tr.session[data-id="${bId}"]`)), 'B left A\'s list');
        });

        await check('B\'s next click lands on the login page; A is still signed in', async () => {
            await Promise.all([pB.waitForURL((u) => new URL(u).pathname === '/login'),
                               pB.click('#to-sessions')]);
            await pB.waitForSelector('#login-form');
            page = pB;
            await shot('signed-out-by-other-browser');
            await pA.goto(cabinet('/'));
            equal((await pA.textContent('#who')).trim(), USER, 'A on the cabinet');
            await Promise.all([pA.waitForURL((u) => new URL(u).pathname === '/login'),
                               pA.click('#logout')]);
        });
    } finally {
        if (twin) {
            await twin.close();
        }
    }
} finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
}

say(`1..${n}`);
say(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
