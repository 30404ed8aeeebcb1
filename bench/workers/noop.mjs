// The no-op task both sides run: piscina's worker function and a troupe task.
import { defineTask } from '@troupe/core';

export default function noop(input) {
  return input;
}

export const noopTask = defineTask({ name: 'noopTask', multiThreadable: true, run: (input) => input });
