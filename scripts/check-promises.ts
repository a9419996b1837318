/**
 * Finds promises that are easy to mishandle once a store turns async:
 *  (a) an expression statement whose value is a Promise and that is not
 *      awaited, `void`ed, returned or handled (`.catch(…)`, `.then(…, …)`):
 *      a floating promise, whose failure is lost;
 *  (b) a Promise used where its value was meant: a condition (if, while, for,
 *      `?:`), an operand of `!`, `&&`, `||`, `??`, `===`, `!==`, a template
 *      literal or a spread (a Promise is always truthy and never equal).
 *
 * Run by hand: `node --import tsx scripts/check-promises.ts [folder...]`
 * (default: server). Exits 1 and lists `file:line:col  what` when it finds any.
 */
import path from 'node:path';
import { API } from 'typescript/unstable/sync';
import { SyntaxKind, type Node, type SourceFile } from 'typescript/unstable/ast';

const root = process.cwd();
const folders = (process.argv.slice(2).length ? process.argv.slice(2) : ['server']).map((f) => path.resolve(root, f) + path.sep);

interface Candidate {
  node: Node;
  file: SourceFile;
  what: string;
}

const BOOLEAN_OPERATORS = new Set<SyntaxKind>([
  SyntaxKind.AmpersandAmpersandToken,
  SyntaxKind.BarBarToken,
  SyntaxKind.QuestionQuestionToken,
  SyntaxKind.EqualsEqualsEqualsToken,
  SyntaxKind.ExclamationEqualsEqualsToken,
]);

/** The nodes whose type decides whether they are a finding. */
function collect(file: SourceFile): Candidate[] {
  const out: Candidate[] = [];
  const add = (node: Node | undefined, what: string): void => {
    if (node) out.push({ node, file, what });
  };
  const visit = (node: Node): void => {
    const n = node as Node & Record<string, Node | undefined>;
    switch (node.kind) {
      case SyntaxKind.ExpressionStatement: {
        const expression = n.expression!;
        // `void p`, `await p` and assignments hold or discard the promise on purpose.
        if (expression.kind !== SyntaxKind.VoidExpression && expression.kind !== SyntaxKind.AwaitExpression && !isAssignment(expression) && !isHandled(expression)) {
          add(expression, 'promise not awaited, voided or returned');
        }
        break;
      }
      case SyntaxKind.IfStatement:
      case SyntaxKind.WhileStatement:
      case SyntaxKind.DoStatement:
        add(n.expression, 'promise used as a condition');
        break;
      case SyntaxKind.ForStatement:
        add(n.condition, 'promise used as a condition');
        break;
      case SyntaxKind.ConditionalExpression:
        add(n.condition, 'promise used as a condition');
        break;
      case SyntaxKind.PrefixUnaryExpression:
        if ((node as unknown as { operator: SyntaxKind }).operator === SyntaxKind.ExclamationToken) add(n.operand, 'promise negated with !');
        break;
      case SyntaxKind.BinaryExpression: {
        const operator = (n.operatorToken as Node).kind;
        if (BOOLEAN_OPERATORS.has(operator)) {
          add(n.left, `promise as an operand of ${operatorText(operator)}`);
          // The right side of && / || / ?? is the value the expression may take: only === / !== compare it.
          if (operator === SyntaxKind.EqualsEqualsEqualsToken || operator === SyntaxKind.ExclamationEqualsEqualsToken) add(n.right, `promise as an operand of ${operatorText(operator)}`);
        }
        break;
      }
      case SyntaxKind.TemplateSpan:
        add(n.expression, 'promise in a template literal');
        break;
      case SyntaxKind.SpreadElement:
      case SyntaxKind.SpreadAssignment:
        add(n.expression, 'promise spread');
        break;
    }
    node.forEachChild(visit);
  };
  visit(file);
  return out;
}

const ASSIGNMENTS = new Set<SyntaxKind>([SyntaxKind.EqualsToken, SyntaxKind.QuestionQuestionEqualsToken, SyntaxKind.BarBarEqualsToken, SyntaxKind.AmpersandAmpersandEqualsToken]);

function isAssignment(node: Node): boolean {
  return node.kind === SyntaxKind.BinaryExpression && ASSIGNMENTS.has((node as unknown as { operatorToken: Node }).operatorToken.kind);
}

/** `p.catch(f)` or `p.then(f, g)`, possibly followed by more calls (`.finally(…)`): the rejection has a handler. */
function isHandled(node: Node): boolean {
  for (let current: Node | undefined = node; current?.kind === SyntaxKind.CallExpression; ) {
    const call = current as unknown as { expression: Node & { name?: Node & { text?: string }; expression?: Node }; arguments: readonly Node[] };
    if (call.expression.kind !== SyntaxKind.PropertyAccessExpression) return false;
    const name = call.expression.name?.text;
    if (name === 'catch' || (name === 'then' && call.arguments.length >= 2)) return true;
    current = call.expression.expression;
  }
  return false;
}

/** A Promise type, not a union that may also be undefined or null (`p ?? fallback` is then meant). */
function isPromise(text: string): boolean {
  if (!text.startsWith('Promise<')) return false;
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '<' || c === '(' || c === '{' || c === '[') depth++;
    else if (c === '>' || c === ')' || c === '}' || c === ']') {
      depth--;
      // The Promise's own `>` must end the text (not `Promise<T>[]`).
      if (depth === 0) return i === text.length - 1;
    } else if (c === '|' && depth === 0) return false;
  }
  return false;
}

function operatorText(kind: SyntaxKind): string {
  return { [SyntaxKind.AmpersandAmpersandToken]: '&&', [SyntaxKind.BarBarToken]: '||', [SyntaxKind.QuestionQuestionToken]: '??', [SyntaxKind.EqualsEqualsEqualsToken]: '===', [SyntaxKind.ExclamationEqualsEqualsToken]: '!==' }[kind as number] ?? String(kind);
}

const api = new API({ cwd: root });
try {
  const snapshot = api.updateSnapshot({ openProjects: [path.join(root, 'tsconfig.json')] });
  const project = snapshot.getProjects()[0];
  if (!project) throw new Error('tsconfig.json did not open as a project');
  const { program, checker } = project;
  const findings: string[] = [];
  for (const fileName of program.getSourceFileNames()) {
    if (!folders.some((folder) => path.resolve(fileName).startsWith(folder)) || fileName.endsWith('.d.ts')) continue;
    const file = program.getSourceFile(fileName);
    if (!file) continue;
    const candidates = collect(file);
    if (candidates.length === 0) continue;
    // One round trip per file: the checker answers for every node at once.
    const types = checker.getTypeAtLocation(candidates.map((c) => c.node));
    candidates.forEach((c, i) => {
      const type = types[i];
      if (!type || !isPromise(checker.typeToString(type))) return;
      const { line, character } = file.getLineAndCharacterOfPosition(c.node.getStart(file));
      findings.push(`${path.relative(root, fileName)}:${line + 1}:${character + 1}  ${c.what}`);
    });
  }
  for (const f of findings) console.log(f);
  console.log(findings.length === 0 ? 'no mishandled promises' : `${findings.length} mishandled promise(s)`);
  process.exitCode = findings.length === 0 ? 0 : 1;
} finally {
  api.close();
}
