/** One line of the benchmark table. */
export interface Row {
  suite: string;
  name: string;
  unit: string;
  /** troupe's figure. */
  value: number;
  /** The baseline's figure, measured in the same run. */
  baseline: number;
  /** value ÷ baseline. */
  ratio: number;
  /** What the ratio should be, e.g. '>= 1.5'. */
  goal?: string;
  /**
   * Not measured yet, and why (what it waits for): its value, baseline and ratio are NaN. A row
   * for a goal that is set before what it measures exists, so the table shows the goal is open.
   */
  pending?: string;
}

export interface SuiteOptions {
  quick: boolean;
}

export type Suite = (options: SuiteOptions) => Promise<Row[]>;

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * Runs baseline and troupe alternately, `rounds` times each, so drift on a noisy machine hits
 * both alike, and returns the medians.
 */
export async function alternate(
  rounds: number,
  baseline: () => Promise<number>,
  troupe: () => Promise<number>,
): Promise<{ baseline: number; value: number }> {
  const b: number[] = [];
  const t: number[] = [];
  for (let i = 0; i < rounds; i++) {
    b.push(await baseline());
    t.push(await troupe());
  }
  return { baseline: median(b), value: median(t) };
}

export function row(
  suite: string,
  name: string,
  unit: string,
  figures: { baseline: number; value: number },
  goal?: string,
): Row {
  return { suite, name, unit, ...figures, ratio: figures.value / figures.baseline, ...(goal && { goal }) };
}
