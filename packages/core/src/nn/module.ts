import * as tf from '@tensorflow/tfjs-core';

/**
 * A node of the module tree: named child modules and named parameters, addressed by the
 * dotted paths Hugging Face uses (`model.layers.0.self_attn.q_proj.weight`).
 *
 * Parameters are `tf.Variable`s; `trainable` is the variable's own flag, so the optimizer
 * and `tf.variableGrads` see exactly what the tree says.
 */
export class Module {
  private readonly children = new Map<string, Module>();
  private readonly params = new Map<string, tf.Variable>();
  /** Training mode (dropout active). Set for the whole subtree with `train()` / `eval()`. */
  training = false;

  /** Adds (or replaces) a named child module and returns it. */
  registerModule<M extends Module>(name: string, module: M): M {
    assertName(name);
    this.children.set(name, module);
    return module;
  }

  /**
   * Adds (or replaces) a named parameter. Takes ownership of `value`: it is disposed once the
   * variable holds its data (pass a clone to keep yours). A `tf.Variable` is kept as it is, so
   * two modules can share one (tied weights).
   */
  registerParameter(name: string, value: tf.Tensor, trainable = true): tf.Variable {
    assertName(name);
    const old = this.params.get(name);
    let v: tf.Variable;
    if (value instanceof tf.Variable) {
      v = value;
      v.trainable = trainable;
    } else {
      v = tf.variable(value, trainable);
      value.dispose();
    }
    if (old && old !== v) old.dispose();
    this.params.set(name, v);
    return v;
  }

  /** Shares another module's variable under `name` (tied weights); it is not copied. */
  shareParameter(name: string, variable: tf.Variable): tf.Variable {
    assertName(name);
    this.params.set(name, variable);
    return variable;
  }

  /** Removes a child module (it is not disposed: the caller owns it now). */
  deleteModule(name: string): Module | undefined {
    const m = this.children.get(name);
    this.children.delete(name);
    return m;
  }

  /** Removes and disposes a parameter. */
  deleteParameter(name: string): void {
    this.params.get(name)?.dispose();
    this.params.delete(name);
  }

  child(name: string): Module | undefined {
    return this.children.get(name);
  }

  parameter(name: string): tf.Variable | undefined {
    return this.params.get(name);
  }

  /** Direct children, in registration order. */
  namedChildren(): Array<[string, Module]> {
    return [...this.children.entries()];
  }

  /** Every module of the subtree with its dotted path; the root itself comes first as `''`. */
  namedModules(prefix = ''): Array<[string, Module]> {
    const out: Array<[string, Module]> = [[prefix, this]];
    for (const [name, m] of this.children) out.push(...m.namedModules(joinPath(prefix, name)));
    return out;
  }

  /** Every parameter of the subtree with its dotted path. A shared variable is listed once. */
  namedParameters(prefix = ''): Array<[string, tf.Variable]> {
    const seen = new Set<tf.Variable>();
    const out: Array<[string, tf.Variable]> = [];
    for (const [path, m] of this.namedModules(prefix)) {
      for (const [name, v] of m.params) {
        if (seen.has(v)) continue;
        seen.add(v);
        out.push([joinPath(path, name), v]);
      }
    }
    return out;
  }

  /** The parameters directly on this module (not its children). */
  ownParameters(): Array<[string, tf.Variable]> {
    return [...this.params.entries()];
  }

  /** The module at a dotted path below this one; throws naming the path when absent. */
  getModule(path: string): Module {
    if (path === '') return this;
    let m: Module | undefined;
    for (const part of path.split('.')) {
      m = (m ?? this).children.get(part);
      if (!m) throw new Error(`No module at path "${path}" (missing "${part}")`);
    }
    return m!;
  }

  /** Replaces the module at a dotted path; returns the one it replaced. */
  setModule(path: string, module: Module): Module {
    const dot = path.lastIndexOf('.');
    const parent = dot < 0 ? this : this.getModule(path.slice(0, dot));
    const name = dot < 0 ? path : path.slice(dot + 1);
    const old = parent.children.get(name);
    if (!old) throw new Error(`No module at path "${path}"`);
    parent.children.set(name, module);
    return old;
  }

  /** Sets training mode on the whole subtree. */
  train(mode = true): this {
    for (const [, m] of this.namedModules()) m.training = mode;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Sets `trainable` on every parameter of the subtree. */
  requiresGrad(trainable: boolean): this {
    for (const [, v] of this.namedParameters()) v.trainable = trainable;
    return this;
  }

  /** Disposes every parameter of the subtree (a shared one once) and the tensors each module holds besides. */
  dispose(): void {
    for (const [, v] of this.namedParameters()) if (!v.isDisposed) v.dispose();
    for (const [, m] of this.namedModules()) m.disposeBuffers();
  }

  /** Tensors a module keeps outside its parameters (a quantized layer's codes), disposed with the tree. */
  protected disposeBuffers(): void {}
}

export function joinPath(prefix: string, name: string): string {
  return prefix === '' ? name : `${prefix}.${name}`;
}

function assertName(name: string): void {
  if (name === '' || name.includes('.')) {
    throw new Error(`Module and parameter names must be non-empty and contain no ".", got "${name}"`);
  }
}

/** Number of elements of a shape. */
export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Whether two shapes are equal, axis for axis. */
export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
