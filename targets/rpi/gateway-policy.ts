// The gateway's write policy from a file: `lichen gateway --policy FILE` (or LICHEN_POLICY).
// The file is JSON, the rules of src/transport/policy.ts:
//   { "operators": ["console"], "write": ["*/{self}"], "read": ["fleet/*"],
//     "peers": { "n7": { "write": ["fleet/calibration"] } }, "maxDocsPerPeer": 32 }
import { readFileSync } from "node:fs";
import { LichenError } from "../../src/core/errors.js";
import { makePolicy, type SyncPolicy } from "../../src/transport/policy.js";

export const POLICY_ENV = "LICHEN_POLICY";

/** Reads and checks a policy file; throws an Error whose message names the file and what is wrong. */
export function loadPolicy(path: string): SyncPolicy {
  let rules: unknown;
  try {
    rules = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw new Error(`policy file ${path}: ${(e as Error).message}`);
  }
  try {
    return makePolicy(rules as never);
  } catch (e) {
    if (e instanceof LichenError) throw new Error(`policy file ${path}: ${e.message}`);
    throw e;
  }
}
