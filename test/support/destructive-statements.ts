import ts from 'typescript';

/**
 * Finds what an expand migration must not do: while two revisions of a function serve side by
 * side, the older one still reads and writes the old shape, so an expand migration only adds.
 * Dropping, renaming, changing a column's type, tightening a column to NOT NULL, adding a NOT NULL
 * column without a default (the older revision's inserts leave it out), revoking rights and
 * emptying tables belong in a contract migration. Taking the default EXECUTE from PUBLIC on a
 * function the same module creates takes nothing from anyone, so it is no finding.
 *
 * It reads the source text of a migration module and looks only at its `up` function: the SQL in
 * its string and template literals (SQL comments ignored) and kysely schema-builder calls. Code
 * outside `up` (such as `down`, which drops what `up` made) and comments do not count.
 */

export type DestructiveKind =
  | 'drop'
  | 'rename'
  | 'alter-column-type'
  | 'set-not-null'
  | 'add-not-null-column-without-default'
  | 'revoke'
  | 'truncate';

export interface DestructiveStatement {
  readonly kind: DestructiveKind;
  /** 1-based line in the source where the statement (or call) starts. */
  readonly line: number;
  /** The offending statement, whitespace collapsed. */
  readonly statement: string;
}

/** Throws when the source has no `up` function. */
export function findDestructiveStatements(source: string, fileName = 'migration.ts'): DestructiveStatement[] {
  const file = ts.createSourceFile(fileName, source, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
  const up = findUpBody(file);
  if (!up) throw new Error(`${fileName}: no up() function found`);
  const findings: DestructiveStatement[] = [];
  const createdFunctions = new Set<string>();
  const lineOf = (position: number): number => file.getLineAndCharacterOfPosition(position).line + 1;

  const visit = (node: ts.Node): void => {
    if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) {
      findings.push(...checkSql(node.text, lineOf(node.getStart(file))));
      return;
    }
    if (ts.isTemplateExpression(node)) {
      // Interpolated values stand in as a placeholder identifier; their own literals are read too.
      const text = node.head.text + node.templateSpans.map((span) => ` __value__ ${span.literal.text}`).join('');
      findings.push(...checkSql(text, lineOf(node.getStart(file))));
      for (const span of node.templateSpans) visit(span.expression);
      return;
    }
    if (ts.isCallExpression(node) && ts.isPropertyAccessExpression(node.expression)) {
      const kind = builderCallKind(node, file);
      if (kind) findings.push({ kind, line: lineOf(node.expression.name.getStart(file)), statement: collapse(node.getText(file)) });
    }
    ts.forEachChild(node, visit);
  };
  visit(up);
  // Functions the module creates, in up() or in the statements it keeps beside it for up() to run.
  const collect = (node: ts.Node): void => {
    if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node) || ts.isTemplateHead(node)) {
      for (const name of functionsCreatedIn(node.text)) createdFunctions.add(name);
    }
    ts.forEachChild(node, collect);
  };
  collect(file);
  return findings.filter((finding) => !revokesPublicExecuteOfNew(finding, createdFunctions)).sort((a, b) => a.line - b.line);
}

function functionsCreatedIn(text: string): string[] {
  return [...stripSqlComments(text).toLowerCase().matchAll(/\bcreate\s+(?:or\s+replace\s+)?function\s+([\w$.]+)/g)].map((match) => match[1] as string);
}

function revokesPublicExecuteOfNew(finding: DestructiveStatement, createdFunctions: ReadonlySet<string>): boolean {
  if (finding.kind !== 'revoke') return false;
  const revoke = /^revoke\s+(?:all|execute)(?:\s+privileges)?\s+on\s+function\s+([\w$.]+)\s*\([^)]*\)\s+from\s+public$/.exec(finding.statement.toLowerCase());
  return revoke !== null && createdFunctions.has(revoke[1] as string);
}

function findUpBody(file: ts.SourceFile): ts.Node | undefined {
  for (const statement of file.statements) {
    if (ts.isFunctionDeclaration(statement) && statement.name?.text === 'up') return statement.body;
    if (ts.isVariableStatement(statement)) {
      for (const declaration of statement.declarationList.declarations) {
        if (!ts.isIdentifier(declaration.name) || declaration.name.text !== 'up') continue;
        const init = declaration.initializer;
        if (init && (ts.isArrowFunction(init) || ts.isFunctionExpression(init))) return init.body;
      }
    }
  }
  return undefined;
}

const SQL_CHECKS: readonly { kind: DestructiveKind; pattern: RegExp }[] = [
  // `drop not null` loosens a column: the classic expand step, allowed.
  { kind: 'drop', pattern: /\bdrop\s+(?!not\s+null\b)/ },
  { kind: 'rename', pattern: /\brename\b/ },
  { kind: 'alter-column-type', pattern: /\balter\s+(?:column\s+)?(?:"[^"]+"|[a-z_][\w$]*)\s+(?:set\s+data\s+)?type\b/ },
  { kind: 'set-not-null', pattern: /\bset\s+not\s+null\b/ },
  { kind: 'revoke', pattern: /\brevoke\b/ },
  { kind: 'truncate', pattern: /\btruncate\b/ },
];

/** Checks every statement of one piece of SQL text. */
function checkSql(text: string, firstLine: number): DestructiveStatement[] {
  const findings: DestructiveStatement[] = [];
  const code = stripSqlComments(text);
  let offset = 0;
  for (const raw of code.split(';')) {
    const line = firstLine + countNewlines(code.slice(0, offset + leadingWhitespace(raw)));
    offset += raw.length + 1;
    const statement = collapse(raw).toLowerCase();
    if (statement === '') continue;
    for (const { kind, pattern } of SQL_CHECKS) {
      if (pattern.test(statement)) findings.push({ kind, line, statement: collapse(raw) });
    }
    if (addsNotNullColumnWithoutDefault(statement)) findings.push({ kind: 'add-not-null-column-without-default', line, statement: collapse(raw) });
  }
  return findings;
}

/** `alter table … add [column] c type not null` (or primary key) with neither a default nor a generated value. */
function addsNotNullColumnWithoutDefault(statement: string): boolean {
  const table = /^alter\s+table\s+(?:if\s+exists\s+)?(?:only\s+)?(?:"[^"]+"|[\w$.]+)(?:\.(?:"[^"]+"|[\w$]+))?\s+/.exec(statement);
  if (!table) return false;
  return splitTopLevel(statement.slice(table[0].length), ',').some((clause) => {
    const add = /^\s*add\s+(?!constraint\b|primary\b|unique\b|foreign\b|check\b|exclude\b)(?:column\s+)?/.exec(clause);
    if (!add) return false;
    const column = clause.slice(add[0].length);
    return /\bnot\s+null\b|\bprimary\s+key\b/.test(column) && !/\bdefault\b|\bgenerated\b/.test(column);
  });
}

const BUILDER_TIGHTENING: Readonly<Record<string, DestructiveKind>> = {
  setDataType: 'alter-column-type',
  setNotNull: 'set-not-null',
};

/** kysely schema-builder calls: dropTable/dropColumn/…, renameTo/renameColumn, setDataType, setNotNull, addColumn(…notNull()) on alterTable. */
function builderCallKind(call: ts.CallExpression, file: ts.SourceFile): DestructiveKind | undefined {
  const method = (call.expression as ts.PropertyAccessExpression).name.text;
  if (/^drop[A-Z]/.test(method) && method !== 'dropNotNull') return 'drop';
  if (/^rename[A-Z]/.test(method)) return 'rename';
  const tightening = BUILDER_TIGHTENING[method];
  if (tightening) return tightening;
  if (method === 'addColumn' && chainCalls(call).includes('alterTable')) {
    const build = call.arguments[2]?.getText(file) ?? '';
    if (/\.notNull\(\)|\.primaryKey\(\)/.test(build) && !/\.defaultTo\(|\.generated\w*\(/.test(build)) return 'add-not-null-column-without-default';
  }
  return undefined;
}

/** The method names called along a call chain, from the outermost inwards. */
function chainCalls(call: ts.CallExpression): string[] {
  const names: string[] = [];
  let node: ts.Expression = call;
  for (;;) {
    if (ts.isCallExpression(node)) node = node.expression;
    else if (ts.isPropertyAccessExpression(node)) {
      names.push(node.name.text);
      node = node.expression;
    } else if (ts.isAwaitExpression(node) || ts.isParenthesizedExpression(node)) node = node.expression;
    else return names;
  }
}

function stripSqlComments(text: string): string {
  // Comments become blanks of the same length and line breaks, so offsets and lines still match.
  return text.replace(/--[^\n]*|\/\*[\s\S]*?\*\//g, (comment) => comment.replace(/[^\n]/g, ' '));
}

function splitTopLevel(text: string, separator: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quote: string | undefined;
  let start = 0;
  for (let i = 0; i < text.length; i += 1) {
    const char = text[i];
    if (quote) {
      if (char === quote) quote = undefined;
    } else if (char === "'" || char === '"') quote = char;
    else if (char === '(') depth += 1;
    else if (char === ')') depth -= 1;
    else if (char === separator && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts;
}

function collapse(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

function countNewlines(text: string): number {
  return text.split('\n').length - 1;
}

function leadingWhitespace(text: string): number {
  return text.length - text.trimStart().length;
}
