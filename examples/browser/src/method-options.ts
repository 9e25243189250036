/** Each installed method's main options as form fields, with PEFT's names and the page's defaults. */
export interface Field {
  key: string;
  label: string;
  kind: 'int' | 'float' | 'text' | 'bool' | 'choice';
  value: string | number | boolean;
  choices?: string[];
  /** Shown as a tooltip. */
  help?: string;
}

export interface MethodForm {
  title: string;
  about: string;
  learningRate: number;
  fields: Field[];
}

const TARGETS_HELP = 'module names separated by commas (q_proj,v_proj), "all-linear", or empty for PEFT\'s default for the architecture';

export const METHOD_FORMS: Record<string, MethodForm> = {
  lora: {
    title: 'LoRA',
    about: 'low-rank updates B·A added to the linear layers (Hu et al., 2021)',
    learningRate: 5e-3,
    fields: [
      { key: 'r', label: 'rank r', kind: 'int', value: 8 },
      { key: 'lora_alpha', label: 'lora_alpha', kind: 'float', value: 16 },
      { key: 'lora_dropout', label: 'dropout', kind: 'float', value: 0.05 },
      { key: 'target_modules', label: 'target modules', kind: 'text', value: 'all-linear', help: TARGETS_HELP },
    ],
  },
  adalora: {
    title: 'AdaLoRA',
    about: 'LoRA in SVD form whose ranks are reallocated during training (Zhang et al., 2023)',
    learningRate: 5e-3,
    fields: [
      { key: 'init_r', label: 'initial rank', kind: 'int', value: 12 },
      { key: 'target_r', label: 'target rank', kind: 'int', value: 8 },
      { key: 'lora_alpha', label: 'lora_alpha', kind: 'float', value: 16 },
      { key: 'tinit', label: 'warmup steps (tinit)', kind: 'int', value: 0 },
      { key: 'tfinal', label: 'final steps (tfinal)', kind: 'int', value: 0 },
      { key: 'target_modules', label: 'target modules', kind: 'text', value: '', help: TARGETS_HELP },
    ],
  },
  prompt: {
    title: 'Prompt Tuning',
    about: 'trainable virtual tokens before the input (Lester et al., 2021)',
    learningRate: 3e-2,
    fields: [{ key: 'num_virtual_tokens', label: 'virtual tokens', kind: 'int', value: 8 }],
  },
  prefix: {
    title: 'Prefix Tuning',
    about: 'trainable keys and values in every attention layer (Li & Liang, 2021)',
    learningRate: 1e-2,
    fields: [
      { key: 'num_virtual_tokens', label: 'virtual tokens', kind: 'int', value: 8 },
      { key: 'prefix_projection', label: 'MLP reparameterisation', kind: 'bool', value: false },
      { key: 'encoder_hidden_size', label: 'MLP hidden size', kind: 'int', value: 128 },
    ],
  },
  ptuning: {
    title: 'P-Tuning',
    about: 'virtual tokens produced by a small MLP or LSTM encoder (Liu et al., 2021)',
    learningRate: 1e-2,
    fields: [
      { key: 'num_virtual_tokens', label: 'virtual tokens', kind: 'int', value: 8 },
      { key: 'encoder_reparameterization_type', label: 'encoder', kind: 'choice', value: 'MLP', choices: ['MLP', 'LSTM'] },
      { key: 'encoder_hidden_size', label: 'encoder hidden size', kind: 'int', value: 128 },
    ],
  },
  adapter: {
    title: 'Bottleneck adapters',
    about: 'small bottleneck layers inside each block (Houlsby et al., 2019; Pfeiffer et al., 2020)',
    learningRate: 5e-3,
    fields: [
      { key: 'config', label: 'architecture', kind: 'choice', value: 'seq_bn', choices: ['seq_bn', 'double_seq_bn', 'par_bn'] },
      { key: 'reduction_factor', label: 'reduction factor', kind: 'int', value: 16 },
    ],
  },
};

/** Renders a method's fields into `box` (ids `opt-<key>`). */
export function renderFields(box: HTMLElement, form: MethodForm): void {
  box.replaceChildren(
    ...form.fields.map((f) => {
      const label = document.createElement('label');
      label.textContent = `${f.label} `;
      if (f.help) label.title = f.help;
      let input: HTMLInputElement | HTMLSelectElement;
      if (f.kind === 'choice') {
        input = document.createElement('select');
        for (const c of f.choices ?? []) input.append(new Option(c, c, c === f.value, c === f.value));
      } else {
        input = document.createElement('input');
        input.type = f.kind === 'bool' ? 'checkbox' : f.kind === 'text' ? 'text' : 'number';
        if (f.kind === 'bool') input.checked = f.value === true;
        else input.value = String(f.value);
        if (f.kind === 'float') input.step = 'any';
      }
      input.id = `opt-${f.key}`;
      label.append(input);
      return label;
    }),
  );
}

/** The options of the form as PEFT config fields; a bad number names its field. */
export function readFields(form: MethodForm): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of form.fields) {
    const el = document.getElementById(`opt-${f.key}`) as HTMLInputElement | HTMLSelectElement;
    if (f.kind === 'bool') out[f.key] = (el as HTMLInputElement).checked;
    else if (f.kind === 'choice') out[f.key] = el.value;
    else if (f.kind === 'text') {
      const v = el.value.trim();
      if (v === '') continue;
      out[f.key] =
        v.includes(',') || (f.key === 'target_modules' && v !== 'all-linear')
          ? v
              .split(',')
              .map((s) => s.trim())
              .filter(Boolean)
          : v;
    } else {
      const n = Number(el.value);
      if (el.value.trim() === '' || !Number.isFinite(n) || (f.kind === 'int' && !Number.isInteger(n))) {
        throw new Error(`${f.label} (${f.key}) must be ${f.kind === 'int' ? 'an integer' : 'a number'}, got "${el.value}"`);
      }
      out[f.key] = n;
    }
  }
  return out;
}

/** Puts stored options back into the rendered fields (the inverse of `readFields`). */
export function writeFields(form: MethodForm, values: Record<string, unknown>): void {
  for (const f of form.fields) {
    const el = document.getElementById(`opt-${f.key}`) as HTMLInputElement | HTMLSelectElement;
    const v = values[f.key];
    if (f.kind === 'bool') (el as HTMLInputElement).checked = v === true;
    else el.value = v === undefined ? '' : Array.isArray(v) ? v.join(',') : String(v);
  }
}
