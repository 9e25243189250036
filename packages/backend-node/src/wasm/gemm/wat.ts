/**
 * The text of peftjs' f32 GEMM for wasm SIMD: C = A·B (+ C), any strides, so all four transpose
 * variants run without a transposed copy. GotoBLAS structure: B packed in NR-column panels of KC
 * rows (an L1-sized micro-panel, NC columns at a time), A in MR-row panels (MC rows at a time), and
 * an MR×NR register-blocked micro-kernel (MR·NR/4 f32x4 accumulators). Edge tiles go through a
 * scratch tile. `fma` uses relaxed-SIMD `f32x4.relaxed_madd`; otherwise `f32x4.mul` + `f32x4.add`.
 * `shared` imports a shared memory (tfjs' threaded build), else a plain one.
 *
 * Compiled by `scripts/build-gemm.ts` (wabt) into `binary.ts`; `test/gemm-build.test.ts` rebuilds it
 * and compares bytes. No Node API here: the browser's wasm fallback uses the same text and binary.
 */
import { nf4Functions } from './wat-nf4.js';

export interface GemmVariant {
  fma: boolean;
  shared: boolean;
}

/**
 * Micro-tile rows (A panel height); NR is fixed at 8 (two f32x4). 4×8, one k step a loop iteration:
 * V8 (TurboFan, x64) gives wasm 15 allocatable xmm registers and schedules an iteration's loads
 * before its FMAs, so accumulators + loaded values must fit 15 — 8 + 2 + 4 here. The former 6×8
 * tile unrolled twice (12 + 16) spilled on every step: 25 → 46 GFLOP/s for the kernel alone in L1,
 * 33 → 46 for whole products (`bench:gemm`, 1 thread; the peak of a pure FMA loop here is ~49).
 */
export const MR = 4;
export const NR = 8;
/** k block (B micro-panel KC×8 = 8 KB, in L1). */
export const KC = 256;
/** Rows of A packed at a time (MC×KC×4 = 72 KB). */
export const MC = MR * 18;
/** Columns of B packed at a time (KC×NC×4 = 512 KB, in L2). */
export const NC = 512;
/** Bytes of scratch the kernel needs: packed A, packed B, one edge tile. */
export const SCRATCH_BYTES = MC * KC * 4 + NC * KC * 4 + MR * NR * 4;

const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const lanes = (l: number[]) => l.flatMap((x) => [4 * x, 4 * x + 1, 4 * x + 2, 4 * x + 3]).join(' ');

function madd(fma: boolean, a: string, b: string, c: string): string {
  return fma ? `(f32x4.relaxed_madd ${a} ${b} ${c})` : `(f32x4.add ${c} (f32x4.mul ${a} ${b}))`;
}

/** MR×8 micro-kernel over packed panels; writes (or adds to) C, edge tiles through `scratch`. */
function kernel(fma: boolean): string {
  const acc = range(MR).flatMap((r) => [`$c${r}0`, `$c${r}1`]);
  const step = (u: number) =>
    `
      (local.set $b0 (v128.load offset=${32 * u} (local.get $bp)))
      (local.set $b1 (v128.load offset=${32 * u + 16} (local.get $bp)))` +
    range(MR)
      .map(
        (r) => `
        (local.set $a (v128.load32_splat offset=${4 * (r + u * MR)} (local.get $ap)))
        (local.set $c${r}0 ${madd(fma, '(local.get $a)', '(local.get $b0)', `(local.get $c${r}0)`)})
        (local.set $c${r}1 ${madd(fma, '(local.get $a)', '(local.get $b1)', `(local.get $c${r}1)`)})`,
      )
      .join('');
  const fullStore = range(MR)
    .map(
      (r) => `
        (if (local.get $acc)
          (then
            (v128.store (local.get $p) (f32x4.add (v128.load (local.get $p)) (local.get $c${r}0)))
            (v128.store offset=16 (local.get $p) (f32x4.add (v128.load offset=16 (local.get $p)) (local.get $c${r}1))))
          (else
            (v128.store (local.get $p) (local.get $c${r}0))
            (v128.store offset=16 (local.get $p) (local.get $c${r}1))))
        (local.set $p (i32.add (local.get $p) (local.get $ldc)))`,
    )
    .join('');
  const tileStore = range(MR)
    .map(
      (r) => `
        (v128.store offset=${32 * r} (local.get $scratch) (local.get $c${r}0))
        (v128.store offset=${32 * r + 16} (local.get $scratch) (local.get $c${r}1))`,
    )
    .join('');
  return `
  (func $kernel (param $ap i32) (param $bp i32) (param $c i32) (param $ldc i32) (param $kc i32)
                (param $mr i32) (param $nr i32) (param $acc i32) (param $scratch i32)
    (local $a v128) (local $b0 v128) (local $b1 v128) ${acc.map((x) => `(local ${x} v128)`).join(' ')}
    (local $p i32) (local $r i32) (local $j i32) (local $v f32)
    (loop $k ${step(0)}
      (local.set $ap (i32.add (local.get $ap) (i32.const ${4 * MR})))
      (local.set $bp (i32.add (local.get $bp) (i32.const 32)))
      (br_if $k (local.tee $kc (i32.sub (local.get $kc) (i32.const 1)))))
    (local.set $p (local.get $c))
    (if (i32.and (i32.eq (local.get $mr) (i32.const ${MR})) (i32.eq (local.get $nr) (i32.const 8)))
      (then ${fullStore}
        (return)))${tileStore}
    (local.set $r (i32.const 0))
    (loop $rows
      (local.set $j (i32.const 0))
      (loop $cols
        (local.set $v (f32.load (i32.add (local.get $scratch) (i32.shl (i32.add (i32.shl (local.get $r) (i32.const 3)) (local.get $j)) (i32.const 2)))))
        (local.set $p (i32.add (i32.add (local.get $c) (i32.mul (local.get $r) (local.get $ldc))) (i32.shl (local.get $j) (i32.const 2))))
        (if (local.get $acc) (then (local.set $v (f32.add (local.get $v) (f32.load (local.get $p))))))
        (f32.store (local.get $p) (local.get $v))
        (br_if $cols (i32.lt_u (local.tee $j (i32.add (local.get $j) (i32.const 1))) (local.get $nr))))
      (br_if $rows (i32.lt_u (local.tee $r (i32.add (local.get $r) (i32.const 1))) (local.get $mr)))))`;
}

/** Packs B[kc, nc] (strides in bytes) into 8-column panels [kc][8], zero-padded. */
function packB(): string {
  const loads = range(8)
    .map((j) => `(local.set $r${j} (v128.load (i32.add (local.get $s) (i32.mul (i32.const ${j}) (local.get $sbn)))))`)
    .join('\n          ');
  const t = (x: string, y: string, l: number[]) => `(i8x16.shuffle ${lanes(l)} ${x} ${y})`;
  // 4×4 transposes of columns 0–3 and 4–7: out[kk] = [r0[kk], r1[kk], r2[kk], r3[kk]]
  const half = (o: number, off: number) => {
    const [r0, r1, r2, r3] = [0, 1, 2, 3].map((i) => `(local.get $r${i + o})`);
    const t0 = t(r0, r1, [0, 4, 1, 5]);
    const t1 = t(r2, r3, [0, 4, 1, 5]);
    const t2 = t(r0, r1, [2, 6, 3, 7]);
    const t3 = t(r2, r3, [2, 6, 3, 7]);
    return `
          (local.set $t0 ${t0}) (local.set $t1 ${t1}) (local.set $t2 ${t2}) (local.set $t3 ${t3})
          (v128.store offset=${off} (local.get $d) ${t('(local.get $t0)', '(local.get $t1)', [0, 1, 4, 5])})
          (v128.store offset=${off + 32} (local.get $d) ${t('(local.get $t0)', '(local.get $t1)', [2, 3, 6, 7])})
          (v128.store offset=${off + 64} (local.get $d) ${t('(local.get $t2)', '(local.get $t3)', [0, 1, 4, 5])})
          (v128.store offset=${off + 96} (local.get $d) ${t('(local.get $t2)', '(local.get $t3)', [2, 3, 6, 7])})`;
  };
  return `
  (func $packB (param $src i32) (param $sbk i32) (param $sbn i32) (param $kc i32) (param $nc i32) (param $d i32)
    (local $p i32) (local $nv i32) (local $s i32) (local $k i32) (local $j i32)
    ${range(8)
      .map((j) => `(local $r${j} v128)`)
      .join(' ')} (local $t0 v128) (local $t1 v128) (local $t2 v128) (local $t3 v128)
    (loop $panels
      (local.set $nv (select (i32.const 8) (i32.sub (local.get $nc) (local.get $p)) (i32.ge_s (i32.sub (local.get $nc) (local.get $p)) (i32.const 8))))
      (local.set $s (i32.add (local.get $src) (i32.mul (local.get $p) (local.get $sbn))))
      (local.set $k (i32.const 0))
      (if (i32.and (i32.eq (local.get $nv) (i32.const 8)) (i32.eq (local.get $sbn) (i32.const 4)))
        (then
          (loop $rows
            (v128.store (local.get $d) (v128.load (local.get $s)))
            (v128.store offset=16 (local.get $d) (v128.load offset=16 (local.get $s)))
            (local.set $s (i32.add (local.get $s) (local.get $sbk)))
            (local.set $d (i32.add (local.get $d) (i32.const 32)))
            (br_if $rows (i32.lt_u (local.tee $k (i32.add (local.get $k) (i32.const 1))) (local.get $kc))))
          (local.set $k (local.get $kc))))
      (if (i32.and (i32.eq (local.get $nv) (i32.const 8)) (i32.eq (local.get $sbk) (i32.const 4)))
        (then
          (block $done4 (loop $quads
            (br_if $done4 (i32.gt_u (i32.add (local.get $k) (i32.const 4)) (local.get $kc)))
          ${loads}${half(0, 0)}${half(4, 16)}
            (local.set $s (i32.add (local.get $s) (i32.const 16)))
            (local.set $d (i32.add (local.get $d) (i32.const 128)))
            (local.set $k (i32.add (local.get $k) (i32.const 4)))
            (br $quads)))))
      (block $done (loop $rest
        (br_if $done (i32.ge_u (local.get $k) (local.get $kc)))
        (local.set $j (i32.const 0))
        (loop $cols
          (f32.store (i32.add (local.get $d) (i32.shl (local.get $j) (i32.const 2)))
            (if (result f32) (i32.lt_u (local.get $j) (local.get $nv))
              (then (f32.load (i32.add (local.get $s) (i32.mul (local.get $j) (local.get $sbn)))))
              (else (f32.const 0))))
          (br_if $cols (i32.lt_u (local.tee $j (i32.add (local.get $j) (i32.const 1))) (i32.const 8))))
        (local.set $s (i32.add (local.get $s) (local.get $sbk)))
        (local.set $d (i32.add (local.get $d) (i32.const 32)))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $rest)))
      (br_if $panels (i32.lt_s (local.tee $p (i32.add (local.get $p) (i32.const 8))) (local.get $nc)))))`;
}

/** Stores of the 4×4 transpose of `$r0..$r3` (four k steps of four rows) at `d`, `d`+`stride`, … */
function transpose4(stride: number): string {
  const t = (x: string, y: string, l: number[]) => `(i8x16.shuffle ${lanes(l)} ${x} ${y})`;
  const [r0, r1, r2, r3] = [0, 1, 2, 3].map((i) => `(local.get $r${i})`);
  return `
          (local.set $t0 ${t(r0!, r1!, [0, 4, 1, 5])}) (local.set $t1 ${t(r2!, r3!, [0, 4, 1, 5])})
          (local.set $t2 ${t(r0!, r1!, [2, 6, 3, 7])}) (local.set $t3 ${t(r2!, r3!, [2, 6, 3, 7])})
          (v128.store (local.get $d) ${t('(local.get $t0)', '(local.get $t1)', [0, 1, 4, 5])})
          (v128.store offset=${stride} (local.get $d) ${t('(local.get $t0)', '(local.get $t1)', [2, 3, 6, 7])})
          (v128.store offset=${2 * stride} (local.get $d) ${t('(local.get $t2)', '(local.get $t3)', [0, 1, 4, 5])})
          (v128.store offset=${3 * stride} (local.get $d) ${t('(local.get $t2)', '(local.get $t3)', [2, 3, 6, 7])})`;
}

/**
 * Packs A[mc, kc] (strides in bytes) into MR-row panels [kc][MR], zero-padded. Full panels take
 * SIMD paths: rows contiguous in m (Aᵀ read in place, as in a weight gradient) copy one f32x4 a k
 * step; rows contiguous in k (x·W) transpose 4×4 blocks; other strides and the last k steps go
 * element by element.
 */
function packA(): string {
  if (MR !== 4) throw new Error('packA: the SIMD paths assume MR = 4');
  const full = range(MR)
    .map((r) => `(f32.store offset=${4 * r} (local.get $d) (f32.load (i32.add (local.get $s) (local.get $o${r}))))`)
    .join('\n            ');
  const loads = range(MR)
    .map((r) => `(local.set $r${r} (v128.load (i32.add (local.get $s) (local.get $o${r}))))`)
    .join('\n          ');
  return `
  (func $packA (param $src i32) (param $sam i32) (param $sak i32) (param $kc i32) (param $mc i32) (param $d i32)
    (local $p i32) (local $mv i32) (local $s i32) (local $k i32) (local $r i32)
    ${range(MR)
      .map((r) => `(local $o${r} i32)`)
      .join(' ')} (local $r0 v128) (local $r1 v128) (local $r2 v128) (local $r3 v128)
    (local $t0 v128) (local $t1 v128) (local $t2 v128) (local $t3 v128)
    ${range(MR)
      .map((r) => `(local.set $o${r} (i32.mul (local.get $sam) (i32.const ${r})))`)
      .join(' ')}
    (loop $panels
      (local.set $mv (select (i32.const ${MR}) (i32.sub (local.get $mc) (local.get $p)) (i32.ge_s (i32.sub (local.get $mc) (local.get $p)) (i32.const ${MR}))))
      (local.set $s (i32.add (local.get $src) (i32.mul (local.get $p) (local.get $sam))))
      (local.set $k (i32.const 0))
      (if (i32.eq (local.get $mv) (i32.const ${MR}))
        (then
          (if (i32.eq (local.get $sam) (i32.const 4))
            (then
              (loop $rowsM
                (v128.store (local.get $d) (v128.load (local.get $s)))
                (local.set $s (i32.add (local.get $s) (local.get $sak)))
                (local.set $d (i32.add (local.get $d) (i32.const ${4 * MR})))
                (br_if $rowsM (i32.lt_u (local.tee $k (i32.add (local.get $k) (i32.const 1))) (local.get $kc))))))
          (if (i32.eq (local.get $sak) (i32.const 4))
            (then
              (block $done4 (loop $quads
                (br_if $done4 (i32.gt_u (i32.add (local.get $k) (i32.const 4)) (local.get $kc)))
          ${loads}${transpose4(4 * MR)}
                (local.set $s (i32.add (local.get $s) (i32.const 16)))
                (local.set $d (i32.add (local.get $d) (i32.const ${16 * MR})))
                (local.set $k (i32.add (local.get $k) (i32.const 4)))
                (br $quads)))))
          (block $fullDone (loop $full
            (br_if $fullDone (i32.ge_u (local.get $k) (local.get $kc)))
            ${full}
            (local.set $s (i32.add (local.get $s) (local.get $sak)))
            (local.set $d (i32.add (local.get $d) (i32.const ${4 * MR})))
            (local.set $k (i32.add (local.get $k) (i32.const 1)))
            (br $full))))
        (else
          (loop $part
            (local.set $r (i32.const 0))
            (loop $rows
              (f32.store (i32.add (local.get $d) (i32.shl (local.get $r) (i32.const 2)))
                (if (result f32) (i32.lt_u (local.get $r) (local.get $mv))
                  (then (f32.load (i32.add (local.get $s) (i32.mul (local.get $r) (local.get $sam)))))
                  (else (f32.const 0))))
              (br_if $rows (i32.lt_u (local.tee $r (i32.add (local.get $r) (i32.const 1))) (i32.const ${MR}))))
            (local.set $s (i32.add (local.get $s) (local.get $sak)))
            (local.set $d (i32.add (local.get $d) (i32.const ${4 * MR})))
            (br_if $part (i32.lt_u (local.tee $k (i32.add (local.get $k) (i32.const 1))) (local.get $kc))))))
      (br_if $panels (i32.lt_s (local.tee $p (i32.add (local.get $p) (i32.const ${MR}))) (local.get $mc)))))`;
}

const min = (a: string, b: string) => `(select ${a} ${b} (i32.lt_s ${a} ${b}))`;

/**
 * gemm(a, sam, sak, b, sbk, sbn, c, ldc, M, N, K, beta, work): C[M, N] = A·B (beta 0) or C + A·B
 * (beta 1), where A(m, k) = f32 at a + m·sam + k·sak and B(k, n) at b + k·sbk + n·sbn (bytes);
 * C row-major with row stride ldc bytes; `work`: SCRATCH_BYTES of 16-byte-aligned scratch. K ≥ 1.
 */
function driver(): string {
  const pa = '(local.get $work)';
  const pb = `(i32.add (local.get $work) (i32.const ${MC * KC * 4}))`;
  const tile = `(i32.add (local.get $work) (i32.const ${MC * KC * 4 + NC * KC * 4}))`;
  return `
  (func $gemm (export "gemm") (param $a i32) (param $sam i32) (param $sak i32) (param $b i32) (param $sbk i32) (param $sbn i32)
              (param $c i32) (param $ldc i32) (param $M i32) (param $N i32) (param $K i32) (param $beta i32) (param $work i32)
    (local $jc i32) (local $nc i32) (local $pc i32) (local $kc i32) (local $ic i32) (local $mc i32) (local $jr i32) (local $ir i32) (local $acc i32)
    (loop $jcs
      (local.set $nc ${min(`(i32.const ${NC})`, '(i32.sub (local.get $N) (local.get $jc))')})
      (local.set $pc (i32.const 0))
      (loop $pcs
        (local.set $kc ${min(`(i32.const ${KC})`, '(i32.sub (local.get $K) (local.get $pc))')})
        (call $packB (i32.add (local.get $b) (i32.add (i32.mul (local.get $pc) (local.get $sbk)) (i32.mul (local.get $jc) (local.get $sbn))))
          (local.get $sbk) (local.get $sbn) (local.get $kc) (local.get $nc) ${pb})
        (local.set $acc (i32.or (local.get $beta) (i32.ne (local.get $pc) (i32.const 0))))
        (local.set $ic (i32.const 0))
        (loop $ics
          (local.set $mc ${min(`(i32.const ${MC})`, '(i32.sub (local.get $M) (local.get $ic))')})
          (call $packA (i32.add (local.get $a) (i32.add (i32.mul (local.get $ic) (local.get $sam)) (i32.mul (local.get $pc) (local.get $sak))))
            (local.get $sam) (local.get $sak) (local.get $kc) (local.get $mc) ${pa})
          (local.set $jr (i32.const 0))
          (loop $jrs
            (local.set $ir (i32.const 0))
            (loop $irs
              (call $kernel
                (i32.add ${pa} (i32.shl (i32.mul (local.get $ir) (local.get $kc)) (i32.const 2)))
                (i32.add ${pb} (i32.shl (i32.mul (local.get $jr) (local.get $kc)) (i32.const 2)))
                (i32.add (local.get $c) (i32.add (i32.mul (i32.add (local.get $ic) (local.get $ir)) (local.get $ldc)) (i32.shl (i32.add (local.get $jc) (local.get $jr)) (i32.const 2))))
                (local.get $ldc) (local.get $kc)
                ${min(`(i32.const ${MR})`, '(i32.sub (local.get $mc) (local.get $ir))')}
                ${min('(i32.const 8)', '(i32.sub (local.get $nc) (local.get $jr))')}
                (local.get $acc) ${tile})
              (br_if $irs (i32.lt_s (local.tee $ir (i32.add (local.get $ir) (i32.const ${MR}))) (local.get $mc))))
            (br_if $jrs (i32.lt_s (local.tee $jr (i32.add (local.get $jr) (i32.const 8))) (local.get $nc))))
          (br_if $ics (i32.lt_s (local.tee $ic (i32.add (local.get $ic) (i32.const ${MC}))) (local.get $M))))
        (br_if $pcs (i32.lt_s (local.tee $pc (i32.add (local.get $pc) (i32.const ${KC}))) (local.get $K))))
      (br_if $jcs (i32.lt_s (local.tee $jc (i32.add (local.get $jc) (i32.const ${NC}))) (local.get $N)))))`;
}

/**
 * gemvT(a, sam, b, sbn, c, ldc, M, N, K, beta): the same product for a few rows of A when both A's
 * rows and B's columns are contiguous in k (x·Wᵀ with W [N, K] row-major — a linear layer during
 * decoding): dot products 4 columns at a time, no packing (packing B would cost as much as the
 * product itself when M is 1).
 */
function gemvT(fma: boolean): string {
  const cols = range(4);
  const hsum = (v: string) =>
    `(f32.add (f32.add (f32x4.extract_lane 0 ${v}) (f32x4.extract_lane 1 ${v})) (f32.add (f32x4.extract_lane 2 ${v}) (f32x4.extract_lane 3 ${v})))`;
  return `
  (func $gemvT (export "gemvT") (param $a i32) (param $sam i32) (param $b i32) (param $sbn i32) (param $c i32) (param $ldc i32)
               (param $M i32) (param $N i32) (param $K i32) (param $beta i32)
    (local $m i32) (local $n i32) (local $k i32) (local $K4 i32) (local $ar i32) (local $cr i32) (local $av v128) (local $v f32)
    ${cols.map((j) => `(local $acc${j} v128) (local $s${j} f32) (local $p${j} i32)`).join(' ')}
    (local.set $K4 (i32.and (local.get $K) (i32.const -4)))
    (loop $rows
      (local.set $ar (i32.add (local.get $a) (i32.mul (local.get $m) (local.get $sam))))
      (local.set $cr (i32.add (local.get $c) (i32.mul (local.get $m) (local.get $ldc))))
      (local.set $n (i32.const 0))
      (block $colsDone (loop $cols
        (br_if $colsDone (i32.gt_s (i32.add (local.get $n) (i32.const 4)) (local.get $N)))
        ${cols.map((j) => `(local.set $acc${j} (v128.const i32x4 0 0 0 0)) (local.set $s${j} (f32.const 0)) (local.set $p${j} (i32.add (local.get $b) (i32.mul (i32.add (local.get $n) (i32.const ${j})) (local.get $sbn))))`).join('\n        ')}
        (local.set $k (i32.const 0))
        (block $kDone (loop $ks
          (br_if $kDone (i32.ge_s (local.get $k) (local.get $K4)))
          (local.set $av (v128.load (i32.add (local.get $ar) (i32.shl (local.get $k) (i32.const 2)))))
          ${cols.map((j) => `(local.set $acc${j} ${madd(fma, '(local.get $av)', `(v128.load (i32.add (local.get $p${j}) (i32.shl (local.get $k) (i32.const 2))))`, `(local.get $acc${j})`)})`).join('\n          ')}
          (local.set $k (i32.add (local.get $k) (i32.const 4)))
          (br $ks)))
        (block $tDone (loop $tail
          (br_if $tDone (i32.ge_s (local.get $k) (local.get $K)))
          (local.set $v (f32.load (i32.add (local.get $ar) (i32.shl (local.get $k) (i32.const 2)))))
          ${cols.map((j) => `(local.set $s${j} (f32.add (local.get $s${j}) (f32.mul (local.get $v) (f32.load (i32.add (local.get $p${j}) (i32.shl (local.get $k) (i32.const 2)))))))`).join('\n          ')}
          (local.set $k (i32.add (local.get $k) (i32.const 1)))
          (br $tail)))
        ${cols
          .map(
            (j) => `(local.set $v (f32.add ${hsum(`(local.get $acc${j})`)} (local.get $s${j})))
        (if (local.get $beta) (then (local.set $v (f32.add (local.get $v) (f32.load offset=${4 * j} (i32.add (local.get $cr) (i32.shl (local.get $n) (i32.const 2))))))))
        (f32.store offset=${4 * j} (i32.add (local.get $cr) (i32.shl (local.get $n) (i32.const 2))) (local.get $v))`,
          )
          .join('\n        ')}
        (local.set $n (i32.add (local.get $n) (i32.const 4)))
        (br $cols)))
      (block $lastDone (loop $last
        (br_if $lastDone (i32.ge_s (local.get $n) (local.get $N)))
        (local.set $p0 (i32.add (local.get $b) (i32.mul (local.get $n) (local.get $sbn))))
        (local.set $v (f32.const 0))
        (local.set $k (i32.const 0))
        (block $lkDone (loop $lk
          (br_if $lkDone (i32.ge_s (local.get $k) (local.get $K)))
          (local.set $v (f32.add (local.get $v) (f32.mul (f32.load (i32.add (local.get $ar) (i32.shl (local.get $k) (i32.const 2)))) (f32.load (i32.add (local.get $p0) (i32.shl (local.get $k) (i32.const 2)))))))
          (local.set $k (i32.add (local.get $k) (i32.const 1)))
          (br $lk)))
        (if (local.get $beta) (then (local.set $v (f32.add (local.get $v) (f32.load (i32.add (local.get $cr) (i32.shl (local.get $n) (i32.const 2))))))))
        (f32.store (i32.add (local.get $cr) (i32.shl (local.get $n) (i32.const 2))) (local.get $v))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (br $last)))
      (br_if $rows (i32.lt_s (local.tee $m (i32.add (local.get $m) (i32.const 1))) (local.get $M)))))`;
}

/** The module's text for one variant (with the 4-bit functions of wat-nf4.ts, which call `$kernel` and `$packA`). */
export function gemmWat(v: GemmVariant): string {
  const memory = v.shared ? '(memory 1 65536 shared)' : '(memory 1)';
  return `(module
  (import "env" "memory" ${memory})
${kernel(v.fma)}
${packB()}
${packA()}
${driver()}
${gemvT(v.fma)}
${nf4Functions()}
)
`;
}
