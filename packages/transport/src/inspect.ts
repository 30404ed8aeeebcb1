import type { InspectionEvent } from 'xstate';

export type MachineInspector = (event: InspectionEvent) => void;

let current: MachineInspector | undefined;

/**
 * Watches every troupe machine created from now on (links, writers, node contexts, endpoints,
 * schedulers, job dispatchers): XState's inspection events, for coverage and tracing in tests.
 * Returns a function that puts the previous inspector back. Nothing is inspected by default, and
 * an unset inspector costs nothing.
 */
export function setMachineInspector(inspector: MachineInspector | undefined): () => void {
  const previous = current;
  current = inspector;
  return () => {
    current = previous;
  };
}

/** The inspector troupe's `createActor` calls pass on (undefined unless a test set one). */
export function machineInspector(): MachineInspector | undefined {
  return current;
}
