/** The subset of `node:path` (POSIX) that peftjs's packages use; the browser build aliases `node:path` here. */
export const sep = '/';

export function join(...parts: string[]): string {
  const joined = parts.filter((p) => p !== '').join('/');
  const abs = joined.startsWith('/');
  const out: string[] = [];
  for (const part of joined.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..' && out.length && out[out.length - 1] !== '..') out.pop();
    else if (part !== '..' || !abs) out.push(part);
  }
  return (abs ? '/' : '') + out.join('/') || (abs ? '/' : '.');
}

export function dirname(path: string): string {
  const trimmed = path.replace(/\/+$/, '');
  const i = trimmed.lastIndexOf('/');
  if (i < 0) return '.';
  return i === 0 ? '/' : trimmed.slice(0, i);
}

export function basename(path: string): string {
  const trimmed = path.replace(/\/+$/, '');
  return trimmed.slice(trimmed.lastIndexOf('/') + 1);
}

/** An absolute path: from the last absolute part on, joined (the page's files have no working directory but `/`). */
export function resolve(...parts: string[]): string {
  let i = parts.length - 1;
  while (i > 0 && !parts[i]!.startsWith('/')) i--;
  return join('/', ...parts.slice(i));
}

export default { sep, join, dirname, basename, resolve };
