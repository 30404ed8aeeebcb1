/**
 * The key of the option through which a test reaches inside one instance: a scheduler's rules,
 * a machine `provide()`d with a broken guard or action. The model checker's broken variants use
 * it to re-create a real bug in the real code path, in their own world only; nothing else is
 * touched, so a variant cannot leak into the next test.
 *
 * A symbol exported only from `@troupe/core/internal` (not covered by semver): an option a
 * production user cannot set by accident, and that no option check or spread of plain keys sees.
 */
export const internalSeams: unique symbol = Symbol('troupe.internalSeams');

/** Replaces an instance's machine, e.g. by `machine.provide({ guards: { ... } })`. */
export type MachineSeam<M> = (machine: M) => M;
