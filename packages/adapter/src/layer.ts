import * as tf from '@tensorflow/tfjs-core';
import { Module, dropout, kaimingUniform, type HookContext, type Rng, type SublayerOutputHook } from '@peftjs/core';
import type { BottleneckConfig } from './config.js';
import { bottleneck, layerNorm, nonLinearity } from './math.js';

export interface BottleneckAdapterOptions {
  hidden: number;
  /** The bottleneck size m. */
  size: number;
  config: BottleneckConfig;
  rng: Rng;
  /**
   * The sublayer's own LayerNorm when the model applies one after the residual add (BERT's
   * `…output.LayerNorm`, post-LN); absent for pre-LN models (LLaMA, GPT-2), as AdapterHub passes none there.
   */
  originalLayerNorm?: (x: tf.Tensor) => tf.Tensor;
}

/**
 * One bottleneck adapter at one `sublayerOutput` site, computing what AdapterHub's `Adapter` /
 * `ParallelAdapter` (`pre_forward`, `forward`, `post_forward`) compute, expressed for a site after
 * which the model itself adds the residual (and applies its LayerNorm, for BERT).
 *
 * Parameters use AdapterHub's names: `adapter_down.0` (Linear [m, D]; with `ln_before`
 * `adapter_down.0` is the LayerNorm and `adapter_down.1` the Linear), `adapter_up` (Linear [D, m]),
 * `adapter_norm_after`, `scaling` (when learned).
 */
export class BottleneckAdapter implements SublayerOutputHook {
  readonly params = new Module();
  private readonly act: (x: tf.Tensor) => tf.Tensor;
  private readonly c: BottleneckConfig;

  constructor(private readonly opts: BottleneckAdapterOptions) {
    const { hidden: d, size: m, config: c, rng } = opts;
    this.c = c;
    this.act = nonLinearity(c.non_linearity);
    const down = this.params.registerModule('adapter_down', new Module());
    if (c.ln_before) {
      const ln = down.registerModule('0', new Module());
      ln.registerParameter('weight', tf.ones([d]));
      ln.registerParameter('bias', tf.zeros([d]));
    }
    const downLinear = down.registerModule(c.ln_before ? '1' : '0', new Module());
    const upLinear = this.params.registerModule('adapter_up', new Module());
    // W_down: [m, D]   W_up: [D, m]
    if (c.init_weights === 'bert') {
      downLinear.registerParameter('weight', rng.normalTensor([m, d], 0, 0.02));
      upLinear.registerParameter('weight', rng.normalTensor([d, m], 0, 0.02));
    } else if (c.init_weights === 'houlsby') {
      downLinear.registerParameter('weight', rng.truncatedNormalTensor([m, d], 0, 1e-2));
      upLinear.registerParameter('weight', rng.truncatedNormalTensor([d, m], 0, 1e-2));
    } else {
      // mam_adapter: up-projection zero, so the adapter starts as exactly the identity
      downLinear.registerParameter('weight', kaimingUniform([m, d], Math.sqrt(5), rng));
      upLinear.registerParameter('weight', tf.zeros([d, m]));
    }
    downLinear.registerParameter('bias', tf.zeros([m]));
    upLinear.registerParameter('bias', tf.zeros([d]));
    if (c.ln_after) {
      const ln = this.params.registerModule('adapter_norm_after', new Module());
      ln.registerParameter('weight', tf.ones([d]));
      ln.registerParameter('bias', tf.zeros([d]));
    }
    if (c.scaling === 'learned') this.params.registerParameter('scaling', tf.ones([1]));
    else if (c.scaling === 'channel') this.params.registerParameter('scaling', tf.ones([d]));
  }

  private p(path: string): tf.Variable {
    const dot = path.lastIndexOf('.');
    return this.params.getModule(path.slice(0, dot)).parameter(path.slice(dot + 1))!;
  }

  /** up(f(down(LN_before?(z))))·s, dropout in training: [..., D]. */
  private adapterOutput(z: tf.Tensor, ctx: HookContext): tf.Tensor {
    const c = this.c;
    const ln = c.ln_before;
    const zin = ln ? layerNorm(z, this.p('adapter_down.0.weight'), this.p('adapter_down.0.bias')) : z;
    const down = { weight: this.p(`adapter_down.${ln ? 1 : 0}.weight`), bias: this.p(`adapter_down.${ln ? 1 : 0}.bias`) };
    const up = { weight: this.p('adapter_up.weight'), bias: this.p('adapter_up.bias') };
    const scaling = typeof c.scaling === 'number' ? c.scaling : this.params.parameter('scaling')!;
    const out = bottleneck(zin, down, up, this.act, scaling);
    return ctx.training && c.dropout > 0 ? dropout(out, c.dropout, this.opts.rng) : out;
  }

  private normAfter(x: tf.Tensor): tf.Tensor {
    return this.c.ln_after ? layerNorm(x, this.p('adapter_norm_after.weight'), this.p('adapter_norm_after.bias')) : x;
  }

  /**
   * output h: [B, T, D] the sublayer's output; input x: [B, T, D] its residual input. Returns h'
   * such that the model's own `LN(h' + x)` (BERT) or `h' + x` (LLaMA, GPT-2) is AdapterHub's result.
   */
  forward(output: tf.Tensor, input: tf.Tensor, ctx: HookContext): tf.Tensor {
    return tf.tidy(() => {
      const c = this.c;
      const lnOrig = this.opts.originalLayerNorm;
      let out: tf.Tensor;
      if (c.is_parallel) {
        // ParallelAdapter: reads the sublayer's input; post_forward adds the sublayer's output
        out = tf.add(output, this.normAfter(this.adapterOutput(input, ctx)));
      } else {
        let residual: tf.Tensor | undefined = c.residual_before_ln === true ? output : undefined;
        let hidden = output;
        if (c.original_ln_before) {
          const sum = tf.add(output, input);
          if (c.residual_before_ln === 'post_add') residual = sum;
          hidden = lnOrig ? lnOrig(sum) : sum;
        }
        if (c.residual_before_ln === false || residual === undefined) residual = hidden;
        const a = this.adapterOutput(hidden, ctx);
        out = c.adapter_residual_before_ln ? this.normAfter(tf.add(a, residual)) : tf.add(this.normAfter(a), residual);
      }
      // original_ln_after = false: AdapterHub returns `out` itself; the model here adds the residual after us
      return c.original_ln_after ? out : tf.sub(out, input);
    });
  }
}
