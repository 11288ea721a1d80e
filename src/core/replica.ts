import { hasControlChar } from "./checks.js";
import { invalidArgument, malformed } from "./errors.js";

/** Longest replica id accepted, in UTF-16 code units. Ids are kept whole, never truncated or hashed. */
export const MAX_REPLICA_ID_LENGTH = 64;

/** What is wrong with a would-be replica id, or undefined if nothing is. */
export function replicaIdProblem(id: unknown): string | undefined {
  if (typeof id !== "string") return "must be a string";
  if (id.length === 0) return "must not be empty";
  if (id.length > MAX_REPLICA_ID_LENGTH) return `must be at most ${MAX_REPLICA_ID_LENGTH} characters`;
  if (hasControlChar(id)) return "must not contain control characters";
  return undefined;
}

/**
 * Checks a replica id given by a caller. Any printable string of 1 to 64
 * characters is an id (a MAC address such as "a4cf12b3c4d5", a host name...).
 * Two ids are the same replica only if the strings are equal.
 */
export function checkReplicaId(id: unknown): string {
  const p = replicaIdProblem(id);
  if (p !== undefined) throw invalidArgument(`replica id ${p}`);
  return id as string;
}

/** The same check for an id read from bytes: a malformed payload, not a caller error. */
export function readReplicaId(id: unknown): string {
  const p = replicaIdProblem(id);
  if (p !== undefined) throw malformed(`replica id ${p}`);
  return id as string;
}

/** Total order on replica ids (UTF-16 code units), identical on every engine. */
export function compareReplicaIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
