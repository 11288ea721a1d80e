// Tables: what every section returns, rendered as markdown for bench/RESULTS.md and for stdout.

export type Cell = string | number;

export interface Table {
  title: string;
  /** The short "how measured" note printed under the table. */
  how: string;
  columns: string[];
  rows: Cell[][];
}

/** A figure with a target, for the summary at the top. */
export interface Target {
  figure: string;
  target: string;
  actual: string;
  ok: boolean;
}

export interface Section {
  title: string;
  tables: Table[];
  /** Free markdown after the tables. */
  notes?: string;
  /** The section's figures that have a target. */
  targets?: Target[];
}

/** A number for a table: integers as they are (with thousands separators), others with `digits` significant decimals. */
export function num(n: number, digits = 2): string {
  if (!Number.isFinite(n)) return String(n);
  if (Number.isInteger(n)) return n.toLocaleString("en-US");
  const abs = Math.abs(n);
  const d = abs >= 100 ? 0 : abs >= 10 ? Math.min(digits, 1) : digits;
  return n.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d });
}

/** One check of the harness itself (does an operation do what it should, does a delta apply). */
export interface Check {
  what: string;
  ok: boolean;
}

export function checksTable(checks: readonly Check[]): Table {
  return {
    title: "Harness checks (run before the figures are taken)",
    how: "each timed or metered operation is run once and its result checked; lichen states are sent through delta() to a fresh replica, which must equal them (the XS states are decoded and applied under Node). A failed check means the figure next to it measures something else: it is reported, not asserted.",
    columns: ["check", "ok?"],
    rows: checks.map((c) => [c.what, c.ok ? "ok" : "**FAILED**"]),
  };
}

export function targetsTable(targets: readonly Target[]): Table {
  return {
    title: "Targets",
    how: "every figure of the sections below that has a target; see its table for how it is measured.",
    columns: ["figure", "target", "actual", "met?"],
    rows: targets.map((t) => [t.figure, t.target, t.actual, met(t.ok)]),
  };
}

/** "yes"/"no" for a target check. */
export function met(ok: boolean): string {
  return ok ? "yes" : "**no**";
}

function escape(cell: Cell): string {
  return (typeof cell === "number" ? num(cell) : cell).replace(/\|/g, "\\|").replace(/\n/g, " ");
}

/** Cells that read as figures are right-aligned. */
function numeric(cell: Cell | undefined): boolean {
  return typeof cell === "number" || (typeof cell === "string" && /^(-?[\d,.]+(×| bytes)?|n\/a|—|)$/.test(cell));
}

export function markdownTable(t: Table): string {
  const lines = [
    `### ${t.title}`,
    "",
    `| ${t.columns.map(escape).join(" | ")} |`,
    `| ${t.columns.map((_, i) => (i > 0 && t.rows.every((r) => numeric(r[i])) ? "---:" : "---")).join(" | ")} |`,
    ...t.rows.map((r) => `| ${r.map(escape).join(" | ")} |`),
    "",
    `*How measured:* ${t.how}`,
    "",
  ];
  return lines.join("\n");
}

export function markdownSection(s: Section): string {
  const parts = [`## ${s.title}`, "", ...s.tables.map(markdownTable)];
  if (s.notes) parts.push(s.notes, "");
  return parts.join("\n");
}
