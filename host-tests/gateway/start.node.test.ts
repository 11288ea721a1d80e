// `npm start` (scripts/start.ts): a gateway with its embedded broker and a simulated fleet of
// three nodes. With `--duration 30` it stops by itself 30 s after every node is online: exit 0,
// having printed the dashboard's URL and that the nodes converged; a few lines per second at
// most; the dashboard answered meanwhile; its temporary directory removed. SIGINT sent to the
// `npm start` process itself (not only to the inner one) stops it cleanly, start-up included.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { getJson, PATIENCE_MS, ROOT, spawnChild, waitFor, within } from "./helpers.js";

const DURATION_S = 30;

test(`npm start -- --duration ${DURATION_S}: the dashboard URL, the nodes converge, exit 0`, async () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> };
  assert.match(pkg.scripts.start!, /scripts\/start\.ts/, "npm start runs scripts/start.ts");
  const child = spawnChild(["--import", "tsx", join(ROOT, "scripts/start.ts"), "--duration", String(DURATION_S)], { timeoutMs: DURATION_S * 1000 + PATIENCE_MS });
  await waitFor("the dashboard's URL", () => /dashboard\s+http:\/\/\S+/.test(child.stdout), PATIENCE_MS, () => child.stdout + child.stderr);
  const url = /dashboard\s+(http:\/\/\S+)/.exec(child.stdout)![1]!;
  const status = await getJson(`${url}api/status`);
  assert.is(status.status, 200, "the dashboard answers");
  assert.is(status.body.gateway.fleet, "demo");
  await waitFor("the nodes to converge", () => /converged: all 3 nodes in sync with the gateway/.test(child.stdout), DURATION_S * 1000 + PATIENCE_MS, () => child.stdout + child.stderr);
  const r = await within("npm start to stop by itself", DURATION_S * 1000 + PATIENCE_MS, child.exited);
  assert.is(r.code, 0, `exit 0 (stdout: ${r.stdout} stderr: ${r.stderr})`);
  assert.is(r.stderr.replace(/^npm warn.*\n/gm, ""), "", "nothing on stderr");
  for (const id of ["n1", "n2", "n3"]) assert.match(r.stdout, new RegExp(`^\\s*[\\d.]+s  ${id} online$`, "m"), `${id} online`);
  assert.match(r.stdout, /readings\/n1 synced \(\d+ keys\)/);
  assert.match(r.stdout, /summary: 3\/3 nodes online/);
  // the duration counts from the moment every node is online
  const online = r.stdout.indexOf("all 3 nodes online");
  assert.ok(online > 0 && online < r.stdout.indexOf(`stopping (${DURATION_S} s elapsed)`), "online first, then the duration");
  const db = /database (\S+lichen-demo-\S+)/.exec(r.stdout)![1]!;
  assert.not.ok(existsSync(dirname(db)), "the temporary directory is removed");
  assert.match(r.stdout, /the database was temporary and is removed/);
  // a few plain lines per second at most
  const lines = r.stdout.trim().split("\n");
  assert.ok(lines.length < 2 * DURATION_S, `${lines.length} lines in about ${DURATION_S} s`);
  assert.not.match(r.stdout, /^\{"ts"/m, "no JSON logs in the demo's terminal");
});

test("SIGINT to the npm start process stops the demo cleanly, even during start-up", async () => {
  const proc = spawn("npm", ["start", "--", "--port", "0", "--http-port", "0"], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, LICHEN_DEBUG: undefined } });
  let stdout = "";
  proc.stdout!.setEncoding("utf8").on("data", (s: string) => (stdout += s));
  proc.stderr!.resume();
  const exited = new Promise<number | null>((resolve) => proc.on("close", (code) => resolve(code)));
  const killer = setTimeout(() => proc.kill("SIGKILL"), PATIENCE_MS * 2);
  try {
    await waitFor("the dashboard's URL", () => /dashboard\s+http:\/\/\S+/.test(stdout), PATIENCE_MS, () => stdout);
    proc.kill("SIGINT"); // npm's own process: npm relays it to the demo (package.json: exec node --import tsx)
    await within("npm start to exit after SIGINT", PATIENCE_MS, exited);
  } finally {
    clearTimeout(killer);
  }
  assert.match(stdout, /stopping \(Ctrl-C\)/, `a clean stop (stdout: ${stdout})`);
  assert.match(stdout, /stopped\./);
  const db = /database (\S+lichen-demo-\S+)/.exec(stdout)![1]!;
  assert.not.ok(existsSync(dirname(db)), "the temporary directory is removed");
});

test.run();
