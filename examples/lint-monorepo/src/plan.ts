// The shape of a generated monorepo before any code is written: its packages, their layers and
// internal dependencies, and the entities each module exports (what dependents import).
import { Random } from './random.js';

export interface GenerateOptions {
  /** Packages in the repo. Default 40. */
  packages: number;
  /** Lines of TypeScript per package, roughly (each module stops at the first unit past its share). */
  lines: number;
  seed: number;
}

export const DEFAULT_GENERATE: GenerateOptions = { packages: 40, lines: 2500, seed: 1 };

/** One exported entity: an interface, its status union, a store class and functions named after it. */
export interface EntityPlan {
  /** `BillingInvoice`. */
  name: string;
  statuses: readonly string[];
  /** Fields beyond the ones every entity has (id, name, status, createdAt, tags). */
  extras: readonly ExtraField[];
}

export interface ExtraField {
  name: string;
  type: string;
  optional: boolean;
  /** A default for `create<Entity>`; undefined for optional fields. */
  initial: string | undefined;
}

export interface ModulePlan {
  /** `invoice.ts`. */
  file: string;
  entity: EntityPlan;
}

export interface PackagePlan {
  index: number;
  /** `@acme/billing`. */
  name: string;
  /** `packages/billing`. */
  dir: string;
  layer: number;
  /** Indices of the packages it depends on, all in lower layers. */
  deps: readonly number[];
  modules: readonly ModulePlan[];
}

export interface RepoPlan {
  options: GenerateOptions;
  packages: readonly PackagePlan[];
}

const DOMAINS = (
  'billing ledger orders catalog inventory shipping accounts identity sessions search ' +
  'pricing payments refunds reviews coupons carts reports metrics alerts incidents support ' +
  'messaging channels teams policies quotas plans webhooks events jobs scheduling regions ' +
  'warehouses suppliers contracts audit exports imports media feeds profiles settings ' +
  'tenants billing-ui gateway notifications ranking forecasts'
).split(' ');

const NOUNS = (
  'Invoice Order Customer Account Payment Refund Shipment Parcel Product Variant Review ' +
  'Coupon Cart Session Token Report Metric Alert Incident Ticket Comment Thread Message ' +
  'Channel Team Member Role Policy Quota Plan Subscription Webhook Event Job Task Schedule ' +
  'Region Warehouse Supplier Contract Batch Snapshot'
).split(' ');

const STATUSES = ['active', 'archived', 'pending', 'failed', 'closed', 'review'] as const;

const EXTRAS: readonly ExtraField[] = [
  { name: 'amount', type: 'number', optional: false, initial: '0' },
  { name: 'ownerId', type: 'string', optional: true, initial: undefined },
  { name: 'priority', type: 'number', optional: false, initial: '1' },
  { name: 'note', type: 'string | null', optional: false, initial: 'null' },
  { name: 'version', type: 'number', optional: false, initial: '0' },
  { name: 'region', type: 'string', optional: false, initial: "'eu'" },
  { name: 'labels', type: 'Record<string, string>', optional: false, initial: '{}' },
  { name: 'parentId', type: 'string | undefined', optional: false, initial: 'undefined' },
];

/** Lines one module aims at; a package has as many modules as its lines need. */
export const MODULE_LINES = 320;

function pascal(word: string): string {
  return word
    .split(/[^a-z0-9]+/i)
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');
}

/**
 * Lays out the repo: packages in about √N layers, each depending on one to three packages of
 * lower layers (mostly the layer just below), and entities unique across the repo.
 */
export function planRepo(options: GenerateOptions): RepoPlan {
  const random = new Random(options.seed);
  const count = options.packages;
  const layers = Math.max(1, Math.round(Math.sqrt(count)));
  const modulesPer = Math.max(1, Math.round(options.lines / MODULE_LINES));
  const packages: PackagePlan[] = [];
  const domains = random.sample(DOMAINS, DOMAINS.length);
  for (let index = 0; index < count; index++) {
    const base = domains[index % domains.length]!;
    const round = Math.floor(index / domains.length);
    const word = round === 0 ? base : `${base}${round + 1}`;
    const layer = Math.floor((index * layers) / count);
    const lower = packages.filter((other) => other.layer < layer);
    const below = lower.filter((other) => other.layer === layer - 1);
    const deps = new Set<number>();
    if (lower.length > 0) {
      const wanted = random.int(1, Math.min(3, lower.length));
      deps.add(random.pick(below.length > 0 ? below : lower).index);
      while (deps.size < wanted) deps.add(random.pick(lower).index);
    }
    const nouns = random.sample(NOUNS, Math.min(modulesPer, NOUNS.length));
    const modules = nouns.map((noun): ModulePlan => {
      const statuses = ['draft', ...random.sample(STATUSES, random.int(2, 4))];
      const extras = random.sample(EXTRAS, random.int(2, 5));
      const file = `${noun.toLowerCase()}.ts`;
      return { file, entity: { name: `${pascal(word)}${noun}`, statuses, extras } };
    });
    packages.push({
      index,
      name: `@acme/${word}`,
      dir: `packages/${word}`,
      layer,
      deps: [...deps].sort((a, b) => a - b),
      modules,
    });
  }
  return { options, packages };
}
