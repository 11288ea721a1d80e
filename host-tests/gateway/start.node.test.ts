// `npm start` (scripts/start.ts): a gateway with its embedded broker and a simulated fleet of
// three nodes. It prints the dashboard's URL (the dashboard answers), says when the nodes have
// converged, and Ctrl-C (SIGINT) stops it cleanly: exit 0, a few lines per second at most. Not
// `--duration`: that stops after so many seconds of wall time, converged or not, and a busy
// machine may need longer than any fixed time to start the fleet.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { getJson, PATIENCE_MS, ROOT, spawnChild, waitFor, within } from "./helpers.js";

test("npm start: the dashboard URL, the nodes converge, Ctrl-C stops it with exit 0", async () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> };
  assert.match(pkg.scripts.start!, /scripts\/start\.ts/, "npm start runs scripts/start.ts");
  const startedAt = Date.now();
  const child = spawnChild(["--import", "tsx", join(ROOT, "scripts/start.ts")], { timeoutMs: 3 * PATIENCE_MS });
  await waitFor("the dashboard's URL", () => /dashboard\s+http:\/\/\S+/.test(child.stdout), PATIENCE_MS, () => child.stdout + child.stderr);
  const url = /dashboard\s+(http:\/\/\S+)/.exec(child.stdout)![1]!;
  const status = await getJson(`${url}api/status`);
  assert.is(status.status, 200, "the dashboard answers");
  assert.is(status.body.gateway.fleet, "demo");
  await waitFor("the nodes to converge", () => /converged: all 3 nodes in sync with the gateway/.test(child.stdout), PATIENCE_MS, () => child.stdout + child.stderr);
  await waitFor("readings/n1 synced", () => /readings\/n1 synced \(\d+ keys\)/.test(child.stdout), PATIENCE_MS, () => child.stdout);
  child.kill("SIGINT");
  const r = await within("npm start to stop on Ctrl-C", PATIENCE_MS, child.exited);
  const seconds = (Date.now() - startedAt) / 1000;
  assert.is(r.code, 0, `exit 0 (stdout: ${r.stdout} stderr: ${r.stderr})`);
  assert.is(r.stderr.replace(/^npm warn.*\n/gm, ""), "", "nothing on stderr");
  for (const id of ["n1", "n2", "n3"]) assert.match(r.stdout, new RegExp(`^\\s*[\\d.]+s  ${id} online$`, "m"), `${id} online`);
  assert.match(r.stdout, /stopping \(Ctrl-C\)/);
  assert.match(r.stdout, /summary: 3\/3 nodes online/);
  const kept = /stopped\. The database is kept: npx lichen status (\S+)/.exec(r.stdout);
  assert.ok(kept, "it says where the database is");
  if (kept![1]!.includes("lichen-demo-")) rmSync(dirname(kept![1]!), { recursive: true, force: true });
  // a few plain lines per second at most, beyond the banner
  const lines = r.stdout.trim().split("\n");
  assert.ok(lines.length < 30 + seconds, `${lines.length} lines in ${seconds.toFixed(0)} s`);
  assert.not.match(r.stdout, /^\{"ts"/m, "no JSON logs in the demo's terminal");
});

test.run();
