// How the walk moves through a module where acorn-walk's base knows nothing of scopes or load time:
// the scope of each block, function, class and catch clause; whether code runs when the module
// loads (module scope, static initializers, functions invoked where they are defined); whether
// `this` is an instance of a subclass. Rules see the result in each node's WalkState.
import type * as acorn from "acorn";
import * as walk from "acorn-walk";
import { immediatelyInvoked } from "./ast.js";
import { Scope, hoistLexical, hoistVars, patternNames } from "./scope.js";
import type { WalkState } from "./types.js";

export type Walk = (node: acorn.AnyNode, st: WalkState, override?: string) => void;
export type Visitor = (node: acorn.AnyNode, st: WalkState, c: Walk) => void;
export const base = walk.base as unknown as Record<string, Visitor>;

export interface WalkEvents {
  /** The top-level statement being walked (null once the module is done). */
  topStatement(stmt: acorn.Node | null): void;
  /** The source of a static import, re-export or `import()`. */
  importSource(source: acorn.AnyNode): void;
}

/** The visitors that track scopes and load time, for acorn-walk's `recursive`. */
export function scopeVisitors(on: WalkEvents): Record<string, Visitor> {
  /** Function nodes that are called right where they are defined, while the module loads. */
  const invokedAtDefinition = new WeakSet<acorn.Node>();
  const addImport = (source: acorn.AnyNode | null | undefined): void => {
    if (source) on.importSource(source);
  };

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

  return {
    Program(node, st, c) {
      if (node.type !== "Program") return;
      for (const stmt of node.body) {
        on.topStatement(stmt);
        c(stmt, st, "Statement");
      }
      on.topStatement(null);
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
}
