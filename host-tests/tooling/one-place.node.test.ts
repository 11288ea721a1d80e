// Knowledge written once stays written once. Each piece below has one owning module; the test
// scans the repository's code and fails, naming file and line, when it shows up anywhere else:
//
// - the KvStore key layout (the prefixes of states, their tails, envelopes, event logs, snapshots
//   and the clock): src/store/keys.ts. Everything else builds, lists and parses keys through it.
// - the FNV-1a constants: src/core/hash.ts.
// - the document-key grammar's character class: src/core/names.ts.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const DIRS = ["src", "targets", "scripts", "bench", "examples", "bin", "host-tests", "sim"];
const SKIP_DIRS = new Set(["node_modules", "build", "dist"]);
const SELF = "host-tests/tooling/one-place.node.test.ts";

interface Rule {
  readonly what: string;
  readonly owner: string;
  readonly pattern: RegExp;
  /** Files that may hold the pattern for another reason, with that reason. */
  readonly exempt?: Readonly<Record<string, string>>;
}

// The patterns are assembled from pieces so that this file does not match itself.
const Q = "[\"'`]";
const RULES: readonly Rule[] = [
  {
    what: "a KvStore key prefix of lichen's layout",
    owner: "src/store/keys.ts",
    pattern: new RegExp(`${Q}(?:[sdet]/|c/clock)|~${"snapshot"}`),
    exempt: {
      "host-tests/store/keys.test.ts": "pins the layout's keys byte for byte: existing stores must read back",
      "host-tests/store/sqlite.node.test.ts": "SqliteKv's own tests: arbitrary keys for the key encoding and its order",
      "host-tests/store/flash-kv.test.ts": "FlashKv's own tests: arbitrary keys for chunking, buckets and order",
    },
  },
  {
    what: "an FNV-1a constant",
    owner: "src/core/hash.ts",
    pattern: new RegExp(["0x811c9dc5", "2166136261", "0x01000193", "16777619"].join("|"), "i"),
  },
  {
    what: "the document-key grammar (its character class)",
    owner: "src/core/names.ts",
    // as a RegExp class, or as the words of the rule
    pattern: new RegExp(`A-Za-z0-9_\\\\?\\.-|A-Z a-z 0-9 _ \\. -`),
    exempt: {
      "targets/rpi/gateway-config.ts": "a host name made into a replica id (replica ids are not document names)",
    },
  },
];

function sources(dir: string, out: string[]): string[] {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return out; // a folder this checkout does not have
  }
  for (const e of entries) {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) {
      if (!SKIP_DIRS.has(e.name)) sources(full, out);
    } else if (/\.(ts|mts|js|mjs)$/.test(e.name)) out.push(full);
  }
  return out;
}

/** Every line of the code that holds `rule`'s pattern outside its owner, as "file:line: text". */
export function leaks(rule: Rule, root = ROOT): string[] {
  const found: string[] = [];
  for (const dir of DIRS) {
    for (const file of sources(path.join(root, dir), [])) {
      const rel = path.relative(root, file).split(path.sep).join("/");
      if (rel === rule.owner || rel === SELF || rule.exempt?.[rel] !== undefined) continue;
      readFileSync(file, "utf8")
        .split("\n")
        .forEach((line, i) => {
          if (rule.pattern.test(line)) found.push(`${rel}:${i + 1}: ${line.trim().slice(0, 120)}`);
        });
    }
  }
  return found;
}

for (const rule of RULES) {
  test(`${rule.what} is written only in ${rule.owner}`, () => {
    const owner = readFileSync(path.join(ROOT, rule.owner), "utf8");
    assert.ok(rule.pattern.test(owner), `${rule.owner} no longer holds the pattern: the rule looks for the wrong thing`);
    const found = leaks(rule);
    assert.equal(found, [], `${rule.what} outside ${rule.owner}:\n${found.join("\n")}`);
  });
}

test("the exemptions name files that exist and still need them", () => {
  for (const rule of RULES) {
    for (const rel of Object.keys(rule.exempt ?? {})) {
      const text = readFileSync(path.join(ROOT, rel), "utf8");
      assert.ok(rule.pattern.test(text), `${rel} is exempt from "${rule.what}" but no longer needs to be`);
    }
  }
});

test.run();
