// The embedded broker's users file: one user a line, its password hashed with scrypt
// (node:crypto). Written by `lichen passwd FILE USER`, read by `lichen gateway --users FILE`.
// Node only (the file name says so).
//
//   # comments and blank lines are ignored
//   n1:scrypt$16384$8$1$<salt, base64>$<hash, base64>
//
// A user name is the client id it may connect as (a replica id that fits one topic level).
import { createHash, randomBytes, scrypt, timingSafeEqual } from "node:crypto";
import { chmodSync, existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { LichenError } from "../core/errors.js";
import { isTopicId } from "./mqtt-topics.js";

/** scrypt's cost (N = 2^14, r = 8, p = 1: 16 MiB and some 50 ms a check on a Raspberry Pi 4). */
const COST = Object.freeze({ N: 16_384, r: 8, p: 1 });
const KEY_BYTES = 32;
const SALT_BYTES = 16;
const MAX_PASSWORD_BYTES = 1024;

interface Hash {
  readonly N: number;
  readonly r: number;
  readonly p: number;
  readonly salt: Buffer;
  readonly key: Buffer;
}

/** The users of a file, and the passwords already checked (a device reconnecting costs one scrypt, once). */
export interface Users {
  readonly hashes: ReadonlyMap<string, Hash>;
  /** user → sha256 of the last password that matched. */
  readonly verified: Map<string, string>;
}

const badFile = (where: string, message: string): LichenError => new LichenError("INVALID_ARGUMENT", `${where}: ${message}`);

function derive(password: Buffer, h: Pick<Hash, "N" | "r" | "p" | "salt">, bytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(password, h.salt, bytes, { N: h.N, r: h.r, p: h.p, maxmem: 256 * h.N * h.r }, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

function parseHash(text: string, where: string): Hash {
  const parts = text.split("$");
  if (parts.length !== 6 || parts[0] !== "scrypt") throw badFile(where, "expected scrypt$N$r$p$salt$hash");
  const [N, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
  if (![N, r, p].every((n) => Number.isSafeInteger(n) && n > 0) || (N & (N - 1)) !== 0 || N > 1_048_576 || r > 32 || p > 16) throw badFile(where, "bad scrypt parameters");
  const salt = Buffer.from(parts[4]!, "base64");
  const key = Buffer.from(parts[5]!, "base64");
  if (salt.length < 8 || key.length < 16) throw badFile(where, "salt or hash too short");
  return { N, r, p, salt, key };
}

/** Reads users from the text of a users file; throws LichenError (INVALID_ARGUMENT) naming the line. */
export function parseUsers(text: string, name = "users file"): Users {
  const hashes = new Map<string, Hash>();
  text.split("\n").forEach((raw, i) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    const where = `${name}, line ${i + 1}`;
    const colon = line.indexOf(":");
    if (colon < 0) throw badFile(where, "expected user:scrypt$...");
    const user = line.slice(0, colon);
    if (!isTopicId(user)) throw badFile(where, `bad user name ${JSON.stringify(user)} (it is a client id: 1 to 64 printable characters without "/", "+" or "#")`);
    if (hashes.has(user)) throw badFile(where, `user ${user} appears twice`);
    hashes.set(user, parseHash(line.slice(colon + 1), where));
  });
  return { hashes, verified: new Map() };
}

/** Reads a users file; throws LichenError with the file's name. */
export function readUsersFile(path: string): Users {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new LichenError("INVALID_ARGUMENT", `cannot read the users file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return parseUsers(text, path);
}

/** A users-file line's hash of `password`: scrypt$N$r$p$salt$hash. */
export async function hashPassword(password: string): Promise<string> {
  const pw = checkPassword(password);
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(pw, { ...COST, salt }, KEY_BYTES);
  return `scrypt$${COST.N}$${COST.r}$${COST.p}$${salt.toString("base64")}$${key.toString("base64")}`;
}

function checkPassword(password: string): Buffer {
  const pw = Buffer.from(password, "utf8");
  if (pw.length === 0 || pw.length > MAX_PASSWORD_BYTES) throw new LichenError("INVALID_ARGUMENT", `a password is 1 to ${MAX_PASSWORD_BYTES} bytes`);
  return pw;
}

/** True if `password` is `user`'s. Unknown users cost a hash too (no timing hint of who exists). */
export async function verifyPassword(users: Users, user: string, password: string | Uint8Array): Promise<boolean> {
  const pw = typeof password === "string" ? Buffer.from(password, "utf8") : Buffer.from(password);
  if (pw.length > MAX_PASSWORD_BYTES) return false;
  const digest = createHash("sha256").update(pw).digest("hex");
  const h = users.hashes.get(user);
  if (h !== undefined && users.verified.get(user) === digest) return true;
  const against = h ?? { ...COST, salt: Buffer.alloc(SALT_BYTES), key: Buffer.alloc(KEY_BYTES) };
  const key = await derive(pw, against, against.key.length);
  const ok = h !== undefined && timingSafeEqual(key, h.key);
  if (ok) users.verified.set(user, digest);
  return ok;
}

/**
 * Adds `user` to the users file at `path`, or changes its password; creates the file (mode
 * 0600). Other lines are kept as they are. The file is replaced in one rename.
 */
export async function setPassword(path: string, user: string, password: string): Promise<"added" | "changed"> {
  if (!isTopicId(user)) throw new LichenError("INVALID_ARGUMENT", `bad user name ${JSON.stringify(user)}: it is the client id the user connects as (1 to 64 printable characters without "/", "+" or "#")`);
  const text = existsSync(path) ? readFileSync(path, "utf8") : "";
  parseUsers(text, path); // a broken file is not rewritten
  const line = `${user}:${await hashPassword(password)}`;
  const lines = text === "" ? [] : text.replace(/\n$/, "").split("\n");
  const at = lines.findIndex((l) => l.trim().startsWith(`${user}:`));
  if (at >= 0) lines[at] = line;
  else lines.push(line);
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, `${lines.join("\n")}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
  return at >= 0 ? "changed" : "added";
}
