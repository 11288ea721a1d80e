// Checks one module: transpiles and parses it (the syntax rule), then walks it once with acorn-walk,
// tracking scopes and whether code runs at load time, and calls each rule's checks on the way.
import type * as acorn from "acorn";
import * as walk from "acorn-walk";
import { assignmentRoots, immediatelyInvoked, memberName, staticString } from "./ast.js";
import { GLOBAL_OBJECTS } from "./builtins.js";
import { PositionMap } from "./positions.js";
import { RULES } from "./rules/index.js";
import { transpileAndParse } from "./rules/syntax.js";
import { Scope, hoistLexical, hoistVars, isGlobal, patternNames } from "./scope.js";
import type { ImportRef, ModuleContext, NodeCheck, RuleId, Violation, WalkState } from "./types.js";

type Walk = (node: acorn.AnyNode, st: WalkState, override?: string) => void;
type Visitor = (node: acorn.AnyNode, st: WalkState, c: Walk) => void;
const base = walk.base as unknown as Record<string, Visitor>;

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

  /** Function nodes that are called right where they are defined, while the module loads. */
  const invokedAtDefinition = new WeakSet<acorn.Node>();

  const walkFunction = (fn: acorn.AnyNode, st: WalkState, c: Walk): void => {
    if (fn.type !== "FunctionDeclaration" && fn.type !== "FunctionExpression" && fn.type !== "ArrowFunctionExpression") return;
    const scope = new Scope(st.scope, true);
    if (fn.type === "FunctionExpression" && fn.id) scope.declare(fn.id.name, "function");
    for (const p of fn.params) for (const id of patternNames(p)) scope.declare(id.name, "param");
    const inner: WalkState = { scope, load: st.load && invokedAtDefinition.has(fn), inSubclass: fn.type === "ArrowFunctionExpression" ? st.inSubclass : false };
    for (const p of fn.params) c(p, inner, "Pattern");
    if (fn.body.type === "BlockStatement") {
      hoistVars(scope, fn.body);
      hoistLexical(scope, fn.body.body);
      for (const s of fn.body.body) c(s, inner, "Statement");
    } else {
      c(fn.body, inner, "Expression");
    }
  };

  /** A class method: its body sees `this` as the class's instance. */
  const walkMethod = (fn: acorn.AnyNode, st: WalkState, c: Walk): void => {
    if (fn.type !== "FunctionExpression") return;
    const scope = new Scope(st.scope, true);
    for (const p of fn.params) for (const id of patternNames(p)) scope.declare(id.name, "param");
    const inner: WalkState = { scope, load: false, inSubclass: st.inSubclass };
    for (const p of fn.params) c(p, inner, "Pattern");
    hoistVars(scope, fn.body);
    hoistLexical(scope, fn.body.body);
    for (const s of fn.body.body) c(s, inner, "Statement");
  };

  const addImport = (source: acorn.AnyNode | null | undefined): void => {
    const spec = staticString(source);
    if (spec !== null && source) imports.push({ specifier: spec, ...where(source) });
  };

  /** How the walk moves through the tree where acorn-walk's base does not know scopes or load time. */
  const scoping: Record<string, Visitor> = {
    Program(node, st, c) {
      if (node.type !== "Program") return;
      for (const stmt of node.body) {
        topStatement = stmt;
        c(stmt, st, "Statement");
      }
      topStatement = null;
    },

    BlockStatement(node, st, c) {
      if (node.type !== "BlockStatement") return;
      const scope = new Scope(st.scope, false);
      hoistLexical(scope, node.body);
      for (const s of node.body) c(s, { ...st, scope }, "Statement");
    },

    StaticBlock(node, st, c) {
      if (node.type !== "StaticBlock") return;
      // Runs when the class is defined: at load time if the class is defined at load time.
      const scope = new Scope(st.scope, true);
      hoistVars(scope, node);
      hoistLexical(scope, node.body);
      for (const s of node.body) c(s, { ...st, scope }, "Statement");
    },

    Function(node, st, c) {
      walkFunction(node, st, c);
    },

    ForStatement(node, st, c) {
      if (node.type !== "ForStatement") return;
      const scope = new Scope(st.scope, false);
      if (node.init) hoistLexical(scope, [node.init]);
      base["ForStatement"](node, { ...st, scope }, c);
    },

    ForInStatement(node, st, c) {
      if (node.type !== "ForInStatement" && node.type !== "ForOfStatement") return;
      const scope = new Scope(st.scope, false);
      hoistLexical(scope, [node.left]);
      base["ForInStatement"](node, { ...st, scope }, c);
    },

    ForOfStatement(node, st, c) {
      if (node.type !== "ForOfStatement") return;
      const scope = new Scope(st.scope, false);
      hoistLexical(scope, [node.left]);
      base["ForOfStatement"](node, { ...st, scope }, c);
    },

    SwitchStatement(node, st, c) {
      if (node.type !== "SwitchStatement") return;
      c(node.discriminant, st, "Expression");
      const scope = new Scope(st.scope, false);
      for (const cs of node.cases) hoistLexical(scope, cs.consequent);
      for (const cs of node.cases) c(cs, { ...st, scope });
    },

    CatchClause(node, st, c) {
      if (node.type !== "CatchClause") return;
      const scope = new Scope(st.scope, false);
      for (const id of patternNames(node.param)) scope.declare(id.name, "catch");
      const inner: WalkState = { ...st, scope };
      if (node.param) c(node.param, inner, "Pattern");
      c(node.body, inner, "Statement");
    },

    Class(node, st, c) {
      if (node.type !== "ClassDeclaration" && node.type !== "ClassExpression") return;
      let scope = st.scope;
      if (node.type === "ClassExpression" && node.id) {
        scope = new Scope(st.scope, false);
        scope.declare(node.id.name, "class");
      }
      const outer: WalkState = { ...st, scope };
      if (node.superClass) c(node.superClass, outer, "Expression");
      for (const el of node.body.body) {
        if (el.type === "StaticBlock") {
          c(el, outer);
          continue;
        }
        if (el.computed) c(el.key, outer, "Expression"); // evaluated when the class is defined
        if (el.type === "MethodDefinition") {
          // a method is walked as a function: walkFunction keeps inSubclass for arrows only, so it is set on the method's own state
          walkMethod(el.value, { scope, load: false, inSubclass: node.superClass != null }, c);
        } else if (el.value) {
          // Static field initializers run when the class is defined; instance ones on `new`.
          const init: WalkState = { scope: new Scope(scope, true), load: el.static ? st.load : false, inSubclass: !el.static && node.superClass != null };
          c(el.value, init, "Expression");
        }
      }
    },

    UnaryExpression(node, st, c) {
      if (node.type !== "UnaryExpression") return;
      // `typeof X` never throws and never uses X: a feature test is not a use.
      if (node.operator === "typeof" && node.argument.type === "Identifier") return;
      base["UnaryExpression"](node, st, c);
    },

    CallExpression(node, st, c) {
      if (node.type !== "CallExpression") return;
      const fn = immediatelyInvoked(node);
      if (fn) invokedAtDefinition.add(fn);
      base["CallExpression"](node, st, c);
    },

    ImportExpression(node, st, c) {
      if (node.type !== "ImportExpression") return;
      addImport(node.source);
      base["ImportExpression"](node, st, c);
    },

    ImportDeclaration(node) {
      if (node.type === "ImportDeclaration") addImport(node.source);
    },

    ExportNamedDeclaration(node, st, c) {
      if (node.type !== "ExportNamedDeclaration") return;
      if (node.source) addImport(node.source);
      if (node.declaration) c(node.declaration, st, "Statement");
    },

    ExportAllDeclaration(node) {
      if (node.type === "ExportAllDeclaration") addImport(node.source);
    },
  };

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
