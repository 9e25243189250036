/**
 * The 4-bit (NF4/FP4) half of peftjs' wasm GEMM module: `gemmNf4` is the GotoBLAS driver of wat.ts
 * with its B-packing replaced by a decoder. B is never a float matrix in memory: each KC×NC block of
 * B is decoded from the packed codes straight into the NR-column panels the micro-kernel reads
 * (`code[nibble] · scale[block]`, float32 as bitsandbytes), so the only decoded floats are one packed
 * panel (KC·NC·4 bytes of the scratch). Every element of W is decoded once per call; the A packing and
 * the MR×8 micro-kernel are wat.ts' own (`$packA`, `$kernel`, called by name in the same module).
 *
 * Element (k, n) of B is element i = k·sk + n·sn of the flattened W [out, in] (bitsandbytes' order:
 * blocks of `blockSize` over i, crossing rows): y = x·Wᵀ has B(k, n) = W[n, k] (sk 1, sn in);
 * `transposed` y = x·W has B(k, n) = W[k, n] (sk in, sn 1).
 */
import { KC, MC, MR, NC, NR } from './wat.js';

const min = (a: string, b: string) => `(select ${a} ${b} (i32.lt_s ${a} ${b}))`;

/**
 * Code of element i: byte i >> 1 of the packed stream (little-endian words = the byte stream),
 * element 2j in the high nibble. Scale of element i: scales[i >> bsh] (bsh = log2(blockSize)),
 * or scales[i / bs] when the block size is not a power of two (bsh < 0).
 */
function decode(i: string): string {
  const nibble = `(i32.and (i32.shr_u (i32.load8_u (i32.add (local.get $q) (i32.shr_u ${i} (i32.const 1)))) (i32.shl (i32.and (i32.xor ${i} (i32.const 1)) (i32.const 1)) (i32.const 2))) (i32.const 15))`;
  const block = `(if (result i32) (i32.ge_s (local.get $bsh) (i32.const 0)) (then (i32.shr_u ${i} (local.get $bsh))) (else (i32.div_u ${i} (local.get $bs))))`;
  return `(f32.mul (f32.load (i32.add (local.get $code) (i32.shl ${nibble} (i32.const 2)))) (f32.load (i32.add (local.get $sc) (i32.shl ${block} (i32.const 2)))))`;
}

const interleave = (from: number) => Array.from({ length: 8 }, (_, e) => `${from + e} ${from + e + 16}`).join(' ');
const F32_LO = '0 1 16 17 2 3 18 19 4 5 20 21 6 7 22 23';
const F32_HI = '8 9 24 25 10 11 26 27 12 13 28 29 14 15 30 31';

/** Locals of the SIMD decoder: the code table's 4 byte planes, the nibbles, and the decoded f32x4s. */
const DECODE_LOCALS =
  '(local $P0 v128) (local $P1 v128) (local $P2 v128) (local $P3 v128) (local $v v128) (local $nb v128) ' +
  '(local $s0 v128) (local $s1 v128) (local $s2 v128) (local $s3 v128) (local $u v128) (local $w v128) ' +
  '(local $f0 v128) (local $f1 v128) (local $f2 v128) (local $f3 v128) (local $sv v128) (local $m15 v128)';

/**
 * Byte plane b of the code table (byte b of each of the 16 float32 values) sits at code + 64 + 16·b;
 * $m15 is the nibble mask, set once per call.
 */
const LOAD_PLANES =
  [0, 1, 2, 3].map((b) => `(local.set $P${b} (v128.load offset=${64 + 16 * b} (local.get $code)))`).join(' ') +
  ` (local.set $m15 (v128.const i8x16 ${Array(16).fill(15).join(' ')}))`;

/**
 * The 16 (or the first 8) elements whose codes are the low 8 (4) bytes of $v, as float32 in $f0..$f3
 * (element order): nibbles interleaved high-first (high nibbles by a 16-bit shift, then masked), each of the 4 bytes of a value looked up with one
 * `i8x16.swizzle` in its byte plane, the 4 planes re-interleaved into f32 lanes.
 */
function decodeSimd(count: 8 | 16): string {
  const planes = [0, 1, 2, 3].map((b) => `(local.set $s${b} (i8x16.swizzle (local.get $P${b}) (local.get $nb)))`).join(' ');
  const half = (from: number, f: number) => `
          (local.set $u (i8x16.shuffle ${interleave(from)} (local.get $s0) (local.get $s1)))
          (local.set $w (i8x16.shuffle ${interleave(from)} (local.get $s2) (local.get $s3)))
          (local.set $f${f} (i8x16.shuffle ${F32_LO} (local.get $u) (local.get $w)))
          (local.set $f${f + 1} (i8x16.shuffle ${F32_HI} (local.get $u) (local.get $w)))`;
  return `
          (local.set $nb (i8x16.shuffle ${interleave(0)} (v128.and (i16x8.shr_u (local.get $v) (i32.const 4)) (local.get $m15)) (v128.and (local.get $v) (local.get $m15))))
          ${planes}${half(0, 0)}${count === 16 ? half(8, 2) : ''}`;
}

/** $sv = the scale of element i, splat. */
const scaleOf = (i: string) =>
  `(local.set $sv (f32x4.splat (f32.load (i32.add (local.get $sc) (i32.shl (i32.shr_u ${i} (local.get $bsh)) (i32.const 2))))))`;

/**
 * packBNf4(q, sc, code, sk, sn, bsh, bs, k0, n0, kc, nc, d): decodes B[k0 .. k0+kc, n0 .. n0+nc] into
 * 8-column panels [kc][8] at d (zero-padded), the layout `$packB` writes. Column by column (a column
 * of B is a row of W when sk = 1: 16 codes at a time with SIMD, stored lane by lane down the panel);
 * when sn = 1 (the transposed product) row by row, 8 codes a panel row.
 */
function packBNf4(): string {
  const lanes = Array.from(
    { length: 16 },
    (_, e) => `(v128.store32_lane offset=${32 * e} ${e % 4} (local.get $dj) (local.get $f${e >> 2}))`,
  ).join('\n              ');
  return `
  (func $packBNf4 (param $q i32) (param $sc i32) (param $code i32) (param $sk i32) (param $sn i32) (param $bsh i32) (param $bs i32)
                  (param $k0 i32) (param $n0 i32) (param $kc i32) (param $nc i32) (param $d i32)
    (local $p i32) (local $nv i32) (local $j i32) (local $dj i32) (local $i i32) (local $kk i32) (local $simd i32) ${DECODE_LOCALS}
    ${LOAD_PLANES}
    (if (i32.eq (local.get $sn) (i32.const 1))
      (then (call $packBNf4Rows (local.get $q) (local.get $sc) (local.get $code) (local.get $sk) (local.get $bsh) (local.get $bs)
        (local.get $k0) (local.get $n0) (local.get $kc) (local.get $nc) (local.get $d)) (return)))
    (local.set $simd (i32.and (i32.eq (local.get $sk) (i32.const 1)) (i32.ge_s (local.get $bsh) (i32.const 4))))
    (loop $panels
      (local.set $nv (select (i32.const ${NR}) (i32.sub (local.get $nc) (local.get $p)) (i32.ge_s (i32.sub (local.get $nc) (local.get $p)) (i32.const ${NR}))))
      (local.set $j (i32.const 0))
      (loop $cols
        (local.set $dj (i32.add (local.get $d) (i32.shl (local.get $j) (i32.const 2))))
        (local.set $kk (i32.const 0))
        (if (i32.lt_u (local.get $j) (local.get $nv))
          (then
            (local.set $i (i32.add (i32.mul (local.get $k0) (local.get $sk))
              (i32.mul (i32.add (local.get $n0) (i32.add (local.get $p) (local.get $j))) (local.get $sn))))
            (loop $k
              (if (i32.and (i32.and (local.get $simd) (i32.eqz (i32.and (local.get $i) (i32.const 15))))
                           (i32.le_s (i32.add (local.get $kk) (i32.const 16)) (local.get $kc)))
                (then
                  (local.set $v (v128.load64_zero (i32.add (local.get $q) (i32.shr_u (local.get $i) (i32.const 1)))))
                  ${decodeSimd(16)}
              ${scaleOf('(local.get $i)')}
              ${[0, 1, 2, 3].map((f) => `(local.set $f${f} (f32x4.mul (local.get $f${f}) (local.get $sv)))`).join(' ')}
              ${lanes}
                  (local.set $dj (i32.add (local.get $dj) (i32.const ${16 * 4 * NR})))
                  (local.set $i (i32.add (local.get $i) (i32.const 16)))
                  (local.set $kk (i32.add (local.get $kk) (i32.const 16))))
                (else
                  (f32.store (local.get $dj) ${decode('(local.get $i)')})
                  (local.set $dj (i32.add (local.get $dj) (i32.const ${4 * NR})))
                  (local.set $i (i32.add (local.get $i) (local.get $sk)))
                  (local.set $kk (i32.add (local.get $kk) (i32.const 1)))))
              (br_if $k (i32.lt_s (local.get $kk) (local.get $kc)))))
          (else
            (loop $z
              (f32.store (local.get $dj) (f32.const 0))
              (local.set $dj (i32.add (local.get $dj) (i32.const ${4 * NR})))
              (br_if $z (i32.lt_s (local.tee $kk (i32.add (local.get $kk) (i32.const 1))) (local.get $kc))))))
        (br_if $cols (i32.lt_u (local.tee $j (i32.add (local.get $j) (i32.const 1))) (i32.const ${NR}))))
      (local.set $d (i32.add (local.get $d) (i32.shl (local.get $kc) (i32.const 5))))
      (br_if $panels (i32.lt_s (local.tee $p (i32.add (local.get $p) (i32.const ${NR}))) (local.get $nc)))))`;
}

/** packBNf4 when sn = 1: panel row kk holds 8 consecutive elements of W's row k0 + kk (one int32 word of codes). */
function packBNf4Rows(): string {
  return `
  (func $packBNf4Rows (param $q i32) (param $sc i32) (param $code i32) (param $sk i32) (param $bsh i32) (param $bs i32)
                      (param $k0 i32) (param $n0 i32) (param $kc i32) (param $nc i32) (param $d i32)
    (local $p i32) (local $nv i32) (local $j i32) (local $i i32) (local $kk i32) (local $simd i32) ${DECODE_LOCALS}
    ${LOAD_PLANES}
    (loop $panels
      (local.set $nv (select (i32.const ${NR}) (i32.sub (local.get $nc) (local.get $p)) (i32.ge_s (i32.sub (local.get $nc) (local.get $p)) (i32.const ${NR}))))
      (local.set $simd (i32.and (i32.eq (local.get $nv) (i32.const ${NR})) (i32.ge_s (local.get $bsh) (i32.const 3))))
      (local.set $kk (i32.const 0))
      (loop $rows
        (local.set $i (i32.add (i32.mul (i32.add (local.get $k0) (local.get $kk)) (local.get $sk)) (i32.add (local.get $n0) (local.get $p))))
        (if (i32.and (local.get $simd) (i32.eqz (i32.and (local.get $i) (i32.const 7))))
          (then
            (local.set $v (v128.load32_zero (i32.add (local.get $q) (i32.shr_u (local.get $i) (i32.const 1)))))
            ${decodeSimd(8)}
            ${scaleOf('(local.get $i)')}
            (v128.store (local.get $d) (f32x4.mul (local.get $f0) (local.get $sv)))
            (v128.store offset=16 (local.get $d) (f32x4.mul (local.get $f1) (local.get $sv))))
          (else
            (local.set $j (i32.const 0))
            (loop $cols
              (f32.store (i32.add (local.get $d) (i32.shl (local.get $j) (i32.const 2)))
                (if (result f32) (i32.lt_u (local.get $j) (local.get $nv))
                  (then ${decode('(i32.add (local.get $i) (local.get $j))')})
                  (else (f32.const 0))))
              (br_if $cols (i32.lt_u (local.tee $j (i32.add (local.get $j) (i32.const 1))) (i32.const ${NR}))))))
        (local.set $d (i32.add (local.get $d) (i32.const ${4 * NR})))
        (br_if $rows (i32.lt_s (local.tee $kk (i32.add (local.get $kk) (i32.const 1))) (local.get $kc))))
      (br_if $panels (i32.lt_s (local.tee $p (i32.add (local.get $p) (i32.const ${NR}))) (local.get $nc)))))`;
}

/**
 * gemvNf4(a, sam, q, sc, code, c, ldc, M, N, K, bsh): y = x·Wᵀ for M = 1 or 2 rows of x (decoding)
 * without packing: each row of W decoded 16 codes at a time (SIMD) into the dot products, the block
 * scale applied once per block segment. Needs K and the block size multiples of 16 (bsh ≥ 4) and x's
 * rows contiguous; W [N, K]: element i = n·K + k.
 */
function gemvNf4(): string {
  const dot = (row: number, base: string) =>
    [0, 1, 2, 3]
      .map(
        (f) =>
          `(local.set $acc${row} (f32x4.add (local.get $acc${row}) (f32x4.mul (local.get $f${f}) (v128.load offset=${16 * f} ${base}))))`,
      )
      .join('\n          ');
  const hsum = (v: string) =>
    `(f32.add (f32.add (f32x4.extract_lane 0 ${v}) (f32x4.extract_lane 1 ${v})) (f32.add (f32x4.extract_lane 2 ${v}) (f32x4.extract_lane 3 ${v})))`;
  return `
  (func $gemvNf4 (export "gemvNf4") (param $a i32) (param $sam i32) (param $q i32) (param $sc i32) (param $code i32)
                 (param $c i32) (param $ldc i32) (param $M i32) (param $N i32) (param $K i32) (param $bsh i32)
    (local $n i32) (local $i i32) (local $end i32) (local $seg i32) (local $xk i32)
    (local $acc0 v128) (local $acc1 v128) (local $t0 v128) (local $t1 v128) ${DECODE_LOCALS}
    ${LOAD_PLANES}
    (loop $rows
      (local.set $end (i32.add (local.get $i) (local.get $K)))
      (local.set $t0 (v128.const i32x4 0 0 0 0))
      (local.set $t1 (v128.const i32x4 0 0 0 0))
      (local.set $xk (local.get $a))
      (loop $segs
        (local.set $seg (i32.shl (i32.add (i32.shr_u (local.get $i) (local.get $bsh)) (i32.const 1)) (local.get $bsh)))
        (local.set $seg ${min('(local.get $seg)', '(local.get $end)').replace('i32.lt_s', 'i32.lt_u')})
        ${scaleOf('(local.get $i)')}
        (local.set $acc0 (v128.const i32x4 0 0 0 0))
        (local.set $acc1 (v128.const i32x4 0 0 0 0))
        (loop $ks
          (local.set $v (v128.load64_zero (i32.add (local.get $q) (i32.shr_u (local.get $i) (i32.const 1)))))
          ${decodeSimd(16)}
          ${dot(0, '(local.get $xk)')}
          (if (i32.eq (local.get $M) (i32.const 2)) (then
          ${dot(1, '(i32.add (local.get $xk) (local.get $sam))')}))
          (local.set $xk (i32.add (local.get $xk) (i32.const 64)))
          (br_if $ks (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 16))) (local.get $seg))))
        (local.set $t0 (f32x4.add (local.get $t0) (f32x4.mul (local.get $acc0) (local.get $sv))))
        (local.set $t1 (f32x4.add (local.get $t1) (f32x4.mul (local.get $acc1) (local.get $sv))))
        (br_if $segs (i32.lt_u (local.get $i) (local.get $end))))
      (f32.store (i32.add (local.get $c) (i32.shl (local.get $n) (i32.const 2))) ${hsum('(local.get $t0)')})
      (if (i32.eq (local.get $M) (i32.const 2)) (then
        (f32.store (i32.add (i32.add (local.get $c) (local.get $ldc)) (i32.shl (local.get $n) (i32.const 2))) ${hsum('(local.get $t1)')})))
      (br_if $rows (i32.lt_s (local.tee $n (i32.add (local.get $n) (i32.const 1))) (local.get $N)))))`;
}

/**
 * gemmNf4(a, sam, sak, q, sc, code, sk, sn, bsh, bs, c, ldc, M, N, K, work): C[M, N] = A·B with A as
 * in `gemm` (byte strides) and B the 4-bit W above: q the packed codes, sc the float32 block scales,
 * code the 16 float32 code values (all byte addresses). C row-major, row stride ldc bytes; `work` as
 * `gemm`'s. K ≥ 1.
 */
function driverNf4(): string {
  const pa = '(local.get $work)';
  const pb = `(i32.add (local.get $work) (i32.const ${MC * KC * 4}))`;
  const tile = `(i32.add (local.get $work) (i32.const ${MC * KC * 4 + NC * KC * 4}))`;
  return `
  (func $gemmNf4 (export "gemmNf4") (param $a i32) (param $sam i32) (param $sak i32)
              (param $q i32) (param $sc i32) (param $code i32) (param $sk i32) (param $sn i32) (param $bsh i32) (param $bs i32)
              (param $c i32) (param $ldc i32) (param $M i32) (param $N i32) (param $K i32) (param $work i32)
    (local $jc i32) (local $nc i32) (local $pc i32) (local $kc i32) (local $ic i32) (local $mc i32) (local $jr i32) (local $ir i32)
    (loop $jcs
      (local.set $nc ${min(`(i32.const ${NC})`, '(i32.sub (local.get $N) (local.get $jc))')})
      (local.set $pc (i32.const 0))
      (loop $pcs
        (local.set $kc ${min(`(i32.const ${KC})`, '(i32.sub (local.get $K) (local.get $pc))')})
        (call $packBNf4 (local.get $q) (local.get $sc) (local.get $code) (local.get $sk) (local.get $sn) (local.get $bsh) (local.get $bs)
          (local.get $pc) (local.get $jc) (local.get $kc) (local.get $nc) ${pb})
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
                ${min(`(i32.const ${NR})`, '(i32.sub (local.get $nc) (local.get $jr))')}
                (i32.ne (local.get $pc) (i32.const 0)) ${tile})
              (br_if $irs (i32.lt_s (local.tee $ir (i32.add (local.get $ir) (i32.const ${MR}))) (local.get $mc))))
            (br_if $jrs (i32.lt_s (local.tee $jr (i32.add (local.get $jr) (i32.const ${NR}))) (local.get $nc))))
          (br_if $ics (i32.lt_s (local.tee $ic (i32.add (local.get $ic) (i32.const ${MC}))) (local.get $M))))
        (br_if $pcs (i32.lt_s (local.tee $pc (i32.add (local.get $pc) (i32.const ${KC}))) (local.get $K))))
      (br_if $jcs (i32.lt_s (local.tee $jc (i32.add (local.get $jc) (i32.const ${NC}))) (local.get $N)))))`;
}

/**
 * scalesNf4(codes, nestedCode, nestedAbsmax, nbs, offset, dst, n): the double-quantized block scales,
 * dst[b] = nestedCode[codes[b]] · nestedAbsmax[b / nbs] + offset (float32, bitsandbytes' order), b < n.
 */
function scalesNf4(): string {
  return `
  (func $scalesNf4 (export "scalesNf4") (param $codes i32) (param $ncode i32) (param $nabs i32) (param $nbs i32) (param $offset f32)
                   (param $dst i32) (param $n i32)
    (local $b i32) (local $j i32) (local $na f32)
    (if (i32.eqz (local.get $n)) (then (return)))
    (loop $blocks
      (if (i32.eqz (local.get $j))
        (then
          (local.set $na (f32.load (local.get $nabs)))
          (local.set $nabs (i32.add (local.get $nabs) (i32.const 4)))))
      (f32.store (i32.add (local.get $dst) (i32.shl (local.get $b) (i32.const 2)))
        (f32.add (f32.mul (f32.load (i32.add (local.get $ncode) (i32.shl (i32.load8_u (i32.add (local.get $codes) (local.get $b))) (i32.const 2))))
          (local.get $na)) (local.get $offset)))
      (if (i32.eq (local.tee $j (i32.add (local.get $j) (i32.const 1))) (local.get $nbs)) (then (local.set $j (i32.const 0))))
      (br_if $blocks (i32.lt_u (local.tee $b (i32.add (local.get $b) (i32.const 1))) (local.get $n)))))`;
}

/** The 4-bit functions, spliced into the GEMM module by `gemmWat` (they call its `$kernel` and `$packA`). */
export function nf4Functions(): string {
  return `${packBNf4()}
${packBNf4Rows()}
${driverNf4()}
${gemvNf4()}
${scalesNf4()}`;
}
