import * as tf from '@tensorflow/tfjs-core';

/**
 * A small seeded random generator (xoshiro128**), so that initialisation, dropout masks and
 * data shuffling are reproducible and their state can be saved in a checkpoint.
 */
export class Rng {
  private s: Uint32Array;

  constructor(seed = 42) {
    this.s = new Uint32Array(4);
    // splitmix32 to spread the seed over the state
    let x = seed >>> 0;
    for (let i = 0; i < 4; i++) {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      this.s[i] = (z ^ (z >>> 16)) >>> 0;
    }
  }

  /** The generator state, to save and restore. */
  getState(): number[] {
    return [...this.s];
  }

  setState(state: readonly number[]): void {
    if (state.length !== 4) throw new Error(`Rng state must have 4 words, got ${state.length}`);
    this.s = Uint32Array.from(state);
  }

  nextUint32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.nextUint32() / 4294967296;
  }

  /** Standard normal (Box–Muller). */
  normal(): number {
    let u = 0;
    while (u === 0) u = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /**
   * A 31-bit seed for tfjs ops that take one (dropout). Inside `replaySeeds` it is the next seed
   * recorded by `recordSeeds` instead (the generator does not advance), so that a recomputed
   * forward pass draws the same dropout masks.
   */
  seed(): number {
    if (seedTape?.replay) {
      const s = seedTape.seeds[seedTape.next++];
      if (s === undefined) throw new Error(`replaySeeds: the recomputation drew more than the ${seedTape.seeds.length} recorded seed(s)`);
      return s;
    }
    const s = this.nextUint32() >>> 1;
    seedTape?.seeds.push(s);
    return s;
  }

  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [items[i], items[j]] = [items[j], items[i]];
    }
    return items;
  }

  uniformTensor(shape: number[], low: number, high: number): tf.Tensor {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = low + (high - low) * this.next();
    return tf.tensor(data, shape, 'float32');
  }

  normalTensor(shape: number[], mean = 0, std = 1): tf.Tensor {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = mean + std * this.normal();
    return tf.tensor(data, shape, 'float32');
  }

  /** Normal truncated to [mean - 2·std, mean + 2·std] (resampled), as `nn.init.trunc_normal_` with its defaults scaled by std. */
  truncatedNormalTensor(shape: number[], mean = 0, std = 1): tf.Tensor {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      let v: number;
      do v = this.normal();
      while (v < -2 || v > 2);
      data[i] = mean + std * v;
    }
    return tf.tensor(data, shape, 'float32');
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** Seeds drawn (record) or handed out again (replay) by every `Rng.seed()` while a tape is set. */
let seedTape: { seeds: number[]; next: number; replay: boolean } | null = null;

/**
 * Runs `fn` and returns the seeds every generator's `seed()` drew meanwhile, in order: what a
 * recomputation needs to draw the same dropout masks (`replaySeeds`).
 */
export function recordSeeds<T>(fn: () => T): { result: T; seeds: number[] } {
  const outer = seedTape;
  const tape = { seeds: [] as number[], next: 0, replay: false };
  seedTape = tape;
  try {
    const result = fn();
    return { result, seeds: tape.seeds };
  } finally {
    seedTape = outer;
    // an enclosing recording sees the inner draws too
    if (outer && !outer.replay) outer.seeds.push(...tape.seeds);
  }
}

/** Runs `fn` with `seed()` returning `seeds` in order (no generator advances); see `recordSeeds`. */
export function replaySeeds<T>(seeds: readonly number[], fn: () => T): T {
  const outer = seedTape;
  seedTape = { seeds: [...seeds], next: 0, replay: true };
  try {
    return fn();
  } finally {
    seedTape = outer;
  }
}

/** The process-wide generator used when a caller passes none. Reseed it with `setGlobalSeed`. */
let globalRng = new Rng(42);

export function getGlobalRng(): Rng {
  return globalRng;
}

export function setGlobalSeed(seed: number): void {
  globalRng = new Rng(seed);
}

/**
 * Kaiming-uniform as `nn.init.kaiming_uniform_(w, a)` for a `[fanOut, fanIn]` weight:
 * bound = gain·√(3/fanIn), gain = √(2/(1+a²)).
 */
export function kaimingUniform(shape: [number, number], a: number, rng: Rng = globalRng): tf.Tensor {
  const fanIn = shape[1];
  const gain = Math.sqrt(2 / (1 + a * a));
  const bound = gain * Math.sqrt(3 / fanIn);
  return rng.uniformTensor(shape, -bound, bound);
}
