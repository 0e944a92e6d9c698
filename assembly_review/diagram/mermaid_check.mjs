// Parse Mermaid diagrams with Mermaid's own parser (the version pinned in package.json), under
// Node alone: jsdom supplies the DOM that Mermaid's sanitizer (DOMPurify) needs; nothing is
// rendered and no browser is started.
//
// Usage: node mermaid_check.mjs FILE...  (a file holds one diagram, or markdown with ```mermaid
// blocks). Prints one JSON line per diagram: {"file", "index", "ok", "type" | "error"}; exits 1
// when any diagram fails to parse.
import { readFileSync } from 'node:fs';
import { JSDOM } from 'jsdom';

const dom = new JSDOM('<!doctype html><html><body></body></html>');
globalThis.window = dom.window;
globalThis.document = dom.window.document;
const { default: mermaid } = await import('mermaid');
mermaid.initialize({ startOnLoad: false });

function diagrams(text) {
  const blocks = [...text.matchAll(/```mermaid\n([\s\S]*?)```/g)].map((m) => m[1]);
  return blocks.length > 0 ? blocks : [text];
}

let failed = false;
for (const file of process.argv.slice(2)) {
  const found = diagrams(readFileSync(file, 'utf8'));
  for (const [index, source] of found.entries()) {
    try {
      const result = await mermaid.parse(source);
      console.log(JSON.stringify({ file, index, ok: true, type: result.diagramType }));
    } catch (error) {
      failed = true;
      const message = String(error && error.message ? error.message : error);
      console.log(JSON.stringify({ file, index, ok: false, error: message }));
    }
  }
}
process.exit(failed ? 1 : 0);
