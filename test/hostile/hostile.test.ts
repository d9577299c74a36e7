import { afterAll, afterEach, beforeAll, describe } from 'vitest';
import { admissionArea } from './areas/admission.js';
import { cliArea } from './areas/cli.js';
import { daemonArea } from './areas/daemon.js';
import { enrollmentArea } from './areas/enrollment.js';
import { controlArea, finalArea, watchProcess } from './areas/final.js';
import { fuzzArea } from './areas/fuzz.js';
import { httpArea } from './areas/http.js';
import { resourcesArea } from './areas/resources.js';
import { sessionArea } from './areas/session.js';
import { tlsArea } from './areas/tls.js';
import { collector } from './support/collector.js';
import { sampler } from './support/memory.js';
import { openWorld, type World } from './support/world.js';

/**
 * Hostile and broken input: the master stays up, admits no one it
 * should not, and writes nothing wrong. One file on purpose: vitest runs each
 * file in its own process, and the closing summary and secret scan need
 * everything the areas saw (support/collector.ts), so the areas are modules
 * registered here in order, and the last one reports.
 *
 * Most areas attack one in-process master (createMaster on port 0, its own
 * database, logs captured) while two legitimate agents stay connected; the
 * default timeouts, TLS flags and an unreachable database are tried against
 * the built `cluster-master serve` in its own process, whose pid must not
 * change. FUZZ_SEED replays a fuzz run.
 */
sampler.start();
watchProcess();

describe('hostile input', () => {
  let world: World | undefined;
  const getWorld = (): World => {
    if (world === undefined) throw new Error('the in-process master did not start');
    return world;
  };

  beforeAll(async () => {
    world = await openWorld('main');
  });

  afterAll(async () => {
    await world?.close();
  });

  // Every error message a test saw joins the secret scan too.
  afterEach(({ task }) => {
    for (const error of task.result?.errors ?? []) collector.text(`error in ${task.name}`, `${error.message}\n${error.stack ?? ''}`);
  });

  admissionArea(getWorld);
  sessionArea(getWorld);
  resourcesArea(getWorld);
  fuzzArea(getWorld);
  enrollmentArea(getWorld);
  daemonArea();
  tlsArea();
  httpArea();
  cliArea();
  controlArea(getWorld);
  finalArea();
});
