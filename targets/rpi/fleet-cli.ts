// The operator's commands of `lichen` (cli.ts registers them):
//
//   lichen history DB DOC [--since T] [--field F]... [--format csv|json] [--out FILE]
//       a document's values over time (lichen_history, gateway-history.ts): one row per time,
//       one column per field, each field's last value carried forward
//   lichen backup DB FILE
//       SQLite's online backup API (better-sqlite3's backup()), safe while the gateway runs;
//       written beside FILE and renamed when whole and checked
//   lichen set DOC key=value ... [--url URL]      lichen get DOC [--url URL]
//       the fleet's settings, through the running gateway's HTTP API (never the SQLite file
//       behind the daemon's back: the daemon holds the live state and syncs it). The API takes
//       writes from this machine only (loopback), so these commands run on the gateway host,
//       or through an SSH tunnel to it.
//
// Node only.

import { InvalidArgumentError, Option, type Command } from "commander";
import { once } from "node:events";
import { createWriteStream, existsSync, renameSync, rmSync } from "node:fs";
import { LichenError } from "../../src/core/errors.js";
import { CliError, damagedError } from "./cli-errors.js";
import { openGatewayDb } from "./gateway-db.js";
import { historyDocs, pivot, readHistory } from "./gateway-history.js";
import { DEFAULT_SETTINGS_DOC, parseAssignments, type SettingsView } from "./gateway-settings.js";
import { csvField, jsonText } from "./report.js";

export const URL_ENV = "LICHEN_URL";
const DEFAULT_URL = "http://127.0.0.1:8080";

/** "90s", "30m", "2h", "7d" ago, an ISO date, or wall-clock ms; to wall-clock ms. */
export function parseSince(text: string, now = Date.now()): number {
  const m = /^(\d+(?:\.\d+)?)\s*(s|m|min|h|d)$/.exec(text.trim());
  if (m !== null) {
    const unit = { s: 1000, m: 60_000, min: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as "s"];
    return Math.round(now - Number(m[1]) * unit);
  }
  if (/^\d{10,}$/.test(text.trim())) return Number(text);
  const t = Date.parse(text);
  if (Number.isNaN(t)) throw new InvalidArgumentError('expected a time: "30m", "2h", "7d" (ago), an ISO date such as 2026-01-31T08:00Z, or ms since 1970.');
  return t;
}

function collect(v: string, prev: string[] = []): string[] {
  return [...prev, v];
}

/** The gateway's URL: --url, else LICHEN_URL, else the dashboard's default. */
function gatewayUrl(flag: string | undefined): URL {
  const text = flag ?? process.env[URL_ENV] ?? DEFAULT_URL;
  try {
    return new URL(text);
  } catch {
    throw new CliError(`${text} is not a URL (the gateway's dashboard, e.g. ${DEFAULT_URL})`, 2);
  }
}

async function callGateway(base: URL, path: string, init: { method?: string; body?: unknown } = {}): Promise<{ status: number; body: any }> {
  const url = new URL(path, base);
  let r: Response;
  try {
    r = await fetch(url, {
      method: init.method ?? "GET",
      headers: init.body === undefined ? {} : { "Content-Type": "application/json" },
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
      signal: AbortSignal.timeout(10_000),
    });
  } catch (e) {
    const cause = (e as { cause?: { code?: string } }).cause?.code ?? (e as Error).message;
    throw new CliError(`cannot reach the gateway at ${base.origin} (${cause}): is it running? give its dashboard's address with --url or ${URL_ENV}`);
  }
  let body: unknown;
  try {
    body = await r.json();
  } catch {
    throw new CliError(`${url.href} answered ${r.status} without JSON: is that a lichen gateway?`);
  }
  return { status: r.status, body };
}

function printSettings(v: SettingsView): void {
  const out = (s: string): void => void process.stdout.write(`${s}\n`);
  out(`${v.doc}`);
  const keys = Object.keys(v.value).sort();
  if (keys.length === 0) out("  (empty)");
  const w = Math.max(...keys.map((k) => k.length), 0);
  for (const k of keys) out(`  ${k.padEnd(w)}  ${jsonText(v.value[k])}`);
  if (v.nodes.length > 0) {
    out("nodes");
    for (const n of v.nodes) {
      const when = n.appliedAt !== null && v.changedAt !== null ? ` (${((n.appliedAt - v.changedAt) / 1000).toFixed(1)} s after the change)` : "";
      out(`  ${n.id}  ${n.state}${when}`);
    }
  }
}

export function registerFleetCommands(program: Command): void {
  program
    .command("history")
    .description("a document's values over time (kept by the gateway, --history-days): one row per time, one column per field")
    .argument("<db>", "the gateway's SQLite file (readable while the gateway runs)")
    .argument("<doc>", 'the document, "namespace/id", e.g. readings/n1')
    .addOption(new Option("--since <time>", 'only from this time: "30m", "2h", "7d" ago, an ISO date, or ms since 1970').argParser((v) => parseSince(v)))
    .option("--field <name>", "only this field (repeat for more); the columns, in this order", collect)
    .addOption(new Option("--format <format>", "csv: RFC 4180, a time column then one per field; json: an array of {time, t, <field>: value}").choices(["csv", "json"]).default("csv"))
    .option("--out <file>", "write to this file (created; an existing file is not replaced) instead of stdout")
    .action(async (path: string, doc: string, opts: { since?: number; field?: string[]; format: "csv" | "json"; out?: string }) => {
      if (opts.out !== undefined && existsSync(opts.out)) throw new CliError(`${opts.out} exists: choose another --out (history never replaces a file)`);
      const db = openGatewayDb(path, { readOnly: true });
      let text: string;
      let damaged: number;
      let records: number;
      try {
        const result = readHistory(db.sql, doc, { since: opts.since, fields: opts.field });
        damaged = result.damaged;
        if (result.rows.length === 0 && damaged === 0) {
          const docs = historyDocs(db.sql);
          if (!docs.includes(doc)) throw new CliError(`no history of ${doc} in ${db.path} (documents with history: ${docs.length > 0 ? docs.slice(0, 20).join(", ") + (docs.length > 20 ? ", ..." : "") : "none"})`);
        }
        const table = pivot(result.rows, opts.field);
        records = table.records.length;
        if (opts.format === "csv") {
          const lines = [["time", ...table.columns].map(csvField).join(",")];
          for (const r of table.records) lines.push([new Date(r.t).toISOString(), ...r.values.map((v) => (v === null ? "" : typeof v === "string" ? v : jsonText(v)))].map(csvField).join(","));
          text = `${lines.join("\r\n")}\r\n`;
        } else {
          const objs = table.records.map((r) => {
            const o: Record<string, unknown> = { time: new Date(r.t).toISOString(), t: r.t };
            table.columns.forEach((c, i) => (o[c] = r.values[i]));
            return JSON.stringify(o);
          });
          text = objs.length === 0 ? "[]\n" : `[\n  ${objs.join(",\n  ")}\n]\n`;
        }
      } finally {
        db.close();
      }
      if (opts.out === undefined) process.stdout.write(text);
      else {
        const stream = createWriteStream(opts.out, { flags: "wx" });
        try {
          await once(stream, "open");
          stream.end(text);
          await once(stream, "finish");
        } catch (e) {
          throw new CliError(`cannot write ${opts.out}: ${(e as Error).message}`);
        }
        process.stderr.write(`wrote ${records} rows of ${doc} to ${opts.out}\n`);
      }
      if (damaged > 0) throw damagedError(`history of ${doc}`, [`${damaged} row${damaged === 1 ? "" : "s"} of lichen_history unreadable`]);
    });

  program
    .command("backup")
    .description("copy the gateway's database with SQLite's online backup: consistent, and safe while the gateway runs")
    .argument("<db>", "the gateway's SQLite file")
    .argument("<file>", "the copy to write (an existing file is not replaced)")
    .action(async (path: string, file: string) => {
      if (existsSync(file)) throw new CliError(`${file} exists: choose another name (backup never replaces a file)`);
      const db = openGatewayDb(path, { readOnly: true });
      const tmp = `${file}.${process.pid}.tmp`;
      try {
        let pages = 0;
        try {
          await db.sql.backup(tmp, {
            progress: (p) => {
              pages = p.totalPages;
              return 256; // pages per step: the gateway's writes get their turn between steps
            },
          });
        } catch (e) {
          throw new CliError(`cannot write ${file}: ${(e as Error).message}`);
        }
        // the copy must open as a lichen database before it takes the name
        const check = openGatewayDb(tmp, { readOnly: true });
        let integrity: unknown;
        try {
          integrity = check.sql.pragma("quick_check", { simple: true });
        } finally {
          check.close();
        }
        if (integrity !== "ok") throw new CliError(`the copy failed SQLite's quick_check (${String(integrity)}): ${file} not written`);
        renameSync(tmp, file);
        process.stderr.write(`backed up ${db.path} to ${file} (${pages} pages)\n`);
      } finally {
        db.close();
        for (const suffix of ["", "-wal", "-shm"]) rmSync(`${tmp}${suffix}`, { force: true });
      }
    });

  program
    .command("get")
    .description("a settings document of the fleet, and which nodes applied its last change (from the running gateway)")
    .argument("[doc]", "the settings document", DEFAULT_SETTINGS_DOC)
    .option("--url <url>", `the gateway's dashboard [${URL_ENV}, default ${DEFAULT_URL}]`)
    .option("--json", "print as JSON")
    .action(async (doc: string, opts: { url?: string; json?: boolean }) => {
      const r = await callGateway(gatewayUrl(opts.url), `/api/settings?doc=${encodeURIComponent(doc)}`);
      if (r.status !== 200) throw new CliError(`the gateway refused: ${String(r.body?.error ?? r.status)}`);
      if (opts.json) process.stdout.write(`${JSON.stringify(r.body, null, 2)}\n`);
      else printSettings(r.body as SettingsView);
    });

  program
    .command("set")
    .description("change the fleet's settings through the running gateway: it writes them as its own change, and the nodes pick them up")
    .argument("<doc>", "the settings document, fleet/<id> (e.g. fleet/config)")
    .argument("<assignments...>", 'key=value: a number, true/false, or text ("key=" removes the key; key=\'"42"\' is the text 42)')
    .option("--url <url>", `the gateway's dashboard [${URL_ENV}, default ${DEFAULT_URL}]`)
    .addOption(new Option("--wait <seconds>", "then wait until every online node applied the change (exit 1 if one has not in time)").argParser((v) => {
      const n = Number(v);
      if (!(n > 0 && n <= 3600)) throw new InvalidArgumentError("expected seconds, more than 0 and at most 3600.");
      return n;
    }))
    .option("--json", "print as JSON")
    .action(async (doc: string, assignments: string[], opts: { url?: string; wait?: number; json?: boolean }) => {
      let change;
      try {
        change = parseAssignments(assignments);
      } catch (e) {
        if (e instanceof LichenError) throw new CliError(e.message, 2);
        throw e;
      }
      const base = gatewayUrl(opts.url);
      const r = await callGateway(base, `/api/settings?doc=${encodeURIComponent(doc)}`, { method: "POST", body: change });
      if (r.status !== 200) throw new CliError(`the gateway refused: ${String(r.body?.error ?? r.status)}`);
      let view = r.body as SettingsView;
      if (opts.wait !== undefined) {
        const deadline = Date.now() + opts.wait * 1000;
        const waiting = (v: SettingsView): string[] => v.nodes.filter((n) => n.online && n.state !== "applied" && n.state !== "not-subscribed").map((n) => n.id);
        while (waiting(view).length > 0 && Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, 200));
          const g = await callGateway(base, `/api/settings?doc=${encodeURIComponent(doc)}`);
          if (g.status === 200) view = g.body as SettingsView;
        }
        if (opts.json) process.stdout.write(`${JSON.stringify(view, null, 2)}\n`);
        else printSettings(view);
        const late = waiting(view);
        if (late.length > 0) throw new CliError(`not applied within ${opts.wait} s by: ${late.join(", ")}`);
        return;
      }
      if (opts.json) process.stdout.write(`${JSON.stringify(view, null, 2)}\n`);
      else printSettings(view);
    });
}
