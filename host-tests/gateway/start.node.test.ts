// `npm start` (scripts/start.ts): a gateway with its embedded broker and a simulated fleet of
// three nodes. With `--duration 30` it stops by itself: exit 0, having printed the dashboard's URL
// and that the nodes converged; a few lines per second at most; the dashboard answered meanwhile.
// 30 s: long enough for the fleet to start and converge on a busy machine (idle: about 2 s).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync, rmSync } from "node:fs";
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
  const kept = /stopped\. The database is kept: npx lichen status (\S+)/.exec(r.stdout);
  assert.ok(kept, "it says where the database is");
  if (kept![1]!.includes("lichen-demo-")) rmSync(dirname(kept![1]!), { recursive: true, force: true });
  // a few plain lines per second at most
  const lines = r.stdout.trim().split("\n");
  assert.ok(lines.length < 2 * DURATION_S, `${lines.length} lines in about ${DURATION_S} s`);
  assert.not.match(r.stdout, /^\{"ts"/m, "no JSON logs in the demo's terminal");
});

test.run();
