import { readFileSync, writeFileSync } from 'node:fs';

const [entry, ...names] = process.argv.slice(2);
let s = readFileSync(entry, 'utf8');
for (const n of names) {
  const re = new RegExp(`^  (type )?${n},\\n`, 'm');
  if (!re.test(s)) {
    console.error('missing', n);
    continue;
  }
  s = s.replace(re, '');
}
writeFileSync(entry, s);
