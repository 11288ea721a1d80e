// The one grammar of lichen's names and document keys:
//
//   a name (namespace, log, entity type)  1 to 64 characters of A-Z a-z 0-9 _ . -
//   an id (of an entity in a namespace)   1 to 160 characters, no control character (C0 or DEL)
//   a document key                        "<namespace>/<id>": the first slash ends the namespace,
//                                         the id may hold more
//
// Every entry point checks here: frames from the network (MALFORMED), the stores, the sync engine,
// the policy, the gateway's CLI and settings API (INVALID_ARGUMENT). The problem is described by
// the same words whichever the entry point. No RegExp: the checks run on every save on the device.

import { hasControlChar } from "./checks.js";
import { invalidArgument, malformed } from "./errors.js";

export const MAX_NAME_LENGTH = 64;
export const MAX_ID_LENGTH = 160;

const NAME_RULE = `1 to ${MAX_NAME_LENGTH} characters of A-Z a-z 0-9 _ . -`;
const ID_RULE = `a string of 1 to ${MAX_ID_LENGTH} characters without control characters`;

function isNameChar(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x5f || c === 0x2e || c === 0x2d;
}

/** A name of a namespace, log or entity type: 1 to 64 characters of A-Z a-z 0-9 _ . - */
export function isPlainName(s: unknown): s is string {
  if (typeof s !== "string" || s.length === 0 || s.length > MAX_NAME_LENGTH) return false;
  for (let i = 0; i < s.length; i++) if (!isNameChar(s.charCodeAt(i))) return false;
  return true;
}

/** The id of an entity: 1 to 160 characters without control characters. */
export function isEntityId(s: unknown): s is string {
  return typeof s === "string" && s.length > 0 && s.length <= MAX_ID_LENGTH && !hasControlChar(s);
}

/** What a name must be, after `what` ("a namespace", "a log name", ...). */
export function nameRule(what: string): string {
  return `${what} is ${NAME_RULE}`;
}

/** What an id must be. */
export function idRule(): string {
  return `an entity id is ${ID_RULE}`;
}

/** Checks a name given by a caller; INVALID_ARGUMENT saying what `what` must be. */
export function checkName(name: unknown, what: string): string {
  if (!isPlainName(name)) throw invalidArgument(nameRule(what));
  return name;
}

export function checkNamespace(ns: unknown): string {
  return checkName(ns, "a namespace");
}

export function checkEntityId(id: unknown): string {
  if (!isEntityId(id)) throw invalidArgument(idRule());
  return id;
}

/** What is wrong with a would-be document key "namespace/id", or undefined if nothing is. */
export function docKeyProblem(doc: unknown): string | undefined {
  if (typeof doc !== "string") return 'a document key is a string "namespace/id"';
  const slash = doc.indexOf("/");
  if (slash < 0) return 'a document key is "namespace/id"';
  if (!isPlainName(doc.slice(0, slash))) return nameRule("a namespace");
  if (!isEntityId(doc.slice(slash + 1))) return idRule();
  return undefined;
}

/** Checks a document key given by a caller (INVALID_ARGUMENT). */
export function checkDocKey(doc: unknown): string {
  const p = docKeyProblem(doc);
  if (p !== undefined) throw invalidArgument(`${JSON.stringify(doc)} is not a document key: ${p}`);
  return doc as string;
}

/** The same check for a key read from bytes: a malformed payload, not a caller error. */
export function readDocKey(doc: unknown): string {
  const p = docKeyProblem(doc);
  if (p !== undefined) throw malformed(`not a document key: ${p}`);
  return doc as string;
}

/** The document key of an entity, both parts checked (INVALID_ARGUMENT). */
export function docKey(ns: string, id: string): string {
  return `${checkNamespace(ns)}/${checkEntityId(id)}`;
}

/** The namespace and id of a document key, checked (INVALID_ARGUMENT). */
export function splitDocKey(doc: unknown): [string, string] {
  const key = checkDocKey(doc);
  const slash = key.indexOf("/");
  return [key.slice(0, slash), key.slice(slash + 1)];
}

/** The namespace and id of a key already checked (a document the engine holds): no check. */
export function docParts(doc: string): [string, string] {
  const slash = doc.indexOf("/");
  return [doc.slice(0, slash), doc.slice(slash + 1)];
}
