// The gateway's dashboard end to end: a gateway (startGateway, in process: embedded broker and
// dashboard on free ports, a temp database) with two Node nodes writing and a third gone offline;
// its JSON endpoints and its server-sent events; then the page in headless Chromium
// (playwright-core driving Debian's /usr/bin/chromium): the nodes online and offline, an
// entity's value, a live update when a node writes (no reload), an entity's details; and a
// screenshot in host-tests/artifacts/dashboard.png. Without /usr/bin/chromium the browser part
// is skipped with a note (CI installs it).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LWWMap } from "../../src/core/maps.js";
import { defaults } from "../../targets/rpi/gateway-config.js";
import { startGateway, type Gateway } from "../../targets/rpi/gateway-daemon.js";
import { startAppNode, type AppNode } from "../../sim/esp32/app-node.js";
import { getJson, PATIENCE_MS, ROOT, sleep, waitFor, within } from "./helpers.js";

const CHROMIUM = "/usr/bin/chromium";
const DIR = mkdtempSync(join(tmpdir(), "lichen-dashboard-"));
const ARTIFACTS = join(ROOT, "host-tests/artifacts");
const GW = "gw-dash";
const FLEET = "dash";

/** What the page functions below use of the browser's globals. */
interface Page {
  document: { querySelector(selector: string): { textContent: string | null; click(): void } | null; documentElement: { scrollWidth: number; clientWidth: number } };
  sameDocument?: number;
}

let gw: Gateway | undefined;
const nodes: AppNode[] = [];
const logs: Array<{ level: string; event: string }> = [];

test.before(async () => {
  gw = await startGateway(
    { ...defaults(), id: GW, fleet: FLEET, db: join(DIR, "gw.db"), port: 0, httpPort: 0, heartbeatMs: 500, antiEntropyMs: 1000, logLevel: "warn" },
    { log: (level, event) => logs.push({ level, event }) },
  );
  gw.write("fleet", "config", LWWMap, (c) => {
    c.set("interval", 400);
    c.set("threshold.temperature", 30);
  });
  const common = { brokerUrl: gw.brokerUrl, fleet: FLEET, gateways: [GW], config: { heartbeat: 500, antiEntropy: 1000, reconnect: 500 } };
  // n3 comes, writes, and goes: the page shows it offline
  const n3 = await startAppNode({ id: "n3", ...common, intervalMs: 86_400_000 });
  n3.write({ temperature: 17.5, humidity: 61 });
  await waitFor("n3's readings at the gateway", () => gw!.engine.get("readings/n3") !== undefined, PATIENCE_MS);
  await n3.stop();
  nodes.push(await startAppNode({ id: "n1", ...common, intervalMs: 400 }), await startAppNode({ id: "n2", ...common, intervalMs: 400 }));
  nodes[0]!.write({ temperature: 21.5, setpoint: 20 });
  await waitFor("both nodes online at the gateway", () => gw!.monitor.nodes().filter((n) => n.online).length === 2, PATIENCE_MS);
});

test.after(async () => {
  await Promise.all(nodes.map((n) => n.stop().catch(() => {})));
  await gw?.stop("test done");
  rmSync(DIR, { recursive: true, force: true });
});

function raw(path: string, options: { method?: string; host?: string } = {}): Promise<{ status: number; body: string }> {
  const url = new URL(path, gw!.httpUrl);
  return within(
    `${options.method ?? "GET"} ${path}`,
    PATIENCE_MS,
    new Promise((resolve, reject) => {
      const req = request({ host: url.hostname, port: url.port, path: url.pathname + url.search, method: options.method ?? "GET", headers: options.host ? { host: options.host } : {} }, (res) => {
        let body = "";
        res.setEncoding("utf8").on("data", (s: string) => (body += s));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on("error", reject);
      req.end();
    }),
  );
}

test("the JSON endpoints and the event stream", async () => {
  const base = gw!.httpUrl;
  await waitFor("n1's readings with its setpoint", () => (gw!.engine.get("readings/n1")?.value() as Record<string, unknown> | undefined)?.setpoint === 20, PATIENCE_MS);
  const status = await getJson(`${base}api/status`);
  assert.is(status.status, 200);
  assert.is(status.body.gateway.id, GW);
  assert.ok(status.body.report.namespaces.some((n: { namespace: string }) => n.namespace === "readings"), "report.ts's status: namespaces");
  const nodesRes = await getJson(`${base}api/nodes`);
  const byId = new Map((nodesRes.body.nodes as Array<{ id: string; online: boolean; lagMs: number | null; docs: string[] }>).map((n) => [n.id, n]));
  assert.is(byId.get("n1")?.online, true);
  assert.is(byId.get("n3")?.online, false, "n3 is offline");
  assert.ok(byId.get("n1")!.docs.includes("readings/n1"));
  // n1 writes every 400 ms: the time since its last change is measured, and recent (the bound is
  // loose on purpose: a busy machine may delay the gateway by seconds)
  assert.ok(byId.get("n1")!.lagMs !== null && byId.get("n1")!.lagMs! < PATIENCE_MS, `n1's lag is measured and recent: ${byId.get("n1")!.lagMs}`);
  const entities = (await getJson(`${base}api/entities`)).body.entities as Array<{ key: string; type: string; value: Record<string, unknown> }>;
  const r1 = entities.find((e) => e.key === "readings/n1");
  assert.is(r1?.type, "LWWMap");
  assert.is(r1?.value.setpoint, 20);
  assert.equal((await getJson(`${base}api/entities?namespace=fleet`)).body.entities.map((e: { key: string }) => e.key), ["fleet/config"]);
  const detail = await getJson(`${base}api/entity?key=${encodeURIComponent("readings/n1")}&events=5`);
  assert.is(detail.status, 200);
  assert.is(detail.body.owner, GW);
  assert.ok(detail.body.version.n1 > 0, "its version vector");
  assert.ok(typeof detail.body.versionTimes.n1 === "string", "with the time of n1's newest change");
  assert.ok(detail.body.log.entityEvents.length >= 1 && detail.body.log.entityEvents.length <= 5, "its last events");
  assert.is(detail.body.log.entityEvents[0].node, "n1");
  assert.ok(detail.body.history.length >= 1, "its recent values from the SQL mirror");
  assert.is((await getJson(`${base}api/entity?key=readings/nope`)).status, 404);
  assert.is((await getJson(`${base}api/entity?key=noslash`)).status, 400);
  assert.is((await getJson(`${base}api/entity`)).status, 400);
  assert.is((await raw("/nothing")).status, 404);
  assert.is((await raw("/", { method: "POST" })).status, 405);
  assert.is((await raw("/api/status", { host: "evil.example:80" })).status, 403, "DNS rebinding: another host name is refused");
  const page = await raw("/");
  assert.is(page.status, 200);
  assert.match(page.body, /<title>lichen gateway<\/title>/);
  assert.not.match(page.body, /https?:\/\/(?!www\.w3\.org)/, "nothing loaded from the internet");

  // server-sent events: hello, then ticks carrying the documents that changed
  const url = new URL("/events", gw!.httpUrl);
  const seen = await within(
    "a hello and a tick with n1's readings",
    PATIENCE_MS,
    new Promise<string>((resolve, reject) => {
      const req = request({ host: url.hostname, port: url.port, path: url.pathname }, (res) => {
        assert.match(String(res.headers["content-type"]), /^text\/event-stream/);
        let text = "";
        res.setEncoding("utf8").on("data", (s: string) => {
          text += s;
          if (text.includes("event: hello") && /event: tick\ndata: .*"key":"readings\/n1"/.test(text)) {
            req.destroy();
            resolve(text);
          }
        });
      });
      req.on("error", (e) => ((e as NodeJS.ErrnoException).code === "ECONNRESET" ? undefined : reject(e)));
      req.end();
    }),
  );
  const tick = JSON.parse(seen.split("event: tick\ndata: ")[1]!.split("\n")[0]!) as { ingest: number; nodes: unknown[]; totals: { applied: number } };
  assert.ok(tick.totals.applied > 0 && Array.isArray(tick.nodes));
});

test("the page in Chromium: nodes, values, live updates, details; a screenshot", async () => {
  if (!existsSync(CHROMIUM)) {
    console.log(`note: ${CHROMIUM} is absent: the browser test is skipped (CI installs Chromium)`);
    return;
  }
  const { chromium } = await import("playwright-core");
  const profile = mkdtempSync(join(DIR, "chromium-"));
  const context = await within(
    "Chromium to start",
    PATIENCE_MS,
    chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
      viewport: { width: 1440, height: 1000 },
    }),
  );
  const errors: string[] = [];
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    page.on("pageerror", (e) => errors.push(e.message));
    page.on("console", (m) => {
      if (m.type() === "error") errors.push(m.text());
    });
    await page.goto(gw!.httpUrl, { timeout: PATIENCE_MS });
    const text = (sel: string): Promise<string> => page.locator(sel).first().innerText({ timeout: PATIENCE_MS });
    // functions, not strings (the page's Content-Security-Policy forbids evaluating strings); they
    // run in the page, self-contained, and this project's tsconfig has no DOM types: hence `Page`
    const until = (what: string, fn: (arg: string[]) => boolean, arg: string[], timeout = PATIENCE_MS): Promise<unknown> =>
      page.waitForFunction(fn, arg, { timeout, polling: 100 }).catch((e: Error) => {
        throw new Error(`the page never showed ${what}: ${e.message.split("\n")[0]}`);
      });
    const cellHas = ([sel, want]: string[]): boolean => ((globalThis as unknown as Page).document.querySelector(sel!)?.textContent ?? "").includes(want!);

    await until("n1 and n2 online", (ids) => ids.every((id) => (globalThis as unknown as Page).document.querySelector(`tr[data-node="${id}"] .state`)?.textContent === "online"), ["n1", "n2"]);
    assert.is(await text('tr[data-node="n3"] .state'), "offline", "n3 offline");
    await until("n1's readings", cellHas, ['tr[data-key="readings/n1"] .value', "setpoint20"]);
    assert.match(await text("#c-online"), /^2 \/ 3$/, "the nodes card");
    assert.match(await text("#gw-id"), new RegExp(GW));

    // a node writes: the page shows it without a reload
    await page.evaluate(() => ((globalThis as unknown as Page).sameDocument = 42));
    nodes[0]!.write({ setpoint: 33.25 });
    await until("n1's new setpoint", cellHas, ['tr[data-key="readings/n1"] .value', "setpoint33.25"]);
    assert.is(await page.evaluate(() => (globalThis as unknown as Page).sameDocument), 42, "updated live, not reloaded");

    // an entity's details: value, version vector, event log
    // clicked inside the page, in one step: the live updates redraw the table every tick, and on a
    // busy machine Playwright's click may never find the row in place between two redraws
    await until("the row of readings/n1", ([sel]) => (globalThis as unknown as Page).document.querySelector(sel!) !== null, ['tr[data-key="readings/n1"]']);
    await page.evaluate(() => (globalThis as unknown as Page).document.querySelector('tr[data-key="readings/n1"]')!.click());
    await until("the details of readings/n1", cellHas, ["#detail-body", "Event log"]);
    const details = (await page.locator("#detail-body").textContent({ timeout: PATIENCE_MS })) ?? "";
    assert.match(details, /LWWMap/);
    assert.match(details, /Version vector/);
    assert.match(details, /"setpoint": 33\.25/);
    assert.match(details, /events of this entity in log readings/);
    await until("namespaces", ([sel]) => (globalThis as unknown as Page).document.querySelector(sel!) !== null, ['#namespaces tr[data-ns="readings"]']);

    // the Ingest card: the gateway's own figure (deltas per second over the last 10 s)
    await sleep(2500);
    const card = Number((await text("#c-ingest")).replace("/s", ""));
    const measured = gw!.monitor.ingestRate();
    assert.ok(measured > 0, "the nodes write");
    assert.ok(Math.abs(card - measured) <= Math.max(1, measured * 0.35), `the card (${card}/s) shows what the gateway measures (${measured}/s)`);

    // the history chart of a numeric field
    await page.selectOption("#hist-doc", "readings/n1", { timeout: PATIENCE_MS });
    await page.selectOption("#hist-field", "setpoint", { timeout: PATIENCE_MS });
    await until("the history of setpoint", cellHas, ["#hist-info", "values of readings/n1 setpoint, last 33.25"]);

    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, "dashboard.png"), fullPage: true, timeout: PATIENCE_MS });
    assert.ok(existsSync(join(ARTIFACTS, "dashboard.png")));

    // a phone: 390 px wide, nothing wider than the screen; the settings form works there
    await page.setViewportSize({ width: 390, height: 844 });
    await sleep(300);
    const widths = await page.evaluate(() => [(globalThis as unknown as Page).document.documentElement.scrollWidth, (globalThis as unknown as Page).document.documentElement.clientWidth]);
    assert.ok(widths[0]! <= 390, `the page is ${widths[0]} px wide at 390 px`);
    await page.locator("#settings-table tbody tr:last-child .s-key").fill("threshold.temperature", { timeout: PATIENCE_MS });
    await page.locator("#settings-table tbody tr:last-child .s-value").fill("28.5", { timeout: PATIENCE_MS });
    await page.locator("#settings-apply").click({ timeout: PATIENCE_MS });
    await until("the change made", cellHas, ["#settings-status", "applied at the gateway"]);
    await waitFor("both nodes hold threshold.temperature", () => nodes.every((n) => n.config.get("threshold.temperature") === 28.5), PATIENCE_MS);
    await until("n1 and n2 applied it", (ids) => ids.every((id) => (globalThis as unknown as Page).document.querySelector(`#settings-nodes tr[data-node="${id}"] .state`)?.textContent === "applied"), ["n1", "n2"]);
    assert.is(await text('#settings-nodes tr[data-node="n3"] .state'), "offline", "n3 is offline: not applied");
    assert.is((gw!.engine.get("fleet/config")!.value() as Record<string, unknown>)["threshold.temperature"], 28.5, "written by the gateway");
    await page.screenshot({ path: join(ARTIFACTS, "dashboard-390.png"), fullPage: true, timeout: PATIENCE_MS });

    // the gateway goes away: the page says so, and shows no figure as current
    await gw!.stop("test: gateway gone");
    await until("the gateway shown unreachable", cellHas, ["#live-text", "gateway unreachable"], PATIENCE_MS);
    assert.match(await text("#c-online"), /^\? \/ 3$/, "nodes online: unknown");
    assert.is(await text('tr[data-node="n1"] .state'), "unknown");
    assert.is(await text("#c-ingest"), "–");
    await page.screenshot({ path: join(ARTIFACTS, "dashboard-offline.png"), fullPage: false, timeout: PATIENCE_MS });
    assert.equal(errors.filter((e) => !/ERR_CONNECTION_REFUSED|Failed to load resource|EventSource/.test(e)), [], "no errors in the page");
  } finally {
    await within("Chromium to close", PATIENCE_MS, context.close()).catch(() => {});
  }
  assert.equal(logs.filter((l) => l.level === "error"), [], "the gateway logged no error");
});

test.run();
