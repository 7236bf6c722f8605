/** Seedable randomness for the chaos workload: a run is replayable from its seed. */
import type { ProfileFields } from '../../shared/profile/schemas.js';

export { mulberry32 } from '../../local/seedData.js';

/** Zipf(s) over ranks 0..n-1 by inverse CDF (binary search): rank 0 is the most popular. */
export function zipfSampler(n: number, s: number, random: () => number): () => number {
  const cdf = new Float64Array(n);
  let total = 0;
  for (let k = 0; k < n; k++) {
    total += 1 / (k + 1) ** s;
    cdf[k] = total;
  }
  return () => {
    const target = random() * total;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cdf[mid]! < target) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

const FAMILIES = [
  'Mbarga',
  'Ngo Bassa',
  'Fotso',
  'Abena',
  'Nji',
  'Ewane',
  'Tchamba',
  'Bello',
  'Manga',
  'Ekane',
];
const FIRSTS = ['Jean-Pierre', 'Aïssatou', 'Brice', 'Solange', 'Hamadou', 'Clarisse', 'Serge', 'Mireille'];
const MINISTRIES = ['MINFOP', 'MINSANTE', 'MINEDUB', 'MINFI', 'MINESEC', 'MINJUSTICE', 'MINDEF'];

/** Valid `ProfileFields`, different at every call (a counter in the name keeps updates distinguishable). */
export function fieldPool(random: () => number): () => ProfileFields {
  let n = 0;
  const pick = <T>(items: readonly T[]) => items[Math.floor(random() * items.length)]!;
  return () => {
    n++;
    const letters = 'ABCDEFGHJKLMNPRSTVWXYZ';
    return {
      fullName: `${pick(FAMILIES)} ${pick(FIRSTS)} ${n}`,
      avatar: random() < 0.1 ? '' : `https://avatars.ngomna.cm/chaos-${n}.jpg`,
      matricule: `${100000 + Math.floor(random() * 900000)}-${letters[Math.floor(random() * letters.length)]}`,
      ministere: pick(MINISTRIES),
    };
  };
}
