// `npm start` (scripts/start.ts): a gateway with its embedded broker and a simulated fleet of
// three nodes. With `--duration 8` it stops by itself: exit 0, having printed the dashboard's URL
// and that the nodes converged; a few lines per second at most; the dashboard answered meanwhile.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { getJson, ROOT, spawnChild, waitFor, within } from "./helpers.js";

test("npm start -- --duration 8: the dashboard URL, the nodes converge, exit 0", async () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> };
  assert.match(pkg.scripts.start!, /scripts\/start\.ts/, "npm start runs scripts/start.ts");
  const child = spawnChild(["--import", "tsx", join(ROOT, "scripts/start.ts"), "--duration", "8"], { timeoutMs: 40_000 });
  await waitFor("the dashboard's URL", () => /dashboard\s+http:\/\/\S+/.test(child.stdout), 15_000, () => child.stdout + child.stderr);
  const url = /dashboard\s+(http:\/\/\S+)/.exec(child.stdout)![1]!;
  const status = await getJson(`${url}api/status`);
  assert.is(status.status, 200, "the dashboard answers");
  assert.is(status.body.gateway.fleet, "demo");
  await waitFor("the nodes to converge", () => /converged: all 3 nodes in sync with the gateway/.test(child.stdout), 15_000, () => child.stdout + child.stderr);
  const r = await within("npm start to stop by itself", 25_000, child.exited);
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
  assert.ok(lines.length < 60, `${lines.length} lines in about 9 s`);
  assert.not.match(r.stdout, /^\{"ts"/m, "no JSON logs in the demo's terminal");
});

test.run();
