import { describe, it } from 'vitest';
import { CONFORMANCE_CHECKS, type ConformanceCheck } from './checks.js';
import { ConformanceFixture } from './fixture.js';
import { defaultApplies, type ConformanceCase, type ConformanceSpec } from './spec.js';

/** Why a check does not run for a case, or null when it runs. */
export function skipReason(spec: ConformanceSpec, testCase: ConformanceCase, check: ConformanceCheck): string | null {
  if (check.group === 'always') return null;
  if (check.group === 'notMergeable') return spec.method.notMergeable ? null : `${spec.method.meta.name} is mergeable`;
  const applies = { ...defaultApplies(spec.method), ...spec.applies, ...testCase.applies };
  if (check.group === 'mixedBatch' && !applies.multipleAdapters) return 'multipleAdapters is off';
  return applies[check.group] ? null : `${check.group} is off`;
}

/** Runs one check of the kit on one case, on a fixture of its own. */
export async function runConformanceCheck(
  spec: ConformanceSpec,
  testCase: ConformanceCase,
  check: ConformanceCheck | string,
): Promise<void> {
  const c = typeof check === 'string' ? CONFORMANCE_CHECKS.find((k) => k.id === check) : check;
  if (!c) throw new Error(`No conformance check "${String(check)}"; checks: ${CONFORMANCE_CHECKS.map((k) => k.id).join(', ')}`);
  const fx = new ConformanceFixture(spec, testCase);
  try {
    await c.run(fx);
  } finally {
    fx.dispose();
  }
}

function caseTitle(testCase: ConformanceCase): string {
  if (testCase.name) return testCase.name;
  const model = typeof testCase.model === 'string' ? testCase.model : testCase.model.name;
  return `${model} ${JSON.stringify(testCase.config)}`;
}

/**
 * Registers the conformance tests of a method with vitest: one `describe` per case, one `it` per
 * check; checks that do not apply are reported as skipped with the reason.
 *
 * ```ts
 * describeConformance({ method: lora, cases: [{ model: 'mlp', config: { target_modules: ['lin0'] } }] });
 * ```
 */
export function describeConformance(spec: ConformanceSpec): void {
  if (spec.cases.length === 0) throw new Error('describeConformance: give at least one case');
  const ids = new Set(CONFORMANCE_CHECKS.map((c) => c.id));
  for (const testCase of spec.cases) {
    for (const id of Object.keys(testCase.knownFailures ?? {})) {
      if (!ids.has(id)) throw new Error(`describeConformance: knownFailures names no check "${id}"; checks: ${[...ids].join(', ')}`);
    }
  }
  describe(`${spec.name ?? spec.method.meta.name} conformance`, () => {
    for (const testCase of spec.cases) {
      describe(caseTitle(testCase), () => {
        for (const check of CONFORMANCE_CHECKS) {
          const reason = skipReason(spec, testCase, check);
          const knownFailure = testCase.knownFailures?.[check.id];
          if (reason) it.skip(`${check.title} (${reason})`, () => {});
          else if (knownFailure)
            it.fails(`${check.title} [known failure: ${knownFailure}]`, () => runConformanceCheck(spec, testCase, check));
          else it(check.title, () => runConformanceCheck(spec, testCase, check));
        }
      });
    }
  });
}
