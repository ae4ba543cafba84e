/**
 * Address matching for the hostInCidr / notHostInCidr operators: parses IPv4 and IPv6 CIDRs, bare
 * addresses and host names once, and answers "is this client in one of them" per session without
 * allocating. Written here rather than with net.BlockList so that the rules are plain, testable
 * and identical in the compiled evaluator and in json-rules-engine: IPv4-mapped IPv6 clients
 * (::ffff:10.1.2.3, what a dual-stack mongod reports) match IPv4 CIDRs, and host names match
 * exactly, case-insensitively.
 */

/** An IPv6 address as four 32-bit words, most significant first. */
type Ipv6 = [number, number, number, number];

interface Ipv4Block { base: number; mask: number }
interface Ipv6Block { base: Ipv6; mask: Ipv6 }

export interface HostPatterns {
  v4: Ipv4Block[];
  v6: Ipv6Block[];
  names: Set<string>;
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
const HOSTNAME = /^(?=.{1,253}\.?$)[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*\.?$/i;

export function parseIpv4(text: string): number | null {
  const m = IPV4.exec(text);
  if (!m) return null;
  let value = 0;
  for (let i = 1; i <= 4; i++) {
    const part = m[i]!;
    // "010" is octal to some parsers and decimal to others: refuse rather than guess.
    if (part.length > 1 && part.startsWith('0')) return null;
    const octet = Number(part);
    if (octet > 255) return null;
    value = value * 256 + octet;
  }
  return value >>> 0;
}

export function parseIpv6(text: string): Ipv6 | null {
  const zone = text.indexOf('%');
  const address = zone >= 0 ? text.slice(0, zone) : text;
  if (address.length < 2 || !/^[0-9a-f:.]+$/i.test(address)) return null;
  const halves = address.split('::');
  if (halves.length > 2) return null;
  const head = halves[0] ? halves[0].split(':') : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(':') : [];
  const groups: number[] = [];
  const pushGroups = (parts: string[], isLastPart: boolean): boolean => {
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!;
      if (isLastPart && i === parts.length - 1 && part.includes('.')) {
        const v4 = parseIpv4(part);
        if (v4 === null) return false;
        groups.push(v4 >>> 16, v4 & 0xffff);
      } else {
        if (!/^[0-9a-f]{1,4}$/i.test(part)) return false;
        groups.push(parseInt(part, 16));
      }
    }
    return true;
  };
  if (!pushGroups(head, halves.length === 1)) return null;
  const headCount = groups.length;
  if (!pushGroups(tail, true)) return null;
  if (halves.length === 1) {
    if (groups.length !== 8) return null;
  } else {
    if (groups.length > 7) return null;
    groups.splice(headCount, 0, ...new Array<number>(8 - groups.length).fill(0));
  }
  return [
    ((groups[0]! << 16) | groups[1]!) >>> 0,
    ((groups[2]! << 16) | groups[3]!) >>> 0,
    ((groups[4]! << 16) | groups[5]!) >>> 0,
    ((groups[6]! << 16) | groups[7]!) >>> 0,
  ];
}

function ipv4Mask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

function ipv6Mask(prefix: number): Ipv6 {
  const mask: Ipv6 = [0, 0, 0, 0];
  for (let word = 0; word < 4; word++) {
    const bits = Math.max(0, Math.min(32, prefix - word * 32));
    mask[word] = ipv4Mask(bits);
  }
  return mask;
}

/**
 * Adds one pattern ("10.0.0.0/8", "fd00::/8", "10.1.2.3", "app-1.internal") to `into`; returns an
 * error message, or null when the pattern is valid.
 */
export function addHostPattern(into: HostPatterns, pattern: string): string | null {
  const slash = pattern.indexOf('/');
  const address = slash >= 0 ? pattern.slice(0, slash) : pattern;
  const prefixText = slash >= 0 ? pattern.slice(slash + 1) : null;
  if (prefixText !== null && !/^\d{1,3}$/.test(prefixText)) {
    return `"${pattern}" has an invalid prefix length "${prefixText}"`;
  }
  const v4 = parseIpv4(address);
  if (v4 !== null) {
    const prefix = prefixText === null ? 32 : Number(prefixText);
    if (prefix > 32) return `"${pattern}": an IPv4 prefix length is at most 32`;
    const mask = ipv4Mask(prefix);
    // Host bits set ("10.1.2.3/8") are masked off: the intent, a /8 around that address, is clear.
    into.v4.push({ base: (v4 & mask) >>> 0, mask });
    return null;
  }
  const v6 = parseIpv6(address);
  if (v6 !== null) {
    const prefix = prefixText === null ? 128 : Number(prefixText);
    if (prefix > 128) return `"${pattern}": an IPv6 prefix length is at most 128`;
    const mask = ipv6Mask(prefix);
    into.v6.push({ base: v6.map((w, i) => (w & mask[i]!) >>> 0) as Ipv6, mask });
    return null;
  }
  if (/^[\d.]+$/.test(address)) {
    // Digits and dots only: meant as an IPv4 address, not as a (numeric) host name.
    return `"${pattern}" is not a valid IPv4 address (four octets 0-255, no leading zeros)`;
  }
  if (prefixText === null && HOSTNAME.test(pattern)) {
    into.names.add(normaliseName(pattern));
    return null;
  }
  return `"${pattern}" is neither an IPv4/IPv6 address or CIDR (e.g. "10.0.0.0/8", "fd00::/8") nor a host name`;
}

function normaliseName(name: string): string {
  const lower = name.toLowerCase();
  return lower.endsWith('.') ? lower.slice(0, -1) : lower;
}

/**
 * The host part of a client address: "10.1.2.3:51234" -> "10.1.2.3", "[fd00::1]:51234" -> "fd00::1",
 * "fd00::1" (several colons, no brackets) -> itself, "app-1:51234" -> "app-1".
 */
export function hostOf(client: string): string {
  if (client.startsWith('[')) {
    const close = client.indexOf(']');
    return close > 0 ? client.slice(1, close) : client;
  }
  const colon = client.indexOf(':');
  if (colon >= 0 && client.indexOf(':', colon + 1) < 0) return client.slice(0, colon);
  return client;
}

export function hostMatches(patterns: HostPatterns, client: string): boolean {
  const host = hostOf(client);
  if (host === '') return false;
  const v4 = parseIpv4(host);
  if (v4 !== null) return matchesV4(patterns, v4);
  const v6 = parseIpv6(host);
  if (v6 !== null) {
    // ::ffff:a.b.c.d is an IPv4 client seen through a dual-stack socket.
    if (v6[0] === 0 && v6[1] === 0 && v6[2] === 0xffff && matchesV4(patterns, v6[3])) return true;
    for (const block of patterns.v6) {
      if (
        ((v6[0] & block.mask[0]) >>> 0) === block.base[0] &&
        ((v6[1] & block.mask[1]) >>> 0) === block.base[1] &&
        ((v6[2] & block.mask[2]) >>> 0) === block.base[2] &&
        ((v6[3] & block.mask[3]) >>> 0) === block.base[3]
      ) return true;
    }
    return false;
  }
  return patterns.names.has(normaliseName(host));
}

function matchesV4(patterns: HostPatterns, address: number): boolean {
  for (const block of patterns.v4) if (((address & block.mask) >>> 0) === block.base) return true;
  return false;
}

export function emptyHostPatterns(): HostPatterns {
  return { v4: [], v6: [], names: new Set() };
}
