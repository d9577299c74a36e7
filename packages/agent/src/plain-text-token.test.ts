import { describe, expect, it } from 'vitest';
import { isLoopbackHost, plainTextTokenUrls } from './plain-text-token.js';

describe('plain-text token warning', () => {
  it('names ws:// URLs of other hosts only', () => {
    expect(
      plainTextTokenUrls(['ws://10.0.0.1:8080/agent', 'wss://master:8443/agent', 'ws://127.0.0.1:8080/agent', 'ws://[::1]:8080/agent', 'ws://localhost:8080/agent', 'ws://master.example/agent']),
    ).toEqual(['ws://10.0.0.1:8080/agent', 'ws://master.example/agent']);
  });

  it('knows the loopback forms', () => {
    for (const host of ['localhost', '127.0.0.1', '127.9.9.9', '::1', '[::1]', 'a.localhost']) expect(isLoopbackHost(host), host).toBe(true);
    for (const host of ['10.0.0.1', 'master', '::2', '128.0.0.1', 'localhost.example']) expect(isLoopbackHost(host), host).toBe(false);
  });
});
