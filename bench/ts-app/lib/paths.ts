// Where the Python app's sources are (the repository root, two levels up), and its naming rule.
import * as path from 'node:path';

export const ROOT = path.resolve(import.meta.dirname, '..', '..', '..');

/** 'location' -> 'Location', 'order-api' -> 'OrderApi' (stack.py construct_id). */
export function constructId(name: string): string {
  return name
    .split('-')
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1).toLowerCase())
    .join('');
}
