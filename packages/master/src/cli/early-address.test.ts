import { describe, expect, test } from 'vitest';
import { SERVER_DEFAULTS } from '../server/options.js';
import { EARLY_DEFAULTS, earlyListenAddress } from './early-address.js';

describe('earlyListenAddress', () => {
  test("serve's defaults, as serve-config reads them", () => {
    expect(EARLY_DEFAULTS).toEqual({ host: SERVER_DEFAULTS.host, port: SERVER_DEFAULTS.port });
    expect(earlyListenAddress(['serve'], {})).toEqual({ host: '0.0.0.0', port: 8080 });
  });

  test('flags in both forms, the flag winning over the environment', () => {
    expect(earlyListenAddress(['serve', '--port', '9000', '--host', '127.0.0.1'], {})).toEqual({ host: '127.0.0.1', port: 9000 });
    expect(earlyListenAddress(['serve', '--port=0', '--host=::1', '--log-level', 'warn'], {})).toEqual({ host: '::1', port: 0 });
    expect(earlyListenAddress(['serve'], { MASTER_PORT: ' 9001 ', MASTER_HOST: '10.0.0.1' })).toEqual({ host: '10.0.0.1', port: 9001 });
    expect(earlyListenAddress(['serve', '--port', '9002'], { MASTER_PORT: '9001' })).toEqual({ host: '0.0.0.0', port: 9002 });
  });

  test('no guess for another command, for help, or for what serve-config would refuse', () => {
    for (const argv of [
      [],
      ['worker', 'list'],
      ['serve', '--help'],
      ['serve', '-h'],
      ['serve', '--port'],
      ['serve', '--port', '70000'],
      ['serve', '--port', 'http'],
      ['serve', '--port', '1', '--port', '2'],
      ['serve', '--host', ''],
      ['serve', '--host', 'a b'],
    ]) {
      expect(earlyListenAddress(argv, {}), argv.join(' ')).toBeUndefined();
    }
    expect(earlyListenAddress(['serve'], { MASTER_PORT: '-1' })).toBeUndefined();
  });
});
