import type { SafetensorsDtype, SafetensorsEntry } from './io/safetensors.js';
import type { LinearLike } from './nn/layers.js';

/**
 * Weight formats: how a model loader reads checkpoints whose linears are not plain float matrices
 * (quantized files), or turns float linears into another form while loading. A package registers one
 * (`weightFormats.register`), the loader (`@peftjs/models`) asks them: it knows no format itself.
 */

/** One checkpoint tensor as its safetensors header describes it (nothing read yet). */
export interface CheckpointTensorInfo {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** The file that holds it (relative to the folder). */
  file: string;
}

/** What loadModel's `quantize` option asks for, e.g. `{ type: 'nf4', doubleQuant: true }`. */
export interface QuantizeRequest {
  type: string;
  [option: string]: unknown;
}

export interface WeightFormatContext {
  /** config.json as read, and its path (for messages). */
  config: Readonly<Record<string, unknown>>;
  configPath: string;
  /** The loader's `quantize` option, if given. */
  quantize?: QuantizeRequest;
  /** Every tensor of the checkpoint, by name, from the headers. */
  header: ReadonlyMap<string, CheckpointTensorInfo>;
  /** Model paths of the output heads (`lm_head`): kept in float unless a format says otherwise. */
  outputHeads: readonly string[];
}

/** One load through a format. */
export interface WeightFormatSession {
  /** A short description for reports (`bitsandbytes nf4, double quant`). */
  readonly description: string;
  /**
   * The checkpoint tensors (`prefix` = the linear's checkpoint name + '.') this format reads into a
   * replacement for the float linear at model path `path`, or null to load it as an ordinary linear.
   * Checks the header (names, dtypes, shapes): a problem is an error naming the file and tensor.
   */
  claim(path: string, prefix: string, layer: LinearLike): string[] | null;
  /** The replacement layer, built from exactly the claimed tensors (only these are in memory). */
  build(path: string, prefix: string, layer: LinearLike, tensors: Map<string, SafetensorsEntry>): LinearLike;
}

export interface WeightFormat {
  readonly name: string;
  /**
   * A session when this format handles the load (a `quantization_config` it reads, a `quantize`
   * request it serves), else null. A config it owns but cannot read is an error.
   */
  open(ctx: WeightFormatContext): WeightFormatSession | null;
}

class WeightFormatRegistry {
  private readonly formats = new Map<string, WeightFormat>();

  /** Adds (or replaces, by name) a format. */
  register(format: WeightFormat): void {
    this.formats.set(format.name, format);
  }

  list(): WeightFormat[] {
    return [...this.formats.values()];
  }

  /**
   * The session of the first format that takes the load; null for a plain float load. A
   * `quantization_config` or `quantize` request nobody takes is an error naming what was asked.
   */
  open(ctx: WeightFormatContext): WeightFormatSession | null {
    for (const f of this.formats.values()) {
      const s = f.open(ctx);
      if (s) return s;
    }
    const qc = ctx.config.quantization_config as { quant_method?: unknown } | undefined;
    const known = this.list().map((f) => f.name);
    const hint = `registered weight formats: ${known.length ? known.join(', ') : 'none'} (4-bit bitsandbytes: import '@peftjs/qlora/register')`;
    if (ctx.quantize) throw new Error(`loadModel: no weight format serves quantize ${JSON.stringify(ctx.quantize)}; ${hint}`);
    if (qc && typeof qc === 'object') {
      throw new Error(`${ctx.configPath}: quantization_config (quant_method ${JSON.stringify(qc.quant_method)}) is not readable; ${hint}`);
    }
    return null;
  }
}

/** The process-wide weight formats the model loader consults. */
export const weightFormats = new WeightFormatRegistry();
