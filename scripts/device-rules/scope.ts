// Lexical scopes of a module, enough to tell a global from a local binding of the same name.
import type * as acorn from "acorn";

export type BindingKind = "import" | "function" | "class" | "const" | "let" | "var" | "param" | "catch";

export class Scope {
  readonly names = new Map<string, BindingKind>();
  /** The nearest function-like scope (the module scope at top level): where `var` lives. */
  readonly fnScope: Scope;
  constructor(readonly parent: Scope | null, isFunction: boolean) {
    this.fnScope = isFunction || parent === null ? this : parent.fnScope;
  }
  declare(name: string, kind: BindingKind): void {
    this.names.set(name, kind);
  }
  lookup(name: string): { kind: BindingKind; scope: Scope } | null {
    for (let s: Scope | null = this; s; s = s.parent) {
      const kind = s.names.get(name);
      if (kind !== undefined) return { kind, scope: s };
    }
    return null;
  }
}

export function isGlobal(name: string, scope: Scope): boolean {
  return scope.lookup(name) === null;
}

export function patternNames(p: acorn.Pattern | null | undefined, out: acorn.Identifier[] = []): acorn.Identifier[] {
  if (!p) return out;
  switch (p.type) {
    case "Identifier":
      out.push(p);
      break;
    case "ObjectPattern":
      for (const prop of p.properties) {
        if (prop.type === "RestElement") patternNames(prop.argument, out);
        else patternNames(prop.value, out);
      }
      break;
    case "ArrayPattern":
      for (const el of p.elements) patternNames(el, out);
      break;
    case "RestElement":
      patternNames(p.argument, out);
      break;
    case "AssignmentPattern":
      patternNames(p.left, out);
      break;
    case "MemberExpression":
      break;
  }
  return out;
}

/** Declares the block-scoped declarations of a statement list (and imports at module level). */
export function hoistLexical(scope: Scope, statements: ReadonlyArray<acorn.AnyNode>): void {
  for (const stmt of statements) {
    let decl: acorn.AnyNode = stmt;
    if (stmt.type === "ExportNamedDeclaration" && stmt.declaration) decl = stmt.declaration;
    if (stmt.type === "ExportDefaultDeclaration") decl = stmt.declaration;
    switch (decl.type) {
      case "VariableDeclaration":
        if (decl.kind !== "var") {
          const kind: BindingKind = decl.kind === "let" ? "let" : "const";
          for (const d of decl.declarations) for (const id of patternNames(d.id)) scope.declare(id.name, kind);
        }
        break;
      case "FunctionDeclaration":
        if (decl.id) scope.declare(decl.id.name, "function");
        break;
      case "ClassDeclaration":
        if (decl.id) scope.declare(decl.id.name, "class");
        break;
      case "ImportDeclaration":
        for (const spec of decl.specifiers) scope.declare(spec.local.name, "import");
        break;
      default:
        break;
    }
  }
}

/** Declares the `var`s of a function body (not descending into nested functions). */
export function hoistVars(scope: Scope, node: acorn.AnyNode | null | undefined): void {
  if (!node) return;
  switch (node.type) {
    case "VariableDeclaration":
      if (node.kind === "var") {
        for (const d of node.declarations) for (const id of patternNames(d.id)) scope.declare(id.name, "var");
      }
      break;
    case "Program":
    case "BlockStatement":
    case "StaticBlock":
      for (const s of node.body) hoistVars(scope, s);
      break;
    case "ExportNamedDeclaration":
      hoistVars(scope, node.declaration);
      break;
    case "IfStatement":
      hoistVars(scope, node.consequent);
      hoistVars(scope, node.alternate);
      break;
    case "ForStatement":
      if (node.init && node.init.type === "VariableDeclaration") hoistVars(scope, node.init);
      hoistVars(scope, node.body);
      break;
    case "ForInStatement":
    case "ForOfStatement":
      if (node.left.type === "VariableDeclaration") hoistVars(scope, node.left);
      hoistVars(scope, node.body);
      break;
    case "WhileStatement":
    case "DoWhileStatement":
    case "LabeledStatement":
      hoistVars(scope, node.body);
      break;
    case "TryStatement":
      hoistVars(scope, node.block);
      if (node.handler) hoistVars(scope, node.handler.body);
      hoistVars(scope, node.finalizer);
      break;
    case "SwitchStatement":
      for (const cs of node.cases) for (const s of cs.consequent) hoistVars(scope, s);
      break;
    default:
      break;
  }
}
