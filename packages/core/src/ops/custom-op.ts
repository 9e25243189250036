import * as tf from '@tensorflow/tfjs-core';

/**
 * A `Peft*` custom op: a kernel name, typed inputs and attributes, and a fallback made of tfjs
 * ops that runs (and differentiates) on every backend. A backend package registers a faster
 * kernel for the name into tfjs's own registry with `registerPeftKernel`; a missing kernel is
 * slower, never an error.
 */
export interface PeftOpSpec<I extends string, A extends object> {
  kernelName: `Peft${string}`;
  inputNames: readonly I[];
  /** Composite of tfjs ops, differentiable by autograd. */
  fallback(inputs: Record<I, tf.Tensor>, attrs: A): tf.Tensor;
  /**
   * Gradients used when a registered kernel runs (the fallback needs none): one thunk per input.
   * `inputs` holds the saved inputs (all unless `save` says otherwise); `output` the op's output
   * when `save.output` is set.
   */
  gradient(dy: tf.Tensor, inputs: Record<I, tf.Tensor>, attrs: A, output?: tf.Tensor): Record<I, () => tf.Tensor>;
  /**
   * What the tape keeps for the gradient (default: every input, no output). An op whose gradient
   * needs its output rather than a large input (softmax) saves memory by saying so.
   */
  save?: { inputs: readonly I[]; output: boolean };
}

export interface PeftOp<I extends string, A extends object> {
  readonly spec: PeftOpSpec<I, A>;
  (inputs: Record<I, tf.Tensor>, attrs: A): tf.Tensor;
}

/** What a backend kernel receives, typed. */
export interface PeftKernelArgs<I extends string, A extends object> {
  inputs: Record<I, tf.TensorInfo>;
  attrs: A;
  backend: tf.KernelBackend;
}

export function definePeftOp<I extends string, A extends object>(spec: PeftOpSpec<I, A>): PeftOp<I, A> {
  const op = ((inputs: Record<I, tf.Tensor>, attrs: A): tf.Tensor => {
    for (const name of spec.inputNames) {
      if (!(inputs[name] instanceof tf.Tensor)) throw new Error(`${spec.kernelName}: input "${name}" must be a tensor`);
    }
    if (tf.getKernel(spec.kernelName, tf.getBackend())) {
      // tfjs types a kernel's inputs and attrs as open maps; ours are the op's typed records of the same values.
      return tf
        .engine()
        .runKernel(spec.kernelName, inputs as unknown as tf.NamedTensorMap, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
    }
    return spec.fallback(inputs, attrs);
  }) as PeftOp<I, A>;
  Object.defineProperty(op, 'spec', { value: spec });
  return op;
}

const gradientsRegistered = new Set<string>();

/**
 * Registers a backend kernel for a Peft op (and, once, the op's gradient). Returns a function
 * that unregisters the kernel.
 */
export function registerPeftKernel<I extends string, A extends object>(
  op: PeftOp<I, A>,
  backendName: string,
  kernel: (args: PeftKernelArgs<I, A>) => tf.TensorInfo,
): () => void {
  const { spec } = op;
  tf.registerKernel({
    kernelName: spec.kernelName,
    backendName,
    kernelFunc: ((args: { inputs: tf.NamedTensorInfoMap; attrs?: tf.NamedAttrMap; backend: tf.KernelBackend }) =>
      kernel({ inputs: args.inputs as Record<I, tf.TensorInfo>, attrs: (args.attrs ?? {}) as A, backend: args.backend })) as tf.KernelFunc,
  });
  if (!gradientsRegistered.has(spec.kernelName) && !tf.getGradient(spec.kernelName)) {
    const savedInputs = spec.save?.inputs ?? spec.inputNames;
    tf.registerGradient({
      kernelName: spec.kernelName,
      inputsToSave: [...savedInputs],
      outputsToSave: spec.save?.output ? [true] : undefined,
      gradFunc: (dy, saved, attrs) => {
        const inputs = {} as Record<I, tf.Tensor>;
        savedInputs.forEach((n, i) => (inputs[n] = saved[i]!));
        // tfjs hands attrs back as a NamedAttrMap: they are the `A` the op ran with.
        return spec.gradient(dy as tf.Tensor, inputs, attrs as unknown as A, spec.save?.output ? saved[savedInputs.length] : undefined);
      },
    });
    gradientsRegistered.add(spec.kernelName);
  }
  return () => tf.unregisterKernel(spec.kernelName, backendName);
}
