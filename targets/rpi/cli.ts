// `lichen`: the gateway's command line (crdt-kit's CLI, for lichen's SQLite file). Node only.
//
//   lichen status  DB                       what the file holds
//   lichen inspect DB ENTITY [--events]     one entity: type, value, version vector, its events
//   lichen compact DB [--threshold N]       snapshot + truncate the namespace logs over N events
//   lichen export  DB [--format json|csv]   every entity (namespace, id, type, value)
//   lichen history / backup / set / get      fleet-cli.ts (values over time, online backup, settings)
//   lichen gateway ... / lichen generate ...  registered by gateway.ts and generate.ts (see main())
//
// Run as `lichen` (bin/lichen.js, over the compiled dist/targets/rpi/cli.js), or from the sources
// with `tsx targets/rpi/cli.ts ...`.
//
// Errors: a LichenError or a bad argument prints one line to stderr (`lichen: <message> [CODE]`)
// and exits 1; a usage error (unknown command or option, a missing or invalid argument) prints
// commander's message and exits 2. Damaged rows (a state, envelope, event or snapshot that does
// not decode) never abort a command: they are skipped, the rest is done, and the command ends
// with one line counting them and exit code 3 (DAMAGED_EXIT). No stack trace unless LICHEN_DEBUG=1.
// Progress bars go to stderr, only when stderr is a terminal (progress.ts).

import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { once } from "node:events";
import { createWriteStream, existsSync, renameSync, rmSync, type WriteStream } from "node:fs";
import { fileURLToPath } from "node:url";
import { LichenError } from "../../src/core/errors.js";
import { DEFAULT_COMPACT_THRESHOLD, openGatewayDb, type CompactResult, type GatewayDb } from "./gateway-db.js";
import { CliError, DAMAGED_EXIT, damagedError } from "./cli-errors.js";
import { registerCommands as registerGatewayCommands } from "./gateway.js";
import { registerCommands as registerGenerateCommands } from "./generate.js";
import { isMain } from "./is-main.js";
import { registerFleetCommands } from "./fleet-cli.js";
import { packageVersion } from "./package-version.js";
import { progress } from "./progress.js";
import { CSV_HEADER, csvRecord, envelopeKeys, exportPlan, exportRows, inspect, jsonRecord, logSize, status, statusWork, type EntityInfo, type StatusReport } from "./report.js";

export { CliError, DAMAGED_EXIT, damagedError };

// ---- output helpers ----

const out = (line = ""): void => {
  process.stdout.write(`${line}\n`);
};

function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;

function table(rows: string[][], indent = "  "): string[] {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((r) => indent + r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join("  ").trimEnd());
}

/** "ORSet: 1, PNCounter: 2", sorted by name. */
const counts = (m: { [k: string]: number }, prefix = ""): string =>
  Object.entries(m)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, n]) => `${k === "unreadable" ? k : prefix + k}: ${n}`)
    .join(", ");

/** Opens the database for one command (read-only unless it writes) and closes it whatever happens. */
async function withDb<T>(path: string, access: "read" | "write", fn: (db: GatewayDb) => T | Promise<T>): Promise<T> {
  const db = openGatewayDb(path, { readOnly: access === "read" });
  try {
    return await fn(db);
  } finally {
    db.close();
  }
}

function nonNegativeInt(v: string): number {
  const n = Number(v);
  if (v.trim() === "" || !Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError("expected a non-negative integer.");
  return n;
}

function positiveInt(v: string): number {
  const n = Number(v);
  if (v.trim() === "" || !Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError("expected a positive integer.");
  return n;
}

// ---- status ----

function printStatus(s: StatusReport): void {
  out(`file        ${s.path}`);
  out(`size        ${bytes(s.fileBytes)} (${s.fileBytes} bytes)${s.walBytes > 0 ? `, WAL ${bytes(s.walBytes)}` : ""}`);
  const formats = (fs: number[]): string => (fs.length === 0 ? "-" : fs.sort((a, b) => a - b).join(", "));
  const stateFormats = [...new Set(s.namespaces.flatMap((n) => n.formats))];
  const envFormats = [...new Set(s.envelopes.flatMap((e) => e.formats))];
  out(`schema      ${s.schemaVersion} (this lichen: ${s.known.schemaVersion})`);
  out(`formats     state payloads ${formats(stateFormats)} (this lichen: ${s.known.payloadFormat}); envelopes ${formats(envFormats)} (this lichen: ${s.known.envelopeFormat})`);
  out(`db_version  ${s.dbVersion}`);
  out(`mirror      ${plural(s.mirror.entities, "entity row", "entity rows")}, ${plural(s.mirror.changes, "change row")}`);
  out();
  if (s.namespaces.length === 0) out("namespaces  none");
  else {
    out(`namespaces  ${s.namespaces.length}`);
    for (const line of table(s.namespaces.map((n) => [n.namespace, plural(n.entities, "entity", "entities"), counts(n.types)]))) out(line);
  }
  if (s.envelopes.length > 0) {
    out(`crdt-db     ${plural(s.envelopes.length, "type")}`);
    for (const line of table(s.envelopes.map((e) => [e.type, plural(e.entities, "entity", "entities"), `schema ${counts(e.schemaVersions, "v")}`]))) out(line);
  }
  out();
  if (s.logs.length === 0) out("event logs  none");
  else {
    out(`event logs  ${s.logs.length}`);
    const rows = [["namespace", "events", "seq", "snapshot"]];
    for (const l of s.logs) {
      const seq = l.events === 0 ? "-" : `${l.firstSeq}..${l.lastSeq}`;
      const snap = l.damaged !== undefined ? `DAMAGED: ${l.damaged}` : l.snapshot === null ? "none" : `at seq ${l.snapshot.seq}, ${bytes(l.snapshot.bytes)}${l.snapshot.entities === null ? "" : `, ${plural(l.snapshot.entities, "entity", "entities")}`}`;
      rows.push([l.namespace, String(l.events), seq, snap]);
    }
    for (const line of table(rows)) out(line);
  }
  if (s.otherKeys > 0) out(`other keys  ${s.otherKeys} (clock reservation, ...)`);
  if (s.damaged.length > 0) {
    out();
    out(`damaged     ${s.damaged.length}`);
    for (const d of s.damaged) out(`  ${d}`);
  }
}

// ---- inspect ----

function printEntity(e: EntityInfo): void {
  out(`entity    ${e.entity}`);
  if (e.kind === "state") {
    out(`kind      CRDT state (key ${e.key}, payload format ${e.format})`);
    out(`type      ${e.type}`);
    out(`size      ${e.size} bytes`);
    out(`owner     ${e.owner}`);
    out(`version   ${JSON.stringify(e.version)}`);
  } else {
    out(`kind      CrdtDb entity (key ${e.key}, envelope format ${e.format})`);
    out(`type      ${e.type}`);
    out(`schema    stored at version ${e.schemaVersion} (not migrated: this is the stored value)`);
    out(`size      ${e.size} bytes`);
  }
  if (e.valueJson.length <= 80) out(`value     ${e.valueJson}`);
  else {
    out("value");
    for (const line of JSON.stringify(e.value, null, 2).split("\n")) out(`  ${line}`);
  }
  if (e.log === undefined) return;
  out();
  if (e.log === null) {
    out(`events    none: namespace ${e.namespace} has no event log`);
    return;
  }
  const l = e.log;
  const seq = l.events === 0 ? "no events stored" : `seq ${l.firstSeq}..${l.lastSeq}`;
  out(`events    ${plural(l.entityEventCount, "event")} of this entity in log ${l.namespace} (${plural(l.events, "event")}, ${seq})`);
  if (l.entityEvents.length > 0) {
    if (l.entityEvents.length < l.entityEventCount) out(`          the last ${l.entityEvents.length}:`);
    const rows = [["seq", "time", "node", "delta"]];
    for (const ev of l.entityEvents) rows.push([String(ev.seq), ev.time, ev.node, `${ev.deltaBytes} B`]);
    for (const line of table(rows)) out(line);
  }
  if (l.unreadable > 0) out(`          ${plural(l.unreadable, "event")} of the log unreadable (not [id, delta])`);
  if (l.damaged !== undefined) out(`          DAMAGED: ${l.damaged}`);
  if (l.snapshot === null) out("snapshot  none");
  else {
    const s = l.snapshot;
    const mine = s.entityBytes === null ? "this entity not in it" : `this entity: ${s.entityBytes} bytes`;
    out(`snapshot  at seq ${s.seq}, ${s.bytes} bytes${s.entities === null ? " (not a namespace snapshot)" : `, ${plural(s.entities, "entity", "entities")}; ${mine}`}`);
  }
}

// ---- compact ----

function printCompact(results: CompactResult[], threshold: number, dryRun: boolean): void {
  let dropped = 0;
  let compacted = 0;
  for (const r of results) {
    const seq = r.events === 0 ? "" : ` (seq ${r.firstSeq}..${r.lastSeq})`;
    if (!r.compacted) {
      out(`${r.namespace}: ${plural(r.events, "event")}${seq}, not over ${threshold}: left as is`);
      continue;
    }
    compacted++;
    dropped += r.dropped;
    const s = r.snapshot!;
    out(`${r.namespace}: ${plural(r.events, "event")}${seq}: snapshot at seq ${s.seq} (${plural(s.entities, "entity", "entities")}, ${s.bytes} bytes), ${dryRun ? "would drop" : "dropped"} ${plural(r.dropped, "event")}`);
  }
  if (results.length === 0) out("no event logs");
  else out(`${dryRun ? "dry run: would compact" : "compacted"} ${compacted} of ${plural(results.length, "log")}, ${dryRun ? "would drop" : "dropped"} ${plural(dropped, "event")}`);
}

// ---- export ----

/** Writes chunks to a stream with backpressure, in ~64 KiB writes. */
async function writeChunks(stream: NodeJS.WritableStream, chunks: Iterable<string>): Promise<void> {
  let buf = "";
  const flush = async (): Promise<void> => {
    if (buf.length === 0) return;
    const ok = stream.write(buf);
    buf = "";
    if (!ok) await once(stream, "drain");
  };
  for (const c of chunks) {
    buf += c;
    if (buf.length >= 65536) await flush();
  }
  await flush();
}

function* exportText(db: GatewayDb, format: "json" | "csv", namespace: string | undefined, onRow: () => void, onDamaged: (entity: string, e: LichenError) => void): Generator<string> {
  const plan = exportPlan(db, namespace);
  const bar = progress("exporting", plan.length);
  try {
    let n = 0;
    if (format === "csv") yield `${CSV_HEADER}\r\n`;
    else yield "[";
    for (const row of exportRows(db, plan, onDamaged)) {
      if (format === "csv") yield `${csvRecord(row)}\r\n`;
      else yield `${n === 0 ? "\n" : ",\n"}  ${jsonRecord(row)}`;
      n++;
      onRow();
      bar.tick();
    }
    if (format === "json") yield n === 0 ? "]\n" : "\n]\n";
  } finally {
    bar.done();
  }
}

async function exportTo(db: GatewayDb, format: "json" | "csv", namespace: string | undefined, file: string | undefined, onDamaged: (entity: string, e: LichenError) => void): Promise<number> {
  let rows = 0;
  const text = exportText(db, format, namespace, () => rows++, onDamaged);
  if (file === undefined) {
    await writeChunks(process.stdout, text);
    return rows;
  }
  // written beside the target and renamed at the end: a failed export leaves no half file
  const tmp = `${file}.${process.pid}.tmp`;
  let stream: WriteStream | undefined;
  try {
    stream = createWriteStream(tmp, { flags: "wx" });
    await once(stream, "open");
    const failed = new Promise<never>((_, reject) => stream!.once("error", reject));
    failed.catch(() => {});
    await Promise.race([writeChunks(stream, text), failed]);
    stream.end();
    await Promise.race([once(stream, "finish"), failed]);
    renameSync(tmp, file);
  } catch (e) {
    stream?.destroy();
    rmSync(tmp, { force: true });
    if (e instanceof LichenError || e instanceof CliError) throw e;
    throw new CliError(`cannot write ${file}: ${(e as Error).message}`);
  }
  return rows;
}

// ---- the program ----

/**
 * The program with the built-in commands. Other modules add theirs with `registerExtensions`
 * (or by calling `program.addCommand` / `program.command` on the result).
 */
export function buildProgram(): Command {
  const program = new Command("lichen")
    .description("lichen gateway tools: read, compact and export a gateway's SQLite database")
    .version(packageVersion(), "-V, --version", "print the version and exit")
    .helpOption("-h, --help", "print this help and exit")
    .exitOverride() // inherited by the subcommands below: main() picks the exit code
    .showHelpAfterError("(add --help for usage)")
    .configureHelp({ sortSubcommands: false, showGlobalOptions: false })
    .addHelpText("after", "\nExit codes: 0 done, 1 error, 2 usage, 3 done but damaged rows skipped (counted on stderr).\n\nExamples:\n  lichen status /var/lib/lichen/lichen.db\n  lichen inspect lichen.db readings/n1 --events\n  lichen compact lichen.db --threshold 500\n  lichen export lichen.db --format csv --out entities.csv\n  lichen history lichen.db readings/n1 --since 1h --format csv\n  lichen set fleet/config interval=5000   (through the running gateway)\n  lichen backup /var/lib/lichen/lichen.db /backup/lichen-$(date +%F).db");

  program
    .command("status")
    .description("what the database holds: size, db_version, namespaces, types, event logs, versions")
    .argument("<db>", "the gateway's SQLite file")
    .option("--json", "print the report as JSON")
    .action(async (path: string, opts: { json?: boolean }) => {
      const report = await withDb(path, "read", (db) => {
        const bar = progress("reading entities", statusWork(db));
        try {
          return status(db, () => bar.tick());
        } finally {
          bar.done();
        }
      });
      if (opts.json) out(JSON.stringify(report, null, 2));
      else printStatus(report);
      if (report.damaged.length > 0) throw damagedError(`${report.path}`, report.damaged);
    });

  program
    .command("inspect")
    .description("one entity: its type, value, version vector, size and (with --events) its events")
    .argument("<db>", "the gateway's SQLite file")
    .argument("<entity>", 'the entity: "namespace/id" (a CRDT state) or "type/id" (a CrdtDb entity)')
    .option("--events", "list the entity's events from its namespace's log, and the log's snapshot")
    .addOption(new Option("--last <n>", "with --events: list only the entity's last n events").argParser(positiveInt))
    .option("--envelope", "look for a CrdtDb entity first (when a namespace and a type share a name)")
    .option("--json", "print as JSON")
    .action(async (path: string, entity: string, opts: { events?: boolean; last?: number; envelope?: boolean; json?: boolean }) => {
      if (opts.last !== undefined && !opts.events) throw new CliError("--last lists the last events: give --events too", 2);
      const info = await withDb(path, "read", (db) => {
        const [ns] = entity.split("/", 1);
        const bar = opts.events ? progress("reading events", logSize(db, ns ?? "")) : undefined;
        try {
          const found = inspect(db, entity, { events: opts.events, prefer: opts.envelope ? "envelope" : "state", onEvent: () => bar?.tick() });
          if (found === undefined) {
            const namespaces = [...new Set(db.states.all().map(([n]) => n))];
            throw new CliError(`no entity ${entity} in ${db.path} (namespaces: ${namespaces.length > 0 ? namespaces.join(", ") : "none"})`);
          }
          return found;
        } finally {
          bar?.done();
        }
      });
      if (opts.last !== undefined && info.log) info.log.entityEvents = info.log.entityEvents.slice(-opts.last);
      if (opts.json) {
        const { valueJson: _text, ...rest } = info;
        out(JSON.stringify(rest, null, 2));
      } else printEntity(info);
      if (info.log?.damaged !== undefined) throw damagedError(`log ${info.log.namespace}`, [info.log.damaged]);
      if (info.log && info.log.unreadable > 0) throw damagedError(`log ${info.log.namespace}`, [`${plural(info.log.unreadable, "event")} unreadable`]);
    });

  program
    .command("compact")
    .description("for every namespace log over N events: snapshot the namespace's states at the last seq, drop the events")
    .argument("<db>", "the gateway's SQLite file")
    .addOption(new Option("--threshold <n>", "compact only logs with more than n events").argParser(nonNegativeInt).default(DEFAULT_COMPACT_THRESHOLD))
    .option("--namespace <ns>", "compact only this namespace's log")
    .option("--dry-run", "report what would be dropped; change nothing")
    .option("--json", "print the results as JSON")
    .action(async (path: string, opts: { threshold: number; namespace?: string; dryRun?: boolean; json?: boolean }) => {
      const results = await withDb(path, "write", (db) => {
        const logs = db.logs();
        if (opts.namespace !== undefined && !logs.includes(opts.namespace)) {
          throw new CliError(`namespace ${opts.namespace} has no event log in ${db.path} (logs: ${logs.length > 0 ? logs.join(", ") : "none"})`);
        }
        const chosen = opts.namespace === undefined ? logs : [opts.namespace];
        // the bar counts the states read into snapshots: those of the logs over the threshold
        const work = chosen.filter((ns) => logSize(db, ns) > opts.threshold).reduce((n, ns) => n + db.states.list(ns).length, 0);
        const bar = progress("compacting", work);
        try {
          // one log at a time: a damaged one is reported and the others still compacted
          const done: CompactResult[] = [];
          const failed: string[] = [];
          for (const ns of chosen) {
            bar.label(`compacting ${ns}`);
            try {
              done.push(db.compact(ns, { threshold: opts.threshold, dryRun: opts.dryRun, onEntity: () => bar.tick() }));
            } catch (e) {
              if (!(e instanceof LichenError)) throw e;
              failed.push(`${ns}: ${e.message}`);
            }
          }
          return { done, failed };
        } finally {
          bar.done();
        }
      });
      if (opts.json) out(JSON.stringify({ threshold: opts.threshold, dryRun: opts.dryRun === true, logs: results.done, failed: results.failed }, null, 2));
      else printCompact(results.done, opts.threshold, opts.dryRun === true);
      if (results.failed.length > 0) throw damagedError(`compact: ${plural(results.failed.length, "log")} not compacted, ${results.done.length} done`, results.failed);
    });

  program
    .command("export")
    .description("every entity (namespace, id, type, value) as JSON or CSV; CrdtDb entities have their type as namespace")
    .argument("<db>", "the gateway's SQLite file")
    .option("--namespace <ns>", "only this namespace (or CrdtDb type)")
    .addOption(new Option("--format <format>", "json: an array of objects; csv: RFC 4180, value as JSON text").choices(["json", "csv"]).default("json"))
    .option("--out <file>", "write to this file instead of stdout")
    .action(async (path: string, opts: { namespace?: string; format: "json" | "csv"; out?: string }) => {
      const damaged: string[] = [];
      const rows = await withDb(path, "read", (db) => {
        if (opts.namespace !== undefined && exportPlan(db, opts.namespace).length === 0) {
          const names = [...new Set([...db.states.all().map(([n]) => n), ...envelopeKeys(db).map(([t]) => t)])].sort();
          throw new CliError(`no namespace or CrdtDb type ${opts.namespace} in ${db.path} (there are: ${names.length > 0 ? names.join(", ") : "none"})`);
        }
        return exportTo(db, opts.format, opts.namespace, opts.out, (entity, e) => damaged.push(`${entity}: ${e.message}`));
      });
      if (opts.out !== undefined) process.stderr.write(`exported ${plural(rows, "entity", "entities")} to ${opts.out}\n`);
      if (damaged.length > 0) throw damagedError(`export: ${plural(rows, "entity", "entities")} exported`, damaged);
    });

  registerFleetCommands(program);
  return program;
}

// ---- extensions: modules that add commands ----
//
// `lichen gateway` (gateway.ts) and `lichen generate` (generate.ts) are imported above and
// register their commands in main(). Another module can add its own the same way: it exports
//
//     export function registerCommands(program: Command): void
//
// which adds its subcommands, e.g. `program.command("gateway").argument("<db>")...action(...)`.
// Keep that function cheap (import MQTT and the like inside the action, with `await import`),
// since it runs for every `lichen` invocation. Errors thrown by its actions are reported like the
// built-in ones (LichenError / CliError: one line, exit 1).

/**
 * Imports the modules named (paths next to this file, without extension) and lets each register
 * its commands; returns the names loaded. A module that is absent, fails to load or has no
 * registerCommands is a CliError, thrown, or handed to `onError`: never skipped in silence.
 */
export async function registerExtensions(program: Command, names: readonly string[], onError?: (e: CliError) => void): Promise<string[]> {
  const loaded: string[] = [];
  for (const name of names) {
    const candidates = [`./${name}.ts`, `./${name}.js`].map((p) => new URL(p, import.meta.url));
    const url = candidates.find((u) => existsSync(fileURLToPath(u))) ?? candidates[candidates.length - 1]!;
    const file = fileURLToPath(url);
    try {
      let mod: { registerCommands?: (program: Command) => void };
      try {
        mod = (await import(url.href)) as typeof mod;
      } catch (e) {
        throw new CliError(`${file} failed to load (${oneLine(e instanceof Error ? e.message : String(e))}): its commands are not available`);
      }
      if (typeof mod.registerCommands !== "function") throw new CliError(`${file} exports no registerCommands(program): its commands are not available`);
      try {
        mod.registerCommands(program);
      } catch (e) {
        throw new CliError(`${file}: registerCommands failed (${oneLine(e instanceof Error ? e.message : String(e))})`);
      }
      loaded.push(name);
    } catch (e) {
      if (onError === undefined || !(e instanceof CliError)) throw e;
      onError(e);
    }
  }
  return loaded;
}

// ---- main ----

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, " ").trim();
}

/** Reports an error in one line on stderr; returns the exit code. */
export function reportError(e: unknown): number {
  if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2; // commander printed its message
  const debug = process.env.LICHEN_DEBUG === "1";
  let line: string;
  let code = 1;
  if (e instanceof LichenError) line = `${oneLine(e.message)} [${e.code}]`;
  else if (e instanceof CliError) {
    line = oneLine(e.message);
    code = e.exitCode;
  } else if (e instanceof Error) line = `${oneLine(e.message)} (unexpected ${e.name}; LICHEN_DEBUG=1 shows where)`;
  else line = oneLine(String(e));
  process.stderr.write(`lichen: ${line}\n`);
  if (debug && e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
  return code;
}

/** Runs the CLI; resolves to the exit code (0 ok, 1 error, 2 usage). */
export async function main(argv: readonly string[] = process.argv): Promise<number> {
  // `lichen export ... | head`: a closed pipe ends the output quietly
  process.stdout.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code === "EPIPE") process.exit(0);
    process.stderr.write(`lichen: cannot write to stdout: ${e.message}\n`);
    process.exit(1);
  });
  try {
    const program = buildProgram();
    registerGatewayCommands(program);
    registerGenerateCommands(program);
    await program.parseAsync([...argv]);
    return 0;
  } catch (e) {
    return reportError(e);
  }
}

// `tsx targets/rpi/cli.ts ...` runs it too (the tests do). Not a top-level await: generate.ts
// imports this module, and would wait for it forever.
if (isMain(import.meta.url)) {
  void main().then((code) => (process.exitCode = code));
}
