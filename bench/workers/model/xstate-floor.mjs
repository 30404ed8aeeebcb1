// The model rows' floor (bench/src/xstate-floor.ts): a child process that first runs its share of
// the 2-node build scenario's schedules under the simulator, recording through the machine
// inspector every actor each schedule creates (its machine and input) and every event sent to one
// (timers' events included), then, on each `replay`, does that XState work again and nothing else:
// the same machines created, started and sent the same events, in order, with no runtime, no
// simulator and no monitors. The effects a machine would carry out are left out (its input's
// effects key is unset, so each action and guard that reads one finds none); what remains is the
// part of a schedule that XState itself does, which no explorer that keeps XState can skip.
import { randomWalk } from '@troupe/testing';
import { buildScenario, runSchedule } from '@troupe/testing/internal';
import { setMachineInspector } from '@troupe/transport/internal';
import { createActor } from '@troupe/transport/internal/xstate';

// As in an explorer pool's worker: nobody reads stack traces here.
Error.stackTraceLimit = 0;

/** Timers are not run: each one that fired while recording was recorded as the event it sent. */
const clock = { setTimeout: () => 0, clearTimeout: () => {} };

/** One schedule's XState work: actors to create, events to send (by actor index), in order. */
let records = [];

async function record({ seed, first, stride, count }) {
  const strategy = randomWalk({ seed });
  const actors = new Map();
  let current = [];
  const restore = setMachineInspector((inspection) => {
    if (inspection.type === '@xstate.actor') {
      const actor = inspection.actorRef;
      actors.set(actor, actors.size);
      current.push({ logic: actor.logic, input: { ...actor.options.input, effects: undefined } });
    } else if (inspection.type === '@xstate.event' && inspection.event.type !== 'xstate.init') {
      const to = actors.get(inspection.actorRef);
      if (to !== undefined) current.push({ to, event: inspection.event });
    }
  });
  try {
    records = [];
    for (let i = 0; i < count; i++) {
      const next = strategy.schedule(first + i * stride);
      actors.clear();
      current = [];
      const result = await runSchedule(buildScenario, 'none', next.seed, next.chooser);
      if (result.violation) throw new Error(`the unbroken runtime failed: ${result.violation.message}`);
      records.push(current);
    }
  } finally {
    restore();
  }
  return records.reduce((sum, schedule) => sum + schedule.length, 0);
}

function replay() {
  const start = performance.now();
  for (const schedule of records) {
    const live = [];
    for (const op of schedule) {
      if (op.logic) {
        const actor = createActor(op.logic, { clock, input: op.input });
        actor.start();
        live.push(actor);
      } else {
        const actor = live[op.to];
        if (actor.getSnapshot().status === 'active') actor.send(op.event);
      }
    }
  }
  return performance.now() - start;
}

process.on('message', (message) => {
  if (message.type === 'record') {
    record(message).then(
      (ops) => process.send({ type: 'recorded', ops }),
      (error) => process.send({ type: 'failed', message: error.message }),
    );
  } else if (message.type === 'replay') {
    try {
      process.send({ type: 'replayed', ms: replay(), schedules: records.length });
    } catch (error) {
      process.send({ type: 'failed', message: error.message });
    }
  }
});
process.on('disconnect', () => process.exit(0));
process.send({ type: 'ready' });
