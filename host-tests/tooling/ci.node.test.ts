// CI runs what the README tells a developer to run: `.ci/run` installs with `npm ci` (whose
// "prepare" builds dist/) and then runs the README's test command, whose script is the test runner.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const read = (f: string): string => readFileSync(join(ROOT, f), "utf8");

/** The npm commands a shell script or a sh block runs, without redirections and comments. */
function npmCommands(script: string): string[] {
  return script
    .split("\n")
    .map((l) => l.replace(/#.*$/, "").trim())
    .filter((l) => l.startsWith("npm "))
    .map((l) => l.replace(/\s*<\/dev\/null.*$/, "").replace(/\s+--no-(audit|fund)\b/g, "").trim());
}

test("the README's quick start installs with npm ci and tests with npm test; .ci/run runs the same, in that order", () => {
  const readme = read("README.md");
  const quickStart = readme.slice(readme.indexOf("## Quick start"), readme.indexOf("\n## ", readme.indexOf("## Quick start") + 1));
  const block = /```sh\n([\s\S]*?)```/.exec(quickStart)?.[1] ?? "";
  const documented = npmCommands(block);
  assert.ok(documented.includes("npm ci") && documented.includes("npm test"), `the quick start: ${JSON.stringify(documented)}`);
  const ci = npmCommands(read(".ci/run"));
  assert.equal(ci, ["npm ci", "npm test"], ".ci/run installs, then runs the README's test command");
});

test("npm test is the test runner, and npm ci builds the package (prepare)", () => {
  const pkg = JSON.parse(read("package.json")) as { scripts: Record<string, string> };
  assert.match(pkg.scripts.test!, /host-tests\/run\.ts$/);
  assert.is(pkg.scripts.prepare, "npm run build");
  assert.match(pkg.scripts.build!, /scripts\/build\.ts$/);
});

test.run();
