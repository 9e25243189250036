/**
 * The text of peftjs' elementwise wasm SIMD module: SwiGLU's forward and gradients, 4 floats a
 * step, with an f32x4 eˣ (Cephes' `expf`: eˣ = 2ᵏ·p(r), k = round(x·log₂e), r = x − k·ln 2 in two
 * parts, a degree-7 polynomial; ~1e-7 relative). Each function takes byte addresses and a byte
 * count that is a multiple of 16 (the caller does the last < 4 elements). `shared` imports a
 * shared memory (tfjs' threaded build), else a plain one.
 *
 * Compiled by `scripts/build-elementwise.ts` (wabt) into `binary.ts`; `test/elementwise.test.ts`
 * rebuilds it and compares bytes. No Node API: the browser's wasm fallback uses the same binary.
 */
export interface ElementwiseVariant {
  shared: boolean;
}

/** An f32x4 constant with four equal lanes. */
const splat = (v: number) => `(v128.const f32x4 ${v} ${v} ${v} ${v})`;

/** exp's constants, each an f32x4 local set once before a function's loops (`expConstants`): V8
 * rebuilds a `v128.const` at every use (three instructions), a local stays in a register or one load. */
const EXP_CONSTS: Record<string, number> = {
  lo: -87.3,
  hi: 88.3,
  log2e: 1.4426950408889634,
  magic: 12582912, // 1.5·2²³: x + magic rounds x to an integer held in the low mantissa bits
  ln2hi: 0.693359375,
  ln2lo: -2.1219444e-4,
  p0: 1.98756915e-4,
  p1: 1.3981999507e-3,
  p2: 8.3334519073e-3,
  p3: 4.1665795894e-2,
  p4: 1.6666665459e-1,
  p5: 5.0000001201e-1,
  one: 1,
};
const cst = (name: string) => `(local.get $x_${name})`;
const expConstants = () =>
  Object.entries(EXP_CONSTS)
    .map(([n, v]) => `\n    (local.set $x_${n} ${splat(v)})`)
    .join('');

/**
 * Statements that set `$e` to exp(`$t`) lane by lane (`$t` is clobbered; `$k`, `$m` are scratch);
 * below −87.3 (float32's smallest normal) the result is exactly 0, as a masked attention score needs.
 * k = round(t·log₂e) by adding 1.5·2²³ (ties to even, as `nearest`), whose low bits then give 2ᵏ's
 * exponent field without a float-to-int conversion; clamps with `pmin`/`pmax` (one instruction each,
 * where `min`/`max` carry NaN rules that cost six; a NaN lane is masked to 0 by `$m` either way).
 */
function expInto(): string {
  let p = cst('p0');
  for (const c of ['p1', 'p2', 'p3', 'p4', 'p5']) p = `(f32x4.add (f32x4.mul ${p} (local.get $t)) ${cst(c)})`;
  return `
      (local.set $m (f32x4.ge (local.get $t) ${cst('lo')}))
      (local.set $t (f32x4.pmin ${cst('hi')} (f32x4.pmax ${cst('lo')} (local.get $t))))
      (local.set $k (f32x4.add (f32x4.mul (local.get $t) ${cst('log2e')}) ${cst('magic')}))
      (local.set $e (f32x4.sub (local.get $k) ${cst('magic')}))
      (local.set $t (f32x4.sub (f32x4.sub (local.get $t) (f32x4.mul (local.get $e) ${cst('ln2hi')}))
        (f32x4.mul (local.get $e) ${cst('ln2lo')})))
      (local.set $k (i32x4.shl (i32x4.add (local.get $k) (v128.const i32x4 127 127 127 127)) (i32.const 23)))
      (local.set $e (f32x4.add (f32x4.add
        (f32x4.mul ${p} (f32x4.mul (local.get $t) (local.get $t))) (local.get $t)) ${cst('one')}))
      (local.set $e (v128.and (f32x4.mul (local.get $e) (local.get $k)) (local.get $m)))`;
}

/** Statements that set `$s` to σ(`$g`) = 1/(1 + e^(−g)). */
function sigmoidInto(): string {
  return `
      (local.set $t (f32x4.neg (local.get $g)))${expInto()}
      (local.set $s (f32x4.div ${cst('one')} (f32x4.add ${cst('one')} (local.get $e))))`;
}

const LOCALS =
  '(local $g v128) (local $s v128) (local $t v128) (local $k v128) (local $e v128) (local $m v128) ' +
  Object.keys(EXP_CONSTS)
    .map((n) => `(local $x_${n} v128)`)
    .join(' ');

/** `(loop)` over `$bytes` bytes, 16 at a time, from `$i` = 0. */
const loop = (body: string) => `
    (local.set $i (i32.const 0))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $bytes)))${body}
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $next)))`;

/** f32 of the four lanes of `v` combined by `op` (f32.max, f32.add). */
const across = (op: string, v: string) =>
  `(${op} (${op} (f32x4.extract_lane 0 ${v}) (f32x4.extract_lane 1 ${v})) (${op} (f32x4.extract_lane 2 ${v}) (f32x4.extract_lane 3 ${v})))`;

/**
 * softmax(x + b) over one row of `$bytes`/4 values (y may be x): the row's max, then
 * e = exp(x + b − max) and their sum, then e/sum. Sums in f32 lanes, as tfjs' own softmax.
 */
function softmaxRow(): string {
  return `
  (func (export "softmax_row") (param $x i32) (param $b i32) (param $y i32) (param $bytes i32)
    (local $i i32) ${LOCALS} (local $acc v128)${expConstants()}
    (local.set $acc (v128.const f32x4 -inf -inf -inf -inf))${loop(`
        (local.set $g (f32x4.add ${at('x')} ${at('b')}))${store('y', '(local.get $g)')}
        (local.set $acc (f32x4.max (local.get $acc) (local.get $g)))`)}
    (local.set $s (f32x4.splat ${across('f32.max', '(local.get $acc)')}))
    (local.set $acc (v128.const f32x4 0 0 0 0))${loop(`
        (local.set $t (f32x4.sub ${at('y')} (local.get $s)))${expInto()}${store('y', '(local.get $e)')}
        (local.set $acc (f32x4.add (local.get $acc) (local.get $e)))`)}
    (local.set $s (f32x4.splat (f32.div (f32.const 1) ${across('f32.add', '(local.get $acc)')})))${loop(
      store('y', `(f32x4.mul ${at('y')} (local.get $s))`),
    )})`;
}

/** The softmax gradient of one row: out = p·(dy − Σ dy·p), the sum in f32 lanes (as tfjs' own sum). */
function softmaxGradRow(): string {
  return `
  (func (export "softmax_grad_row") (param $dy i32) (param $p i32) (param $out i32) (param $bytes i32)
    (local $i i32) (local $acc v128) (local $s v128)
    (local.set $acc (v128.const f32x4 0 0 0 0))${loop(`
        (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul ${at('dy')} ${at('p')})))`)}
    (local.set $s (f32x4.splat ${across('f32.add', '(local.get $acc)')}))${loop(
      store('out', `(f32x4.mul ${at('p')} (f32x4.sub ${at('dy')} (local.get $s)))`),
    )})`;
}

/**
 * A row's log-sum-exp in parts, for cross-entropy: `max_row` (m), `exp_sum_row` (Σ exp(x − m), f32
 * lanes; ≥ 1 when m is the row's max, so its log never overflows), and `exp_row`, y = scale·exp(x − m)
 * (the gradient's softmax with its scale folded in: scale/Σ).
 */
function lseRows(): string {
  return `
  (func (export "max_row") (param $x i32) (param $bytes i32) (result f32)
    (local $i i32) (local $acc v128)
    (local.set $acc (v128.const f32x4 -inf -inf -inf -inf))${loop(`
        (local.set $acc (f32x4.max (local.get $acc) ${at('x')}))`)}
    ${across('f32.max', '(local.get $acc)')})
  (func (export "exp_sum_row") (param $x i32) (param $bytes i32) (param $shift f32) (result f32)
    (local $i i32) ${LOCALS} (local $acc v128)${expConstants()}
    (local.set $s (f32x4.splat (local.get $shift)))
    (local.set $acc (v128.const f32x4 0 0 0 0))${loop(`
        (local.set $t (f32x4.sub ${at('x')} (local.get $s)))${expInto()}
        (local.set $acc (f32x4.add (local.get $acc) (local.get $e)))`)}
    ${across('f32.add', '(local.get $acc)')})
  (func (export "exp_row") (param $x i32) (param $y i32) (param $bytes i32) (param $shift f32) (param $scale f32)
    (local $i i32) ${LOCALS}${expConstants()}
    (local.set $s (f32x4.splat (local.get $shift)))
    (local.set $g (f32x4.splat (local.get $scale)))${loop(`
        (local.set $t (f32x4.sub ${at('x')} (local.get $s)))${expInto()}${store('y', '(f32x4.mul (local.get $e) (local.get $g))')}`)})`;
}

/**
 * AdamW's passes (core's `PeftEma`, `PeftAdamUpdate`), each operation an IEEE f32 lane op in the
 * order of the tfjs fallback, so the results equal it bit for bit: `ema` x·a + g·b, `ema_sq`
 * x·a + (g·g)·b, `adam_update` p·keep − (m / (√v / bc2 + eps))·step.
 */
function adamRows(): string {
  const f32s = (names: string[]) => names.map((n) => `(param $${n} f32)`).join(' ');
  const sp = (n: string) => `(f32x4.splat (local.get $${n}))`;
  const ema = (name: string, g: string) => `
  (func (export "${name}") (param $x i32) (param $g i32) (param $out i32) (param $bytes i32) ${f32s(['a', 'b'])}
    (local $i i32) (local $va v128) (local $vb v128)
    (local.set $va ${sp('a')}) (local.set $vb ${sp('b')})${loop(
      store('out', `(f32x4.add (f32x4.mul ${at('x')} (local.get $va)) (f32x4.mul ${g} (local.get $vb)))`),
    )})`;
  return `${ema('ema', at('g'))}${ema('ema_sq', `(f32x4.mul ${at('g')} ${at('g')})`)}
  (func (export "adam_update") (param $p i32) (param $m i32) (param $v i32) (param $out i32) (param $bytes i32)
                               ${f32s(['keep', 'bc2', 'eps', 'step'])}
    (local $i i32) (local $vk v128) (local $vb v128) (local $ve v128) (local $vs v128)
    (local.set $vk ${sp('keep')}) (local.set $vb ${sp('bc2')}) (local.set $ve ${sp('eps')}) (local.set $vs ${sp('step')})${loop(
      store(
        'out',
        `(f32x4.sub (f32x4.mul ${at('p')} (local.get $vk))
          (f32x4.mul (f32x4.div ${at('m')} (f32x4.add (f32x4.div (f32x4.sqrt ${at('v')}) (local.get $vb)) (local.get $ve))) (local.get $vs)))`,
      ),
    )})`;
}

/** Sets `$r` to 1/√(Σ x²/D + eps) over the row at `$x` (`$bytes` = 4·D). */
const rowScale = () => `
    (local.set $acc (v128.const f32x4 0 0 0 0))${loop(`
        (local.set $g ${at('x')})
        (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (local.get $g) (local.get $g))))`)}
    (local.set $r (f32.div (f32.const 1) (f32.sqrt (f32.add
      (f32.div ${across('f32.add', '(local.get $acc)')} (f32.convert_i32_u (i32.shr_u (local.get $bytes) (i32.const 2))))
      (local.get $eps)))))`;

/** RMSNorm of one row: y = x·r·w; and its x-gradient: dx = r·(dy·w − x·r²·Σ(dy·w·x)/D). */
function rmsNormRow(): string {
  const head = (name: string, ptrs: string[]) => `
  (func (export "${name}") ${ptrs.map((p) => `(param $${p} i32)`).join(' ')} (param $bytes i32) (param $eps f32)
    (local $i i32) ${LOCALS} (local $acc v128) (local $r f32)${rowScale()}`;
  const forward = `${head('rms_norm_row', ['x', 'w', 'y'])}
    (local.set $s (f32x4.splat (local.get $r)))${loop(store('y', `(f32x4.mul (f32x4.mul ${at('x')} (local.get $s)) ${at('w')})`))})`;
  const dx = `${head('rms_norm_dx_row', ['dy', 'x', 'w', 'out'])}
    (local.set $acc (v128.const f32x4 0 0 0 0))${loop(`
        (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (f32x4.mul ${at('dy')} ${at('w')}) ${at('x')})))`)}
    (local.set $t (f32x4.splat (f32.div (f32.mul (f32.mul (local.get $r) (local.get $r)) ${across('f32.add', '(local.get $acc)')})
      (f32.convert_i32_u (i32.shr_u (local.get $bytes) (i32.const 2))))))
    (local.set $s (f32x4.splat (local.get $r)))${loop(
      store('out', `(f32x4.mul (local.get $s) (f32x4.sub (f32x4.mul ${at('dy')} ${at('w')}) (f32x4.mul ${at('x')} (local.get $t))))`),
    )})`;
  return forward + dx;
}

/**
 * RoPE of one row of 2·(`$bytes`/4) values, halves x1 = x[0..h), x2 = x[h..2h):
 * y1 = x1·c1 − sign·x2·sa,  y2 = x2·c2 + sign·x1·sb (forward: sa = s1, sb = s2, sign 1;
 * transposed: sa = s2, sb = s1, sign −1).
 */
function rotaryRow(): string {
  const hi = (p: string) => `(v128.load (i32.add (i32.add (local.get $${p}) (local.get $bytes)) (local.get $i)))`;
  return `
  (func (export "rotary_row") (param $x i32) (param $c i32) (param $sa i32) (param $sb i32) (param $y i32) (param $bytes i32) (param $sign f32)
    (local $i i32) ${LOCALS}
    (local.set $s (f32x4.splat (local.get $sign)))${loop(`
        (local.set $g ${at('x')})
        (local.set $t ${hi('x')})${store('y', `(f32x4.sub (f32x4.mul (local.get $g) ${at('c')}) (f32x4.mul (f32x4.mul (local.get $s) (local.get $t)) ${at('sa')}))`)}
      (v128.store (i32.add (i32.add (local.get $y) (local.get $bytes)) (local.get $i))
        (f32x4.add (f32x4.mul (local.get $t) ${hi('c')}) (f32x4.mul (f32x4.mul (local.get $s) (local.get $g)) ${hi('sb')})))`)})`;
}

/** A loop over `$bytes` bytes, 16 at a time; `$i` is the byte offset; `ptrs` name the pointer params. */
function elementwise(name: string, ptrs: string[], body: string): string {
  const params = ptrs.map((p) => `(param $${p} i32)`).join(' ');
  return `
  (func (export "${name}") ${params} (param $bytes i32)
    (local $i i32) ${LOCALS}${expConstants()}
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $bytes)))${body}
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $next))))`;
}

const at = (p: string) => `(v128.load (i32.add (local.get $${p}) (local.get $i)))`;
const store = (p: string, v: string) => `
      (v128.store (i32.add (local.get $${p}) (local.get $i)) ${v})`;

export function elementwiseWat(v: ElementwiseVariant): string {
  const memory = v.shared ? '(memory 1 65536 shared)' : '(memory 1)';
  const gate = `
      (local.set $g ${at('gate')})${sigmoidInto()}`;
  // y = g·σ(g)·u
  const swiglu = elementwise(
    'swiglu',
    ['gate', 'up', 'out'],
    gate + store('out', `(f32x4.mul (f32x4.mul (local.get $g) (local.get $s)) ${at('up')})`),
  );
  // d/dg = dy·u·σ(g)·(1 + g·(1 − σ(g)))
  const dGate = elementwise(
    'swiglu_dgate',
    ['dy', 'gate', 'up', 'out'],
    gate +
      store(
        'out',
        `(f32x4.mul (f32x4.mul (f32x4.mul ${at('dy')} ${at('up')}) (local.get $s))
        (f32x4.add ${cst('one')} (f32x4.mul (local.get $g) (f32x4.sub ${cst('one')} (local.get $s)))))`,
      ),
  );
  // d/du = dy·g·σ(g)
  const dUp = elementwise(
    'swiglu_dup',
    ['dy', 'gate', 'out'],
    gate + store('out', `(f32x4.mul ${at('dy')} (f32x4.mul (local.get $g) (local.get $s)))`),
  );
  return `(module
  (import "env" "memory" ${memory})${swiglu}${dGate}${dUp}${softmaxRow()}${softmaxGradRow()}${lseRows()}${adamRows()}${rmsNormRow()}${rotaryRow()})
`;
}
