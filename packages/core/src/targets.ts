import { LinearLike } from './nn/layers.js';
import type { Module } from './nn/module.js';

/**
 * Which modules a method targets.
 * - PEFT's config forms: a string is a full-match regex, a list is an exact or `.suffix` match,
 *   `'all-linear'` is every linear layer but the output head.
 * - Typed forms for code: a RegExp (full match on the dotted path) or a predicate.
 */
export type TargetSelector = string | readonly string[] | RegExp | ((path: string, module: LinearLike) => boolean);

export interface TargetRules {
  targetModules: TargetSelector | null | undefined;
  /** PEFT's `exclude_modules`: same forms as a string/list target. */
  excludeModules?: string | readonly string[] | null;
  /** PEFT's `layers_to_transform`: a layer index or a list of them. */
  layersToTransform?: number | readonly number[] | null;
  /** PEFT's `layers_pattern`: the name of the layer list (`layers`, `h`). */
  layersPattern?: string | readonly string[] | null;
  /** Module paths never targeted by `all-linear` (the model's output head). */
  outputHeadPaths?: readonly string[];
}

function fullMatch(pattern: string, key: string): boolean {
  let re: RegExp;
  try {
    re = new RegExp(`^(?:${pattern})$`);
  } catch (e) {
    throw new Error(`target_modules: invalid regular expression "${pattern}": ${(e as Error).message}`);
  }
  return re.test(key);
}

function listMatch(list: readonly string[], key: string): boolean {
  return list.includes(key) || list.some((t) => key.endsWith(`.${t}`));
}

/** The layer index of a module path, as PEFT reads it (`….<layers_pattern>.<n>.…`). */
function layerIndexOf(key: string, pattern: string | readonly string[] | null | undefined): number | null {
  const patterns = pattern == null || pattern.length === 0 ? [null] : typeof pattern === 'string' ? [pattern] : pattern;
  for (const p of patterns) {
    const re = p === null ? /^.*\.[^.]*\.(\d+)\./ : new RegExp(`^.*\\.${p}\\.(\\d+)\\.`);
    const m = re.exec(key);
    if (m) return Number(m[1]);
  }
  return null;
}

/** PEFT's `check_target_module_exists` plus `exclude_modules`, for one module path. */
export function matchesTarget(path: string, module: LinearLike, rules: TargetRules): boolean {
  const t = rules.targetModules;
  if (t == null) return false;
  const ex = rules.excludeModules;
  if (ex != null) {
    if (typeof ex === 'string' ? fullMatch(ex, path) : listMatch(ex, path)) return false;
  }
  if (typeof t === 'function') return t(path, module);
  if (t instanceof RegExp) return new RegExp(`^(?:${t.source})$`, t.flags.replace('g', '')).test(path);
  if (typeof t === 'string') return fullMatch(t, path);
  // A list: an exact name matches outright; a suffix match is further filtered by layers_to_transform.
  if (t.includes(path)) return true;
  if (!t.some((name) => path.endsWith(`.${name}`))) return false;
  const layers = rules.layersToTransform;
  const usingLayers = layers != null && (typeof layers === 'number' || layers.length > 0);
  if (!usingLayers) return true;
  const idx = layerIndexOf(path, rules.layersPattern);
  if (idx === null) return false;
  return typeof layers === 'number' ? idx === layers : layers.includes(idx);
}

/** Linear-like modules of a tree with their paths. */
export function linearModules(root: Module): Array<[string, LinearLike]> {
  return root.namedModules().filter((e): e is [string, LinearLike] => e[1] instanceof LinearLike);
}

/**
 * PEFT's `all-linear`: the distinct last names of every linear layer (`Linear`, `Conv1D`) but
 * the output head, in tree order. This is the list PEFT writes back into the saved config.
 */
export function allLinearNames(root: Module, outputHeadPaths: readonly string[] = []): string[] {
  const names = new Set<string>();
  for (const [path, m] of linearModules(root)) {
    if (m.layout === 'embedding' || outputHeadPaths.includes(path)) continue;
    names.add(path.split('.').pop()!);
  }
  return [...names];
}

/**
 * Selects the linear sites matching `rules`. No match is an error naming the targets and the
 * closest module names of the model.
 */
export function selectLinearTargets(
  root: Module,
  rules: TargetRules,
  ctx: { modelType: string; field?: string },
): Array<[string, LinearLike]> {
  let resolved = rules;
  if (rules.targetModules === 'all-linear') {
    resolved = { ...rules, targetModules: allLinearNames(root, rules.outputHeadPaths) };
  }
  const all = linearModules(root).filter(([p]) => p !== '');
  const found = all.filter(([p, m]) => matchesTarget(p, m, resolved));
  if (found.length === 0) {
    const field = ctx.field ?? 'target_modules';
    const t = rules.targetModules;
    const shown = typeof t === 'function' ? '<predicate>' : t instanceof RegExp ? String(t) : JSON.stringify(t);
    const wanted = typeof t === 'string' ? [t] : Array.isArray(t) ? (t as string[]) : [];
    const candidates = [...new Set(all.map(([p]) => p.split('.').pop()!))];
    const closest = closestNames(wanted, candidates, 3);
    throw new Error(
      `${field} ${shown} not found in model (${ctx.modelType}): ` +
        (closest.length ? `closest names: ${closest.join(', ')}` : `linear modules are: ${candidates.slice(0, 12).join(', ')}`),
    );
  }
  return found;
}

/** Up to `k` candidates closest (edit distance) to any wanted name. */
export function closestNames(wanted: readonly string[], candidates: readonly string[], k = 3): string[] {
  if (candidates.length === 0) return [];
  const scored = candidates.map((c) => ({
    c,
    d: wanted.length ? Math.min(...wanted.map((w) => editDistance(w, c))) : 0,
  }));
  scored.sort((a, b) => a.d - b.d || a.c.localeCompare(b.c));
  return scored.slice(0, k).map((s) => s.c);
}

export function editDistance(a: string, b: string): number {
  const dp = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = dp[0];
    dp[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = dp[j];
      dp[j] = Math.min(dp[j] + 1, dp[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return dp[b.length];
}
