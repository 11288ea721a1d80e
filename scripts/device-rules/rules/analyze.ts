// Checks one module: transpiles and parses it (the syntax rule), then walks it once with acorn-walk,
// tracking scopes and whether code runs at load time, and calls each rule's checks on the way.
import type * as acorn from "acorn";
import * as walk from "acorn-walk";
import { assignmentRoots, memberName, staticString } from "../ast.js";
import { GLOBAL_OBJECTS } from "../builtins.js";
import { PositionMap } from "../positions.js";
import { RULES } from "./index.js";
import { transpileAndParse } from "./syntax.js";
import { Scope, hoistLexical, hoistVars, isGlobal } from "../scope.js";
import type { ImportRef, ModuleContext, NodeCheck, RuleId, Violation, WalkState } from "../types.js";
import { base, scopeVisitors, type Visitor } from "../walk.js";

export interface Analysis {
  violations: Violation[];
  imports: ImportRef[];
}

/** The rules' node checks by node type, in the rules' order. */
function nodeChecks(): Map<string, NodeCheck[]> {
  const byType = new Map<string, NodeCheck[]>();
  for (const rule of RULES) {
    for (const [type, check] of Object.entries(rule.nodes ?? {})) {
      const list = byType.get(type) ?? [];
      list.push(check);
      byType.set(type, list);
    }
  }
  return byType;
}

/** Transpiles, parses and checks one module; returns its violations and import specifiers. */
export function analyzeModule(code: string, fileName: string): Analysis {
  const parsed = transpileAndParse(code, fileName);
  if ("violations" in parsed) return { violations: parsed.violations, imports: [] };
  const { js, map, program } = parsed;

  const violations: Violation[] = [];
  const imports: ImportRef[] = [];
  const positions = new PositionMap(map);
  const moduleScope = new Scope(null, true);
  hoistLexical(moduleScope, program.body);
  hoistVars(moduleScope, program);
  /** Top-level statement currently walked (for the opt-out comment on a multi-line statement). */
  let topStatement: acorn.Node | null = null;

  const where = (node: acorn.Node): { line: number; column: number } => {
    const start = node.loc?.start;
    return start ? positions.original(start.line, start.column) : { line: 1, column: 1 };
  };
  const m: ModuleContext = {
    fileName,
    sourceLines: code.split(/\r\n|\r|\n/),
    moduleScope,
    get topStatement() {
      return topStatement;
    },
    where,
    report(node: acorn.Node, rule: RuleId, message: string): void {
      violations.push({ file: fileName, ...where(node), rule, message });
    },
    text(node: acorn.Node, max = 48): string {
      const s = js.slice(node.start, node.end).replace(/\s+/g, " ");
      return s.length > max ? `${s.slice(0, max - 3)}...` : s;
    },
    globalName(expr: acorn.AnyNode, scope: Scope): string | null {
      if (expr.type === "Identifier") return isGlobal(expr.name, scope) ? expr.name : null;
      if (expr.type === "MemberExpression" && expr.object.type === "Identifier") {
        if (GLOBAL_OBJECTS.has(expr.object.name) && isGlobal(expr.object.name, scope)) return memberName(expr);
      }
      return null;
    },
  };

  const checks = nodeChecks();
  const useOfGlobal = (name: string, node: acorn.Node, shown: string): void => {
    for (const rule of RULES) rule.global?.(name, node, shown, m);
  };
  /** The uses of globals a node makes by itself (its children are walked on their own). */
  const globalsOf = (node: acorn.AnyNode, st: WalkState): void => {
    if (node.type === "Identifier") {
      if (isGlobal(node.name, st.scope)) useOfGlobal(node.name, node, node.name);
    } else if (node.type === "MemberExpression") {
      const name = memberName(node);
      if (name !== null && node.object.type === "Identifier" && GLOBAL_OBJECTS.has(node.object.name) && isGlobal(node.object.name, st.scope)) {
        useOfGlobal(name, node, m.text(node));
      }
    } else if (node.type === "AssignmentExpression") {
      for (const root of assignmentRoots(node.left)) {
        if (root.type === "Identifier" && isGlobal(root.name, st.scope)) useOfGlobal(root.name, root, root.name);
      }
    }
  };

  const scoping = scopeVisitors({
    topStatement(stmt) {
      topStatement = stmt;
    },
    importSource(source) {
      const spec = staticString(source);
      if (spec !== null) imports.push({ specifier: spec, ...where(source) });
    },
  });

  const isFeatureTest = (node: acorn.AnyNode): boolean =>
    node.type === "UnaryExpression" && node.operator === "typeof" && node.argument.type === "Identifier";

  // Every visit: the rules' checks on the node itself (parents before children), then the walk on.
  const visitors: Record<string, Visitor> = {};
  for (const key of new Set([...Object.keys(base), ...Object.keys(scoping)])) {
    const next = scoping[key] ?? base[key];
    if (!next) continue;
    visitors[key] = (node, st, c) => {
      if (key === node.type && !isFeatureTest(node)) {
        for (const check of checks.get(node.type) ?? []) check(node, st, m);
        globalsOf(node, st);
      }
      next(node, st, c);
    };
  }

  walk.recursive(program, { scope: moduleScope, load: true } as WalkState, visitors as unknown as walk.RecursiveVisitors<WalkState>);
  return { violations, imports };
}
