// Validates AsyncAPI documents with the AsyncAPI project's own parser: node validate.mjs FILE...
// Prints every diagnostic; exits 1 when the parser reports an error or a warning, 2 on bad usage.
// The parser does not check Avro payloads (tests/contract/test_asyncapi.py parses them with fastavro).
import { readFile } from 'node:fs/promises';
import { Parser, DiagnosticSeverity } from '@asyncapi/parser';

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error('usage: node validate.mjs FILE...');
  process.exit(2);
}
const parser = new Parser();
let failed = false;
for (const file of files) {
  const { document, diagnostics } = await parser.parse(await readFile(file, 'utf8'), { source: file });
  const serious = diagnostics.filter((d) => d.severity <= DiagnosticSeverity.Warning);
  for (const d of diagnostics) {
    console.log(`${file}: ${DiagnosticSeverity[d.severity].toLowerCase()} at /${d.path.join('/')}: ${d.message} (${d.code})`);
  }
  if (document === undefined || serious.length > 0) {
    failed = true;
  } else {
    const channels = document.channels().length;
    const operations = document.operations().length;
    const messages = document.components().messages().length;
    console.log(`${file}: valid AsyncAPI ${document.version()}: ${channels} channels, ${operations} operations, ${messages} messages`);
  }
}
process.exit(failed ? 1 : 0);
