/**
 * Which addresses a URL may be fetched from. Every address, literal or resolved, is first
 * reduced to what it really reaches: IPv6 forms that carry an IPv4 address (IPv4-mapped,
 * IPv4-compatible, SIIT, NAT64, 6to4, Teredo) are judged by that IPv4 address as well, since a
 * host or a translator on the path will deliver them there. Then:
 * - link-local and cloud metadata addresses are refused always (they hand out credentials);
 * - other non-public addresses (loopback, private, CGNAT, unique-local, reserved, multicast)
 *   are refused unless ALLOW_PRIVATE_URLS allows them (`1` = all, or a list of CIDRs);
 * - public unicast passes.
 * Literals are checked before connecting (`checkUrl`, on every redirect hop), names at connect
 * time (`guardedLookup`, the http `lookup` hook), so DNS rebinding cannot slip past. The policy
 * is the caller's (its ALLOW_PRIVATE_URLS, read by a shell); none given, none are allowed.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import type { LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';
import { DEFAULTS, type PrivateUrlPolicy } from '../config.js';
import { WhisperServeError } from '../errors.js';

type Address = ipaddr.IPv4 | ipaddr.IPv6;
export type AddressClass = 'public' | 'private' | 'metadata';

// Link-local (AWS, GCP, Azure, OpenStack and Oracle metadata, ECS task credentials), Alibaba's
// metadata, AWS's IPv6 metadata and IPv6 link-local.
const METADATA: Array<[Address, number]> = ['169.254.0.0/16', '100.100.100.200/32', 'fd00:ec2::254/128', 'fe80::/10'].map((c) => ipaddr.parseCIDR(c));

const NAT64_WELL_KNOWN = ipaddr.IPv6.parse('64:ff9b::');

function inAny(addr: Address, ranges: Array<[Address, number]>): boolean {
  return ranges.some(([net, bits]) => net.kind() === addr.kind() && addr.match(net, bits));
}

function v4FromBits(bytes: number[], at: number): ipaddr.IPv4 {
  return new ipaddr.IPv4(bytes.slice(at, at + 4));
}

/** The IPv4 addresses an IPv6 address delivers to, by the transition mechanisms that embed one. */
function embeddedV4(a: ipaddr.IPv6): ipaddr.IPv4[] {
  const b = a.toByteArray();
  const zeros = (from: number, to: number) => b.slice(from, to).every((x) => x === 0);
  const range = a.range();
  if (range === 'ipv4Mapped' || range === 'rfc6145') return [v4FromBits(b, 12)];
  // NAT64's well-known prefix 64:ff9b::/96 (the local-use 64:ff9b:1::/48 stays private: site-specific).
  if (range === 'rfc6052' && a.match(NAT64_WELL_KNOWN, 96)) return [v4FromBits(b, 12)];
  if (zeros(0, 12) && !zeros(12, 14)) return [v4FromBits(b, 12)]; // IPv4-compatible ::a.b.c.d (not :: or ::1)
  if (range === '6to4') return [v4FromBits(b, 2)];
  // Teredo: the server's address, and the client's stored inverted in the last 32 bits.
  if (range === 'teredo') return [v4FromBits(b, 4), new ipaddr.IPv4(b.slice(12, 16).map((x) => x ^ 0xff))];
  return [];
}

function classifyOne(a: Address): AddressClass {
  if (inAny(a, METADATA)) return 'metadata';
  return a.range() === 'unicast' ? 'public' : 'private';
}

/** What an address really reaches: the worst class among itself and the IPv4 addresses it embeds. */
export function classifyAddress(address: string): AddressClass {
  let a: Address;
  try {
    a = ipaddr.parse(address.replace(/^\[|\]$/g, '').replace(/%.*$/, ''));
  } catch {
    return 'private'; // not an address: never let it through as one
  }
  const reached: Address[] = [a, ...(a.kind() === 'ipv6' ? embeddedV4(a as ipaddr.IPv6) : [])];
  const classes = reached.map(classifyOne);
  // 6to4 and Teredo prefixes are themselves "special", so only their embedded IPv4 decides.
  const own = classes[0]!;
  const judged = a.kind() === 'ipv6' && reached.length > 1 && own === 'private' ? classes.slice(1) : classes;
  if (judged.includes('metadata')) return 'metadata';
  return judged.includes('private') ? 'private' : 'public';
}

/** True for everything but public unicast (after unwrapping embedded IPv4). */
export function isBlockedAddress(address: string): boolean {
  return classifyAddress(address) !== 'public';
}

function allowedPrivately(address: string, policy: PrivateUrlPolicy): boolean {
  if (policy === 'all') return true;
  if (policy === 'none') return false;
  const a = ipaddr.process(address.replace(/^\[|\]$/g, ''));
  return inAny(a, policy.map((c) => (c.includes('/') ? ipaddr.parseCIDR(c) : [ipaddr.process(c), ipaddr.process(c).kind() === 'ipv4' ? 32 : 128])));
}

/** Why an address is refused, or undefined when it may be fetched from. */
export function refusal(address: string, policy: PrivateUrlPolicy = DEFAULTS.allowPrivateUrls): string | undefined {
  const cls = classifyAddress(address);
  if (cls === 'metadata') return `${address} is a link-local or cloud metadata address (refused whatever ALLOW_PRIVATE_URLS says)`;
  if (cls === 'private' && !allowedPrivately(address, policy)) return `${address} is a private or reserved address (set ALLOW_PRIVATE_URLS to allow)`;
  return undefined;
}

/** A dns.lookup replacement for http.request that refuses blocked addresses. */
export const guardedLookup = (policy: PrivateUrlPolicy = DEFAULTS.allowPrivateUrls): LookupFunction => (hostname, options, callback) => {
  dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
    if (err) return callback(err, '', 0);
    const list = (addresses as unknown as LookupAddress[]).filter((a) => refusal(a.address, policy) === undefined);
    if (list.length === 0) {
      return callback(new WhisperServeError('URL_BLOCKED', `${hostname} resolves only to private, reserved or metadata addresses`) as unknown as NodeJS.ErrnoException, '', 0);
    }
    if ((options as { all?: boolean }).all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, list);
    callback(null, list[0]!.address, list[0]!.family);
  });
};

/** Refuses non-http(s) schemes and literal addresses that may not be reached, before any connection. */
export function checkUrl(url: URL, policy: PrivateUrlPolicy = DEFAULTS.allowPrivateUrls): void {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new WhisperServeError('URL_BLOCKED', `only http and https URLs can be fetched, not ${url.protocol}`);
  }
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (!ipaddr.isValid(host)) return; // a name: judged on what it resolves to, at connect time
  const why = refusal(host, policy);
  if (why) throw new WhisperServeError('URL_BLOCKED', why);
}

export function redactUrl(url: URL | string): string {
  const u = new URL(String(url));
  return `${u.protocol}//${u.host}${u.pathname}${u.search ? '?…' : ''}`;
}
