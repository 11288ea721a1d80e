// Shared by the gateway daemon's tests (daemon, dashboard, npm start): child processes with
// deadlines, free ports, polling with deadlines (uvu has no timeouts of its own).
import { freePort } from "../../sim/network/ports.js";
import { PATIENCE_MS } from "../patience.js";

export { PATIENCE_MS };
import * as assert from "uvu/assert";
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { join } from "node:path";

export const ROOT = fileURLToPath(new URL("../../", import.meta.url));
/**
 * Node's arguments that run the `lichen` command from its sources (cli.ts through tsx's loader):
 * the tests check the code as it is, not a dist/ that may be older. The compiled command
 * (bin/lichen.js over dist/) is tested from the packed tarball (host-tests/package/).
 */
export const LICHEN_CLI: readonly string[] = Object.freeze(["--import", import.meta.resolve("tsx"), join(ROOT, "targets/rpi/cli.ts")]);

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `cond` every 25 ms; throws after timeoutMs, with `describe()` for the state at that time. */
export async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = PATIENCE_MS, describe?: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${describe ? `: ${describe()}` : ""}`);
    await sleep(25);
  }
}

export function within<T>(what: string, ms: number, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}


export interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** A child process, its output collected as it comes. */
export interface Child {
  readonly proc: ChildProcess;
  stdout: string;
  stderr: string;
  /** Resolves when it exits. */
  readonly exited: Promise<Run>;
  /** The JSON objects of its stdout so far, one per line (lines that are not JSON are kept as { raw }). */
  lines(): Array<Record<string, unknown>>;
  kill(signal?: NodeJS.Signals): void;
}

export function spawnChild(args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}): Child {
  const env = { ...process.env, ...options.env };
  delete env.LICHEN_DEBUG;
  for (const [k, v] of Object.entries(options.env ?? {})) if (v === undefined) delete env[k];
  const proc = spawn(process.execPath, args, { cwd: options.cwd ?? ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
  const child: Child = {
    proc,
    stdout: "",
    stderr: "",
    exited: undefined as unknown as Promise<Run>,
    lines: () =>
      child.stdout
        .split("\n")
        .filter((l) => l.trim() !== "")
        .map((l) => {
          try {
            return JSON.parse(l) as Record<string, unknown>;
          } catch {
            return { raw: l };
          }
        }),
    kill: (signal = "SIGTERM") => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
    },
  };
  proc.stdout!.setEncoding("utf8").on("data", (s: string) => (child.stdout += s));
  proc.stderr!.setEncoding("utf8").on("data", (s: string) => (child.stderr += s));
  const timeoutMs = options.timeoutMs ?? PATIENCE_MS * 2;
  (child as { exited: Promise<Run> }).exited = new Promise((resolve) => {
    const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
    proc.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: child.stdout, stderr: child.stderr });
    });
  });
  return child;
}

/** Runs `lichen ...args` (from its sources, LICHEN_CLI) to its end. */
export function lichen(args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}): Promise<Run> {
  return spawnChild([...LICHEN_CLI, ...args], options).exited;
}

/** Fetches JSON from the dashboard, with a deadline. */
export async function getJson<T = any>(url: string, timeoutMs = PATIENCE_MS): Promise<{ status: number; body: T }> {
  const r = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  return { status: r.status, body: (await r.json()) as T };
}

/**
 * One line on stderr (plus commander's usage hint), no stack trace, a non-zero exit; nothing on
 * stdout but, for a failure after the start, the daemon's JSON log lines.
 */
export function assertCleanError(r: Run, pattern: RegExp, what: string, code?: number): void {
  assert.ok(r.code !== 0 && r.code !== null, `${what}: a non-zero exit (got ${r.code}, stderr: ${r.stderr})`);
  if (code !== undefined) assert.is(r.code, code, `${what}: exit code (stderr: ${r.stderr})`);
  assert.match(r.stderr, pattern, `${what}: the message`);
  assert.not.match(r.stderr, /^\s+at /m, `${what}: no stack trace`);
  const lines = r.stderr.trimEnd().split("\n").filter((l) => !l.startsWith("(add --help"));
  assert.is(lines.length, 1, `${what}: one line: ${JSON.stringify(r.stderr)}`);
  for (const l of r.stdout.split("\n").filter((x) => x !== "")) assert.match(l, /^\{"ts":".*"level":".*"event":/, `${what}: only JSON log lines on stdout`);
}


export { freePort };
