// A replayed schedule told as a story: one numbered paragraph per step saying who sent what to
// whom, which timer fired, which fault hit and which action came from outside, with what each
// step made happen indented under it, and at the end what the monitor saw. `formatTrace` stays the
// compact log; this is what `check:model -- --trace` prints for a shrunk counterexample.
import type { RunResult, TakenStep } from './schedule.js';
import type { TraceEntry } from './simulation.js';

/**
 * Tells a replayed run (`replay` records the steps it takes) as a story. A run without recorded
 * steps (one from `runSchedule` with tracing on) is told from its trace lines alone.
 */
export function formatStory(result: RunResult, options: { shrunkFrom?: number } = {}): string {
  const { schedule, violation } = result;
  const taken = result.taken ?? [];
  const faults = taken.filter((step) => step.kind === 'fault').length;
  const lines = [
    `Scenario ${schedule.scenario}, variant ${schedule.variant}, seed ${schedule.seed}: ${result.steps} steps` +
      (options.shrunkFrom !== undefined && options.shrunkFrom !== result.steps
        ? ` (shrunk from ${options.shrunkFrom})`
        : '') +
      `, ${faults} fault${faults === 1 ? '' : 's'}.`,
  ];
  if (violation) lines.push(`It breaks the monitor "${violation.monitor}".`);
  const width = String(result.steps).length;
  const indent = ' '.repeat(width + 2);
  let step = 0;
  let time = 0;
  for (const entry of result.trace) {
    const header = /^#(\d+) (.*)$/.exec(entry.text);
    if (header && entry.step === Number(header[1])) {
      step = entry.step;
      const what = taken[step - 1];
      let clock = entry.time === time ? '' : ` [t=${entry.time} ms]`;
      time = entry.time;
      // A timer moves the clock to when it was due: said here, so the notes after it need not.
      if (what?.timer && what.timer.due > time) {
        clock += `; the clock moves to ${what.timer.due} ms`;
        time = what.timer.due;
      }
      lines.push(`${String(step).padStart(width)}. ${short(what ? tell(what) : header[2]!)}${clock}`);
      continue;
    }
    if (step === 0 && lines.length === (violation ? 2 : 1)) lines.push('Before the first step:');
    if (entry.time !== time) {
      lines.push(`${indent}[time is now ${entry.time} ms]`);
      time = entry.time;
    }
    const consequence = note(entry);
    if (consequence) lines.push(`${indent}${short(consequence)}`);
  }
  if (violation) lines.push(`The monitor "${violation.monitor}" saw: ${violation.message}`);
  else lines.push('No monitor saw anything wrong.');
  return lines.join('\n');
}

/** A task named by its module's URL reads as the export's name (`file:///…/tasks.js#retryJoin`). */
function short(text: string): string {
  return text.replace(/\bfile:\/\/\/\S*?#(\w+)/g, '$1');
}

/** One step as a sentence. */
function tell(step: TakenStep): string {
  const { delivery, timer } = step;
  if (step.kind === 'deliver' && delivery) {
    if (delivery.kind === 'end') return `${delivery.to} sees ${delivery.from} end the connection`;
    if (delivery.kind === 'reset') return `${delivery.to} sees the connection from ${delivery.from} reset`;
    return delivery.packets.length > 0
      ? `${delivery.to} receives ${delivery.packets.join(', ')} from ${delivery.from}`
      : `${delivery.to} receives ${delivery.bytes} bytes from ${delivery.from} (no whole packet: a handshake, or part of a frame)`;
  }
  if (step.kind === 'timer' && timer) return `${timer.owner}'s timer due at ${timer.due} ms fires`;
  if (step.kind === 'action') return `ACTION: ${step.label}`;
  if (timer)
    return `FAULT (delay): ${timer.owner}'s timer due at ${timer.due} ms fires early, while deliveries are still in flight`;
  if (delivery) {
    const what = delivery.packets.length > 0 ? delivery.packets.join(', ') : `${delivery.bytes} bytes`;
    return `FAULT (drop): ${what} from ${delivery.from} to ${delivery.to} is lost, which breaks the connection`;
  }
  const crash = /^fault: crash (\S+)$/.exec(step.label);
  if (crash) return `FAULT (crash): ${crash[1]} is killed, as by SIGKILL`;
  const hang = /^fault: hang (\S+)$/.exec(step.label);
  if (hang) return `FAULT (hang): ${hang[1]} freezes: it takes no more steps`;
  return `FAULT: ${step.label.replace(/^fault: /, '')}`;
}

/** What a trace note says happened, or undefined for what the story tells elsewhere. */
function note(entry: TraceEntry): string | undefined {
  const text = entry.text;
  const packet = /^ {2}(\S+) → (\S+): (.*)$/.exec(text);
  if (packet) return `→ ${packet[1]} sends ${packet[3]} to ${packet[2]}`;
  // The violation is told once, at the end.
  if (text.startsWith('VIOLATION (')) return undefined;
  if (text === 'script finished') return "· the scenario's script has finished";
  if (text.startsWith('unhandled: ')) return `! an error nobody was left to handle: ${text.slice(11)}`;
  return `· ${text.trim()}`;
}
