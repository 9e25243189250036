import * as tf from '@tensorflow/tfjs-core';
import type { Module } from './nn/module.js';
import type { AdapterRecord } from './method.js';

type ParamTable = Map<string, tf.Variable>;

/**
 * PEFT's `modules_to_save`: a trainable copy of a whole module per adapter (a classifier head,
 * say), the original kept frozen. The model's forward reads its parameters from the module's
 * table on every call, so switching adapters re-points those entries; nothing is wrapped.
 */
export class ModulesToSave {
  /** module path → the original variables (param path → variable). */
  private readonly originals = new Map<string, ParamTable>();
  private readonly users = new Map<string, Set<AdapterRecord>>();

  constructor(private readonly root: Module) {}

  /**
   * Makes the adapter's copies of every module whose path ends with one of `names` (PEFT's rule)
   * or one of `implicit` (names that may be absent, like a task head).
   */
  add(record: AdapterRecord, names: readonly string[], implicit: readonly string[]): void {
    const paths = this.root
      .namedModules()
      .map(([p]) => p)
      .filter((p) => p !== '');
    for (const name of names) {
      if (!paths.some((p) => p.endsWith(name))) {
        throw new Error(`modules_to_save: no module ends with "${name}"`);
      }
    }
    const wanted = [...names, ...implicit];
    for (const path of paths) {
      if (!wanted.some((n) => path.endsWith(n))) continue;
      if ([...this.originals.keys()].some((o) => path.startsWith(`${o}.`))) continue;
      const module = this.root.getModule(path);
      if (!this.originals.has(path)) this.originals.set(path, new Map(module.namedParameters()));
      const copies: ParamTable = new Map();
      for (const [p, v] of this.originals.get(path)!) copies.set(p, tf.variable(v.clone(), true));
      record.savedModules.set(path, copies);
      if (!this.users.has(path)) this.users.set(path, new Set());
      this.users.get(path)!.add(record);
    }
  }

  /** Points each managed module at `record`'s copies (or the originals for null / modules it lacks). */
  activate(record: AdapterRecord | null): void {
    for (const [path, originals] of this.originals) {
      const table = record?.savedModules.get(path) ?? originals;
      this.point(path, table);
    }
  }

  /** Drops an adapter's copies; a module no adapter copies any more gets its originals back. */
  remove(record: AdapterRecord): void {
    for (const [path, copies] of record.savedModules) {
      const users = this.users.get(path);
      users?.delete(record);
      if (users && users.size === 0) {
        this.point(path, this.originals.get(path)!);
        this.originals.delete(path);
        this.users.delete(path);
      }
      for (const v of copies.values()) v.dispose();
    }
    record.savedModules.clear();
  }

  /** Keeps `active`'s copies as the modules' own parameters (unload), disposing the rest. */
  unload(active: AdapterRecord | undefined): void {
    for (const [path, originals] of this.originals) {
      const keep = active?.savedModules.get(path);
      if (keep) {
        this.point(path, keep);
        for (const v of originals.values()) v.dispose();
        active!.savedModules.delete(path);
      } else {
        this.point(path, originals);
      }
      for (const r of this.users.get(path) ?? []) {
        for (const v of r.savedModules.get(path)?.values() ?? []) v.dispose();
        r.savedModules.delete(path);
      }
    }
    this.originals.clear();
    this.users.clear();
  }

  /** Paths of the modules with per-adapter copies. */
  managedPaths(): string[] {
    return [...this.originals.keys()];
  }

  /** The frozen original variables of each managed module. */
  originalTables(): ReadonlyMap<string, ReadonlyMap<string, tf.Variable>> {
    return this.originals;
  }

  restoreAll(): void {
    for (const [path, originals] of this.originals) this.point(path, originals);
  }

  private point(path: string, table: ParamTable): void {
    const module = this.root.getModule(path);
    for (const [p, v] of table) {
      const dot = p.lastIndexOf('.');
      const owner = dot < 0 ? module : module.getModule(p.slice(0, dot));
      owner.shareParameter(dot < 0 ? p : p.slice(dot + 1), v);
    }
  }
}

/** PEFT adds the head of a sequence/token classifier to `modules_to_save` implicitly. */
export function implicitModulesToSave(taskType: unknown): string[] {
  return taskType === 'SEQ_CLS' || taskType === 'TOKEN_CLS' ? ['classifier', 'score'] : [];
}
