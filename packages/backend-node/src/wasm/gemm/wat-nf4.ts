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

/**
 * packBNf4(q, sc, code, sk, sn, bsh, bs, k0, n0, kc, nc, d): decodes B[k0 .. k0+kc, n0 .. n0+nc] into
 * 8-column panels [kc][8] at d (zero-padded), the layout `$packB` writes. Column by column, so the
 * usual orientation (sk = 1) reads each row of W's codes sequentially.
 */
function packBNf4(): string {
  return `
  (func $packBNf4 (param $q i32) (param $sc i32) (param $code i32) (param $sk i32) (param $sn i32) (param $bsh i32) (param $bs i32)
                  (param $k0 i32) (param $n0 i32) (param $kc i32) (param $nc i32) (param $d i32)
    (local $p i32) (local $nv i32) (local $j i32) (local $dj i32) (local $i i32) (local $kk i32)
    (loop $panels
      (local.set $nv (select (i32.const ${NR}) (i32.sub (local.get $nc) (local.get $p)) (i32.ge_s (i32.sub (local.get $nc) (local.get $p)) (i32.const ${NR}))))
      (local.set $j (i32.const 0))
      (loop $cols
        (local.set $dj (i32.add (local.get $d) (i32.shl (local.get $j) (i32.const 2))))
        (local.set $kk (local.get $kc))
        (if (i32.lt_u (local.get $j) (local.get $nv))
          (then
            (local.set $i (i32.add (i32.mul (local.get $k0) (local.get $sk))
              (i32.mul (i32.add (local.get $n0) (i32.add (local.get $p) (local.get $j))) (local.get $sn))))
            (loop $k
              (f32.store (local.get $dj) ${decode('(local.get $i)')})
              (local.set $dj (i32.add (local.get $dj) (i32.const ${4 * NR})))
              (local.set $i (i32.add (local.get $i) (local.get $sk)))
              (br_if $k (local.tee $kk (i32.sub (local.get $kk) (i32.const 1))))))
          (else
            (loop $z
              (f32.store (local.get $dj) (f32.const 0))
              (local.set $dj (i32.add (local.get $dj) (i32.const ${4 * NR})))
              (br_if $z (local.tee $kk (i32.sub (local.get $kk) (i32.const 1)))))))
        (br_if $cols (i32.lt_u (local.tee $j (i32.add (local.get $j) (i32.const 1))) (i32.const ${NR}))))
      (local.set $d (i32.add (local.get $d) (i32.shl (local.get $kc) (i32.const 5))))
      (br_if $panels (i32.lt_s (local.tee $p (i32.add (local.get $p) (i32.const ${NR}))) (local.get $nc)))))`;
}

const min = (a: string, b: string) => `(select ${a} ${b} (i32.lt_s ${a} ${b}))`;

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

/** The 4-bit functions, spliced into the GEMM module by `gemmWat` (they call its `$kernel` and `$packA`). */
export function nf4Functions(): string {
  return `${packBNf4()}
${driverNf4()}`;
}
