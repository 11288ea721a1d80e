// The shapes every part of the device-rules check shares: a rule, a violation, the walk's state.
import type * as acorn from "acorn";
import type { Scope } from "./scope.js";

export type RuleId =
  | "module-state"
  | "module-instance"
  | "dynamic-code"
  | "node-only"
  | "bigint"
  | "top-level-call"
  | "text-decoder"
  | "module-regexp"
  | "builtin-name"
  | "frozen-override"
  | "import"
  | "syntax";

export interface Violation {
  /** The file as given to checkSource, or relative to the root (with `/`) for checkDeviceRules. */
  file: string;
  /** 1-based line in the original TypeScript source. */
  line: number;
  /** 1-based column in the original TypeScript source. */
  column: number;
  rule: RuleId;
  message: string;
}

export interface ImportRef {
  specifier: string;
  line: number;
  column: number;
}

export interface DeviceRulesResult {
  /** The device modules checked, relative to the root, sorted. */
  modules: string[];
  violations: Violation[];
}

export function formatViolation(v: Violation): string {
  return `${v.file}:${v.line}:${v.column}: ${v.rule}: ${v.message}`;
}

/** The walk's state at a node. */
export interface WalkState {
  scope: Scope;
  /** True where the code runs when the module is loaded (i.e. at preload, on the device). */
  load: boolean;
  /** True where `this` is an instance of a class that extends another (its methods and their arrow functions). */
  inSubclass?: boolean;
}

/** What a rule knows of the module being checked (transpiled to JavaScript; positions map back). */
export interface ModuleContext {
  readonly fileName: string;
  /** The lines of the original TypeScript source. */
  readonly sourceLines: readonly string[];
  readonly moduleScope: Scope;
  /** The top-level statement being walked (null outside one). */
  readonly topStatement: acorn.Node | null;
  /** A node's position in the original source (1-based line and column). */
  where(node: acorn.Node): { line: number; column: number };
  report(node: acorn.Node, rule: RuleId, message: string): void;
  /** A node's JavaScript text, whitespace collapsed, cut at `max` characters. */
  text(node: acorn.Node, max?: number): string;
  /** `X` or `globalThis.X` where X is not shadowed: the global's name. */
  globalName(expr: acorn.AnyNode, scope: Scope): string | null;
}

export type NodeCheck = (node: acorn.AnyNode, st: WalkState, m: ModuleContext) => void;

/** One device rule: its id, what it forbids and why, and the checks the walk calls. */
export interface DeviceRule {
  readonly id: RuleId;
  readonly description: string;
  /** Called on each node of these types, parents before their children. */
  readonly nodes?: Readonly<Record<string, NodeCheck>>;
  /** Called on each use of a global (not shadowed): `X`, `globalThis.X`, the root of an assignment. */
  readonly global?: (name: string, node: acorn.Node, shown: string, m: ModuleContext) => void;
}
