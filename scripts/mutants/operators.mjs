// The mutation operators of `npm run check:mutants`: small, plausible slips found from the
// TypeScript AST of a file (the `typescript` package the build already uses), each a text edit of
// one span. A mutant is { file, kind, start, end, replacement, line, original, description }.
import ts from 'typescript';

const FLIPS = new Map([
  [ts.SyntaxKind.LessThanToken, '<='],
  [ts.SyntaxKind.LessThanEqualsToken, '<'],
  [ts.SyntaxKind.GreaterThanToken, '>='],
  [ts.SyntaxKind.GreaterThanEqualsToken, '>'],
  [ts.SyntaxKind.EqualsEqualsEqualsToken, '!=='],
  [ts.SyntaxKind.ExclamationEqualsEqualsToken, '==='],
  [ts.SyntaxKind.AmpersandAmpersandToken, '||'],
  [ts.SyntaxKind.BarBarToken, '&&'],
]);

/** Swapped outcomes: a request or job finishing the other way. */
const OUTCOMES = new Map([
  ['completed', 'failed'],
  ['failed', 'completed'],
  ['complete', 'fail'],
  ['fail', 'complete'],
]);

/**
 * Calls whose only effect is to tell someone what happened (traces, spans, logs, statistics):
 * dropping one changes no behaviour the runtime promises, so such mutants are not "meaningful".
 */
const OBSERVATION = /\b(trace|span|otel|log|debug|emitTrace|record|stats?|metric)\w*\s*[?.(]/i;

/** Is `node` in a type, not a value (a literal type, an annotation)? Its mutation changes no JS. */
function inType(node) {
  for (let n = node.parent; n; n = n.parent) {
    if (ts.isTypeNode(n) || ts.isTypeAliasDeclaration(n) || ts.isInterfaceDeclaration(n)) return true;
    if (ts.isStatement(n) || ts.isClassElement(n)) return false;
  }
  return false;
}

/** The name of a property assignment, if it is a plain one. */
function propName(node) {
  if (!node || !ts.isPropertyAssignment(node)) return undefined;
  const name = node.name;
  return ts.isIdentifier(name) || ts.isStringLiteral(name) ? name.text : undefined;
}

/** The span of an element of a comma list, with its trailing comma, so removing it stays valid. */
function withComma(text, node, sf) {
  let end = node.getEnd();
  const rest = text.slice(end);
  const comma = /^\s*,/.exec(rest);
  if (comma) end += comma[0].length;
  return { start: node.getStart(sf), end };
}

/** Every candidate mutant of one file. */
export function mutantsOf(file, text) {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
  const out = [];
  const add = (kind, node, span, replacement, description, tags = []) => {
    const start = span?.start ?? node.getStart(sf);
    const end = span?.end ?? node.getEnd();
    const line = sf.getLineAndCharacterOfPosition(start).line + 1;
    const original = text.slice(start, end);
    out.push({ file, kind, start, end, replacement, line, original, description, tags });
  };
  const machine = /\.machine\.ts$/.test(file);

  const visit = (node) => {
    if (ts.isImportDeclaration(node) || ts.isExportDeclaration(node) || ts.isTypeNode(node)) return;
    if (ts.isInterfaceDeclaration(node) || ts.isTypeAliasDeclaration(node)) return;

    if (ts.isBinaryExpression(node) && FLIPS.has(node.operatorToken.kind)) {
      const op = node.operatorToken;
      const to = FLIPS.get(op.kind);
      add('operator', op, undefined, to, `${op.getText(sf)} → ${to}`);
    }
    if ((ts.isIfStatement(node) || ts.isWhileStatement(node)) && node.expression) {
      const c = node.expression;
      add('negate', c, undefined, `!(${c.getText(sf)})`, `negate the condition`);
    }
    if (ts.isConditionalExpression(node)) {
      const c = node.condition;
      add('negate', c, undefined, `!(${c.getText(sf)})`, `negate the ternary's condition`);
    }
    if (ts.isPrefixUnaryExpression(node) && node.operator === ts.SyntaxKind.ExclamationToken) {
      add('negate', node, undefined, node.operand.getText(sf), `drop a !`);
    }
    if (ts.isExpressionStatement(node) && !ts.isStringLiteral(node.expression)) {
      const body = node.expression.getText(sf);
      if (!/^super\s*\(/.test(body)) {
        const tags = OBSERVATION.test(body) ? ['observation'] : [];
        add('drop-statement', node, undefined, ';', `drop \`${body.split('\n')[0].slice(0, 60)}\``, tags);
      }
    }
    if (ts.isNumericLiteral(node) && !inType(node)) {
      const n = Number(node.text.replaceAll('_', ''));
      const to = n === 0 ? 1 : n === 1 ? 0 : n + 1;
      // Indexes and lengths are boundary slips too; constants in ms or counts move by one.
      add('constant', node, undefined, String(to), `${node.text} → ${to}`);
    }
    if (
      (node.kind === ts.SyntaxKind.TrueKeyword || node.kind === ts.SyntaxKind.FalseKeyword) &&
      !inType(node)
    ) {
      const to = node.kind === ts.SyntaxKind.TrueKeyword ? 'false' : 'true';
      add('constant', node, undefined, to, `${node.getText(sf)} → ${to}`);
    }
    if (ts.isStringLiteral(node) && OUTCOMES.has(node.text) && !inType(node)) {
      const to = OUTCOMES.get(node.text);
      add('outcome', node, undefined, `'${to}'`, `'${node.text}' → '${to}'`);
    }
    if (
      ts.isPropertyAccessExpression(node) &&
      OUTCOMES.has(node.name.text) &&
      ts.isCallExpression(node.parent)
    ) {
      const to = OUTCOMES.get(node.name.text);
      add('outcome', node.name, undefined, to, `.${node.name.text}( → .${to}(`);
    }
    if (machine) {
      const name = propName(node);
      // A transition: a property of an `on` or `after` map, or one of a guarded list's branches.
      const owner =
        node.parent && ts.isObjectLiteralExpression(node.parent) ? propName(node.parent.parent) : undefined;
      if (name !== undefined && (owner === 'on' || owner === 'after'))
        add('xstate', node, withComma(text, node, sf), '', `drop the transition on ${name}`);
      if (name === 'guard')
        add('xstate', node, withComma(text, node, sf), '', `drop the guard ${node.initializer.getText(sf)}`);
      if (ts.isArrayLiteralExpression(node) && node.elements.length > 1) {
        const holder = propName(node.parent);
        const grand =
          holder && node.parent.parent && ts.isObjectLiteralExpression(node.parent.parent)
            ? propName(node.parent.parent.parent)
            : undefined;
        if (grand === 'on' || grand === 'after')
          for (const [i, el] of node.elements.entries())
            add(
              'xstate',
              el,
              withComma(text, el, sf),
              '',
              `drop branch ${i + 1} of the transition on ${holder}`,
            );
        if (holder === 'actions' || holder === 'entry' || holder === 'exit')
          for (const el of node.elements)
            add('xstate', el, withComma(text, el, sf), '', `drop the action ${el.getText(sf)} (${holder})`);
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

/** The text of `source` with the mutant applied. */
export function apply(source, mutant) {
  return source.slice(0, mutant.start) + mutant.replacement + source.slice(mutant.end);
}
