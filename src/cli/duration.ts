const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** Parses `90s`, `30m`, `24h`, `7d`, `1h30m` into milliseconds; null when malformed or zero. */
export function parseDuration(text: string): number | null {
  const re = /(\d+)(ms|s|m|h|d|w)/gy;
  let total = 0;
  let consumed = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    total += Number(m[1]) * (UNIT_MS[m[2] ?? ''] ?? 0);
    consumed = re.lastIndex;
  }
  if (consumed !== text.length || text.length === 0 || total <= 0 || !Number.isSafeInteger(total)) return null;
  return total;
}
