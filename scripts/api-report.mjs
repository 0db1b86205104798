/**
 * The public API of each package, as a committed text report (packages/<pkg>/api-report.md):
 * every name its entry point exports, with its signature or declaration. A change of the public
 * API shows up as a diff of the report in review; `node scripts/api-report.mjs` rewrites the
 * reports, `--check` fails (exit 1, diff printed) when a report is out of date.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const PACKAGES = [
  { dir: 'core', name: '@ocidelta/core', entries: ['src/index.ts', 'src/errors.ts', 'src/mender/index.ts'] },
  { dir: 'registry', name: '@ocidelta/registry', entries: ['src/index.ts'] },
  { dir: 'delta', name: '@ocidelta/delta', entries: ['src/index.ts'] },
  { dir: 'cli', name: 'ocidelta', entries: ['src/index.ts', 'src/app/index.ts'] },
];

const FLAGS = ts.TypeFormatFlags.NoTruncation;

/** `import("/abs/path").Name` -> `Name`: reports must not depend on where the checkout is. */
const local = (text) => text.replace(/import\("[^"]+"(?:, \{[^)]*\})?\)\./g, '');
const printer = ts.createPrinter({ removeComments: true });

function program() {
  const config = ts.getParsedCommandLineOfConfigFile(
    join(root, 'tsconfig.json'),
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (d) => {
        throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n'));
      },
    },
  );
  return ts.createProgram(config.fileNames, config.options);
}

/**
 * A function, method or constructor as declared (parameters and return type as written, the
 * checker's return type where none is written), without its body.
 */
function withoutBody(checker, node, sf) {
  const f = ts.factory;
  let type = node.type;
  if (!type && !ts.isConstructorDeclaration(node)) {
    const sig = checker.getSignatureFromDeclaration(node);
    type = sig
      ? checker.typeToTypeNode(checker.getReturnTypeOfSignature(sig), node, ts.NodeBuilderFlags.None)
      : undefined;
  }
  const mods = node.modifiers?.filter(
    (m) =>
      m.kind !== ts.SyntaxKind.ExportKeyword &&
      m.kind !== ts.SyntaxKind.AsyncKeyword &&
      m.kind !== ts.SyntaxKind.DefaultKeyword,
  );
  const params = node.parameters.map((p) =>
    f.updateParameterDeclaration(
      p,
      p.modifiers,
      p.dotDotDotToken,
      p.name,
      p.questionToken ?? (p.initializer ? f.createToken(ts.SyntaxKind.QuestionToken) : undefined),
      p.type,
      undefined,
    ),
  );
  let copy;
  if (ts.isConstructorDeclaration(node)) copy = f.createConstructorDeclaration(mods, params, undefined);
  else if (ts.isMethodDeclaration(node))
    copy = f.createMethodDeclaration(
      mods,
      node.asteriskToken,
      node.name,
      node.questionToken,
      node.typeParameters,
      params,
      type,
      undefined,
    );
  else
    copy = f.createFunctionDeclaration(
      mods,
      node.asteriskToken,
      node.name,
      node.typeParameters,
      params,
      type,
      undefined,
    );
  return printed(copy, sf);
}

/** Print a declaration without comments, on one line per member. */
function printed(node, sf) {
  return printer
    .printNode(ts.EmitHint.Unspecified, node, sf)
    .replace(/\n\s*/g, ' ')
    .replace(/^export (declare )?/, '');
}

function describe(checker, symbol) {
  const target = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
  const decl = target.declarations?.[0];
  if (!decl) return `${symbol.name}: unknown`;
  const sf = decl.getSourceFile();
  if (ts.isFunctionDeclaration(decl)) {
    const all = target.declarations.filter(ts.isFunctionDeclaration);
    // Overload signatures when there are some, else the implementation's.
    const shown = all.length > 1 ? all.filter((d) => !d.body) : all;
    return shown.map((d) => withoutBody(checker, d, sf)).join('\n');
  }
  if (ts.isClassDeclaration(decl)) {
    const lines = [
      `class ${symbol.name}${decl.heritageClauses ? ` ${decl.heritageClauses.map((h) => h.getText(sf)).join(' ')}` : ''}`,
    ];
    for (const member of decl.members) {
      const mods = ts.getCombinedModifierFlags(member);
      if (mods & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected)) continue;
      if (member.name && ts.isPrivateIdentifier(member.name)) continue;
      if (ts.isClassStaticBlockDeclaration(member)) continue;
      const isStatic = mods & ts.ModifierFlags.Static ? 'static ' : '';
      let text;
      if (ts.isMethodDeclaration(member) || ts.isConstructorDeclaration(member)) {
        text = withoutBody(checker, member, sf);
      } else if (ts.isPropertyDeclaration(member) || ts.isGetAccessor(member)) {
        const type = checker.getTypeAtLocation(member);
        const ro = mods & ts.ModifierFlags.Readonly || ts.isGetAccessor(member) ? 'readonly ' : '';
        text = `${isStatic}${ro}${member.name.getText(sf)}: ${checker.typeToString(type, undefined, FLAGS)}`;
      } else continue;
      lines.push(`  ${text}`);
    }
    return lines.join('\n');
  }
  if (ts.isVariableDeclaration(decl)) {
    // Schemas and tables have long inferred types: the checker's shortened form is enough here.
    return `const ${symbol.name}: ${checker.typeToString(checker.getTypeOfSymbol(target))}`;
  }
  if (ts.isInterfaceDeclaration(decl) || ts.isTypeAliasDeclaration(decl) || ts.isEnumDeclaration(decl)) {
    const all = target.declarations.filter((d) => ts.isInterfaceDeclaration(d) || d === decl);
    return all.map((d) => printed(d, d.getSourceFile())).join('\n');
  }
  return `${symbol.name}: ${ts.SyntaxKind[decl.kind]}`;
}

/** The reports of every package: file path -> content. */
export function apiReports() {
  const prog = program();
  const checker = prog.getTypeChecker();
  const out = new Map();
  for (const pkg of PACKAGES) {
    const sections = [];
    for (const entry of pkg.entries) {
      const sf = prog.getSourceFile(join(root, 'packages', pkg.dir, entry));
      if (!sf) throw new Error(`not in the program: ${pkg.dir}/${entry}`);
      const exports = checker
        .getExportsOfModule(checker.getSymbolAtLocation(sf))
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      const sub =
        entry === 'src/index.ts' ? pkg.name : `${pkg.name}/${entry.replace(/^src\/|(\/index)?\.ts$/g, '')}`;
      const lines = exports.map((e) => local(describe(checker, e)));
      sections.push(`## ${sub}\n\n${exports.length} exports.\n\n\`\`\`ts\n${lines.join('\n')}\n\`\`\`\n`);
    }
    const text = `# API report: ${pkg.name}\n\nGenerated by \`node scripts/api-report.mjs\`; do not edit. A diff here is a change of the public API.\n\n${sections.join('\n')}`;
    out.set(join(root, 'packages', pkg.dir, 'api-report.md'), text);
  }
  return out;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const check = process.argv.includes('--check');
  let stale = 0;
  for (const [file, text] of apiReports()) {
    let current = '';
    try {
      current = readFileSync(file, 'utf8');
    } catch {}
    if (current === text) continue;
    stale++;
    if (check) console.error(`api report out of date: ${file} (run node scripts/api-report.mjs)`);
    else writeFileSync(file, text);
  }
  if (check && stale > 0) process.exit(1);
  console.log(check ? 'api reports up to date' : `api reports written (${stale} changed)`);
}
