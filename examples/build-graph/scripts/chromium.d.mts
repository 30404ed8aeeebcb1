import type { BrowserContext } from 'playwright-core';

export declare const CHROMIUM_PATH: string;
/** A browser context on a fresh profile; `close` ends the browser and removes the profile. */
export declare function launchChromium(): Promise<{ context: BrowserContext; close(): Promise<void> }>;
