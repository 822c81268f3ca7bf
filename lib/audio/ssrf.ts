/**
 * Which addresses a URL may be fetched from: public unicast only, unless ALLOW_PRIVATE_URLS=1.
 * Checked on the resolved addresses at connect time (the http `lookup` hook), so a name that
 * resolves differently later (DNS rebinding) or a redirect cannot reach an internal address.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { WhisperServeError } from '../errors.js';

const blocked = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16],
  ['172.16.0.0', 12], ['192.0.0.0', 24], ['192.0.2.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15],
  ['198.51.100.0', 24], ['203.0.113.0', 24], ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const) blocked.addSubnet(net, prefix, 'ipv4');
for (const [net, prefix] of [
  ['::', 128], ['::1', 128], ['fc00::', 7], ['fe80::', 10], ['ff00::', 8], ['64:ff9b::', 96], ['2001:db8::', 32], ['100::', 64],
] as const) blocked.addSubnet(net, prefix, 'ipv6');

// Cloud metadata endpoints hand out credentials: never a source of audio, so refused even
// with ALLOW_PRIVATE_URLS=1 (AWS/GCP/Azure/OpenStack, AWS IPv6, Alibaba).
const METADATA = new Set(['169.254.169.254', 'fd00:ec2::254', '100.100.100.200']);

export function isMetadataAddress(address: string): boolean {
  return METADATA.has(address.toLowerCase().replace(/^::ffff:/, ''));
}

function refused(address: string): boolean {
  return isMetadataAddress(address) || (!privateUrlsAllowed() && isBlockedAddress(address));
}

export function privateUrlsAllowed(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.ALLOW_PRIVATE_URLS === '1' || env.ALLOW_PRIVATE_URLS === 'true';
}

/** True for loopback, private, link-local (incl. cloud metadata 169.254.169.254), CGNAT, multicast, reserved. */
export function isBlockedAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return blocked.check(address, 'ipv4');
  if (family === 6) {
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
    if (mapped) return blocked.check(mapped[1]!, 'ipv4');
    return blocked.check(address, 'ipv6');
  }
  return true;
}

/** A dns.lookup replacement for http.request that refuses blocked addresses. */
export const guardedLookup: LookupFunction = (hostname, options, callback) => {
  dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
    if (err) return callback(err, '', 0);
    const list = (addresses as unknown as LookupAddress[]).filter((a) => !refused(a.address));
    if (list.length === 0) {
      return callback(new WhisperServeError('URL_BLOCKED', `${hostname} resolves only to private or reserved addresses`) as unknown as NodeJS.ErrnoException, '', 0);
    }
    if ((options as { all?: boolean }).all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, list);
    callback(null, list[0]!.address, list[0]!.family);
  });
};

/** Refuses literal blocked IPs and non-http(s) schemes before any connection. */
export function checkUrl(url: URL): void {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new WhisperServeError('URL_BLOCKED', `only http and https URLs can be fetched, not ${url.protocol}`);
  }
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (isIP(host) && refused(host)) {
    throw new WhisperServeError('URL_BLOCKED', isMetadataAddress(host) ? `${host} is a cloud metadata address` : `${host} is a private or reserved address (set ALLOW_PRIVATE_URLS=1 to allow)`);
  }
}

export function redactUrl(url: URL | string): string {
  const u = new URL(String(url));
  return `${u.protocol}//${u.host}${u.pathname}${u.search ? '?…' : ''}`;
}
