// The SSRF guard: every address form is reduced to what it reaches before it is judged, on the
// first URL and on every redirect hop. Only loopback is ever connected to: the hostile origin
// listens on 127.0.0.2 (the one address ALLOW_PRIVATE_URLS lets through), a canary on 127.0.0.1
// counts connections that the guard should have prevented. Metadata forms are only judged
// (checkUrl), never fetched.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readConfig, type PrivateUrlPolicy } from '../lib/config.js';
import { checkUrl, classifyAddress } from '../lib/net/ssrf.js';
import { loadAudio } from '../lib/audio/source.js';
import { listen, type Loopback } from './helpers/loopback.js';

const METADATA_FORMS = [
  'http://169.254.169.254/latest/meta-data/',
  'http://[::ffff:169.254.169.254]/',
  'http://[::ffff:a9fe:a9fe]/',
  'http://[::169.254.169.254]/', // IPv4-compatible
  'http://[2002:a9fe:a9fe::]/', // 6to4
  'http://[64:ff9b::a9fe:a9fe]/', // NAT64
  'http://[::ffff:100.100.100.200]/', // Alibaba
  'http://[fd00:ec2::254]/', // AWS IPv6
  'http://169.254.170.2/v2/credentials', // ECS task role
  'http://[fe80::a9fe:a9fe]/',
  'http://0xa9.0xfe.0xa9.0xfe/',
  'http://2852039166/',
];

// Each reaches 127.0.0.1 (or another non-public address).
const PRIVATE_FORMS = [
  'http://127.0.0.1/', 'http://127.1/', 'http://2130706433/', 'http://0x7f000001/', 'http://0177.0.0.1/',
  'http://[::1]/', 'http://[::ffff:127.0.0.1]/', 'http://[::ffff:7f00:1]/', 'http://[::127.0.0.1]/', 'http://[::ffff:0:7f00:1]/',
  'http://[2002:7f00:1::]/', 'http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/', 'http://[64:ff9b::7f00:1]/', 'http://[64:ff9b:1::a00:1]/',
  'http://10.0.0.1/', 'http://172.16.5.4/', 'http://192.168.1.1/', 'http://100.64.0.1/', 'http://0.0.0.0/', 'http://[::]/',
  'http://[fd12::1]/', 'http://224.0.0.1/', 'http://255.255.255.255/', 'http://198.18.0.1/',
];

const PUBLIC_FORMS = ['http://8.8.8.8/', 'http://[2606:4700::1111]/', 'http://[::ffff:8.8.8.8]/', 'http://[64:ff9b::808:808]/', 'http://[2002:808:808::]/'];

// ALLOW_PRIVATE_URLS as a shell reads it (lib/config.ts), passed down as the servers do.
const allowing = (value: string): PrivateUrlPolicy => readConfig({ ALLOW_PRIVATE_URLS: value }).allowPrivateUrls;

const refusedBy = (url: string, policy: PrivateUrlPolicy = 'none'): string | undefined => {
  try {
    checkUrl(new URL(url), policy);
    return undefined;
  } catch (err) {
    return (err as { code: string }).code;
  }
};

describe('SSRF guard: address forms', () => {
  it.each(METADATA_FORMS)('refuses %s even with ALLOW_PRIVATE_URLS=1', (url) => {
    expect(refusedBy(url)).toBe('URL_BLOCKED');
    expect(refusedBy(url, allowing('1'))).toBe('URL_BLOCKED');
    expect(classifyAddress(new URL(url).hostname)).toBe('metadata');
  });

  it.each(PRIVATE_FORMS)('refuses %s unless ALLOW_PRIVATE_URLS allows it', (url) => {
    expect(refusedBy(url)).toBe('URL_BLOCKED');
    expect(refusedBy(url, allowing('1'))).toBeUndefined();
  });

  it.each(PUBLIC_FORMS)('lets %s through', (url) => {
    expect(refusedBy(url)).toBeUndefined();
  });

  it('refuses schemes other than http(s), and takes a CIDR list for ALLOW_PRIVATE_URLS', () => {
    for (const url of ['file:///etc/passwd', 'ftp://8.8.8.8/a.mp3', 'gopher://8.8.8.8/', 'data:audio/wav;base64,AAAA']) expect(refusedBy(url)).toBe('URL_BLOCKED');
    const some = allowing('10.0.0.0/8, 127.0.0.2');
    expect(refusedBy('http://10.9.8.7/', some)).toBeUndefined();
    expect(refusedBy('http://127.0.0.2/', some)).toBeUndefined();
    expect(refusedBy('http://127.0.0.1/', some)).toBe('URL_BLOCKED');
    expect(refusedBy('http://192.168.0.1/', some)).toBe('URL_BLOCKED');
    expect(refusedBy('http://169.254.169.254/', some)).toBe('URL_BLOCKED');
  });
});

describe('SSRF guard: redirects and names, against loopback servers only', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ws-ssrf-'));
  const tempRoot = join(dir, 'jobs');
  const privateUrls = allowing('127.0.0.2');
  let origin: Loopback;
  let canary: Loopback;
  let connections = 0;

  beforeAll(async () => {
    canary = await listen((_req, res) => res.end('secret'));
    canary.server.on('connection', () => connections++);
    origin = await listen((req, res) => {
      const to = new URL(req.url ?? '/', 'http://x').searchParams.get('to') ?? '';
      res.writeHead(302, { location: to.replace('PORT', String(canary.port)) }).end();
    }, '127.0.0.2');
  });
  afterAll(async () => {
    await origin?.close();
    await canary?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const hops = ['http://127.0.0.1:PORT/', 'http://[::ffff:7f00:1]:PORT/', 'http://[::ffff:127.0.0.1]:PORT/', 'http://[::127.0.0.1]:PORT/', 'http://2130706433:PORT/', 'http://localhost:PORT/', 'file:///etc/passwd'];

  it.each(hops)('refuses a redirect to %s without connecting to it', async (to) => {
    const before = connections;
    await expect(loadAudio(`${origin.url}/a.wav?to=${encodeURIComponent(to)}`, { tempRoot, privateUrls })).rejects.toMatchObject({ code: 'URL_BLOCKED' });
    expect(connections).toBe(before);
  });

  it('refuses a name that resolves to loopback without connecting', async () => {
    await expect(loadAudio(`http://localhost:${canary.port}/a.wav`, { tempRoot, privateUrls })).rejects.toMatchObject({ code: 'URL_BLOCKED', message: /resolves only to private/ });
    expect(connections).toBe(0);
    expect(readdirSync(tempRoot)).toEqual([]);
  });
});
