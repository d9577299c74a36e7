import { describe, expect, it } from 'vitest';
import { CloseCode } from './close-codes.js';
import { HARDWARE_LIMITS, type GpuInventory, type Hardware } from './hardware.js';
import { parseAgentMessage } from './parse.js';
import { H100_GPU } from './test-support/h100-sample.js';

const specs = { total_cpu: 224, total_memory: 2015.5, total_storage: 30720, total_gpu: 8 };
const gpu: GpuInventory = H100_GPU;
const hardware: Hardware = {
  gpus: Array.from({ length: 8 }, () => gpu),
  host: { cpu_model: 'Intel(R) Xeon(R) Platinum 8480+', arch: 'x86_64', sockets: 2, physical_cores: 112, threads: 224, os_name: 'Ubuntu', os_version: '22.04', kernel: '5.15.0-119-generic', agent_version: '0.2.0' },
};
const hello = (version: number, extra: object = {}) =>
  JSON.stringify({ type: 'hello', protocol_version: version, worker_id: 'gpu-01', agent_version: '0.2.0', specs, ...extra });

describe('the hello of each protocol version', () => {
  it('version 2 with and without the inventory', () => {
    expect(parseAgentMessage(hello(2, { hardware }), false, undefined, 2)).toMatchObject({ ok: true, message: { hardware } });
    expect(parseAgentMessage(hello(2), false, undefined, 2)).toMatchObject({ ok: true });
  });

  it('version 1 as before; an inventory is not part of it', () => {
    expect(parseAgentMessage(hello(1), false, undefined, 1)).toEqual({ ok: true, message: JSON.parse(hello(1)) as unknown });
    expect(parseAgentMessage(hello(1, { hardware }), false, undefined, 1)).toMatchObject({ ok: false, code: CloseCode.badMessage });
    expect(parseAgentMessage(JSON.stringify({ type: 'specs', specs, hardware }), false, undefined, 1)).toMatchObject({ ok: false });
    expect(parseAgentMessage(JSON.stringify({ type: 'specs', specs, hardware }), false, undefined, 2)).toMatchObject({ ok: true });
  });

  it('a hello must name the version of its session', () => {
    expect(parseAgentMessage(hello(1), false, undefined, 2)).toMatchObject({ ok: false, reason: 'invalid protocol_version' });
    expect(parseAgentMessage(hello(2), false, undefined, 1)).toMatchObject({ ok: false, reason: 'invalid protocol_version' });
  });

  it('8 × H100 with 7 MIG devices each fits the message limit', () => {
    const mig = Array.from({ length: 7 }, (_, i) => ({ profile: '1g.10gb', uuid: `MIG-4a6f1c2e-8d3b-5e7a-9f0c-1b2d3e4f5a6${i}`, memory_mib: 9856 }));
    const big = { ...hardware, gpus: hardware.gpus.map((g) => ({ ...g, mig_mode: 'enabled', mig_devices: mig })) };
    expect(parseAgentMessage(hello(2, { hardware: big }))).toMatchObject({ ok: true });
  });
});

describe('an inventory over its bounds is a bad message', () => {
  const withHardware = (h: unknown) => parseAgentMessage(hello(2, { hardware: h }));
  it.each([
    ['too many GPUs', { ...hardware, gpus: Array.from({ length: HARDWARE_LIMITS.maxGpus + 1 }, () => ({ ...gpu, model: null, uuid: null, driver_version: null })) }, 'invalid hardware.gpus'],
    ['a model too long', { ...hardware, gpus: [{ ...gpu, model: 'x'.repeat(HARDWARE_LIMITS.maxTextLength + 1) }] }, 'invalid hardware.gpus.0.model'],
    ['a control character', { ...hardware, host: { ...hardware.host, kernel: '5.15\u001b[2J' } }, 'invalid hardware.host.kernel'],
    ['an unknown field', { ...hardware, host: { ...hardware.host, serial: 'x' } }, 'invalid hardware.host'],
    ['memory as text', { ...hardware, gpus: [{ ...gpu, memory_mib: '81559' }] }, 'invalid hardware.gpus.0.memory_mib'],
    ['too many MIG devices', { ...hardware, gpus: [{ ...gpu, mig_mode: 'enabled', mig_devices: Array(HARDWARE_LIMITS.maxMigDevices + 1).fill({ profile: null, uuid: null, memory_mib: null }) }] }, 'invalid hardware.gpus.0.mig_devices'],
    ['a MIG mode of its own', { ...hardware, gpus: [{ ...gpu, mig_mode: 'maybe' }] }, 'invalid hardware.gpus.0.mig_mode'],
  ])('%s', (_what, h, reason) => {
    expect(withHardware(h)).toEqual({ ok: false, code: CloseCode.badMessage, reason });
  });

  it('more than maxBytes in all, each string within its own bound', () => {
    const long = 'm'.repeat(HARDWARE_LIMITS.maxTextLength);
    const h = { ...hardware, gpus: Array.from({ length: 60 }, () => ({ ...gpu, model: long, uuid: 'u'.repeat(64) })) };
    expect(Buffer.byteLength(JSON.stringify(h))).toBeGreaterThan(HARDWARE_LIMITS.maxBytes);
    // A larger message limit, so that the inventory's own bound is what refuses it.
    expect(parseAgentMessage(hello(2, { hardware: h }), false, 1_000_000)).toMatchObject({ ok: false, code: CloseCode.badMessage, reason: 'invalid hardware' });
  });
});
