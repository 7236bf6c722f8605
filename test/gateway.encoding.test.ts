import fc from 'fast-check';
import { ErrorReply } from 'redis';
import { describe, expect, it } from 'vitest';
import {
  encodeError,
  encodeResult,
  keepsNumberLiterals,
  parseBatch,
  parseSingle,
} from '../local/gateway/protocol.js';

/** What a reply tree must read as once its JSON is parsed: Buffers decoded as UTF-8 (or base64). */
function expected(value: unknown, base64: boolean): unknown {
  if (Buffer.isBuffer(value)) return base64 ? value.toString('base64') : value.toString('utf8');
  if (typeof value === 'string') return base64 ? Buffer.from(value).toString('base64') : value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (value === null || value === undefined) return null;
  if (Array.isArray(value)) return value.map((v) => expected(v, base64));
  if (value instanceof ErrorReply) return value.message;
  return String(value);
}

/** RESP2 reply trees as node-redis hands them to the gateway (blob strings as Buffers). */
const reply: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  leaf: fc.oneof(
    fc.uint8Array({ maxLength: 24 }).map((b) => Buffer.from(b)),
    fc.string({ unit: 'binary', maxLength: 24 }).map((s) => Buffer.from(s, 'utf8')),
    fc.string({ unit: 'binary', maxLength: 12 }),
    fc.integer(),
    fc.constantFrom(null, Number.NaN, Number.POSITIVE_INFINITY),
    fc.string({ maxLength: 12 }).map((m) => new ErrorReply(m)),
  ),
  node: fc.oneof({ depthSize: 'small' }, tie('leaf'), fc.array(tie('node'), { maxLength: 6 })),
})).node;

describe('Gateway wire encoding (local/gateway/protocol.ts, no Redis)', () => {
  describe('encodeResult()', () => {
    it('writes every reply tree as JSON that parses back to its decoded text (property)', () => {
      fc.assert(
        fc.property(reply, fc.boolean(), (value, base64) => {
          const parsed = JSON.parse(encodeResult(value, base64)) as { result: unknown };
          const want = value === 'OK' ? 'OK' : expected(value, base64);
          expect(parsed).toEqual({ result: want });
        }),
        { numRuns: 500 },
      );
    });

    it('writes a batch of HGETALL replies exactly as Upstash words it, escapes included', () => {
      const fields = (i: number) =>
        ['fullName', `Ngono Ébénézer ${i}`, 'quote', 'a"b\\c\u2028', 'version', '1'].map((s) =>
          Buffer.from(s),
        );

      const text = encodeResult([fields(0), fields(1)], false);

      expect(text).toBe(
        '{"result":[["fullName","Ngono Ébénézer 0","quote","a\\"b\\\\c\u2028","version","1"],' +
          '["fullName","Ngono Ébénézer 1","quote","a\\"b\\\\c\u2028","version","1"]]}',
      );
    });

    it('keeps a leading byte-order mark and turns invalid UTF-8 into U+FFFD in text mode', () => {
      const bom = Buffer.from([0xef, 0xbb, 0xbf, 0x41]);
      const invalid = Buffer.from([0x41, 0xff, 0x42]);

      expect(JSON.parse(encodeResult([bom, invalid], false))).toEqual({ result: ['\uFEFFA', 'A\uFFFDB'] });
    });

    it('answers integers as numbers, nil and non-finite numbers as null, a top-level OK unencoded', () => {
      expect(encodeResult(5, true)).toBe('{"result":5}');
      expect(encodeResult(null, false)).toBe('{"result":null}');
      expect(encodeResult(undefined, false)).toBe('{"result":null}');
      expect(encodeResult([Number.NaN, 3], false)).toBe('{"result":[null,3]}');
      expect(encodeResult('OK', true)).toBe('{"result":"OK"}');
      expect(encodeResult(['OK'], true)).toBe(`{"result":["${Buffer.from('OK').toString('base64')}"]}`);
    });

    it('writes an error nested in a script reply as its text, never encoded', () => {
      expect(encodeResult([new ErrorReply('ERR inner'), Buffer.from('x')], true)).toBe(
        `{"result":["ERR inner","${Buffer.from('x').toString('base64')}"]}`,
      );
      expect(encodeError('ERR "quoted"')).toBe('{"error":"ERR \\"quoted\\""}');
    });
  });

  describe('parseBatch() and parseSingle()', () => {
    it('turn numbers and booleans into their text, in a pipeline as in a single command', () => {
      const batch = parseBatch('[["HGETALL","k"],["SET","n",1.50],["SET","b",true]]');

      expect(batch).toEqual([
        ['HGETALL', 'k'],
        ['SET', 'n', keepsNumberLiterals ? '1.50' : '1.5'],
        ['SET', 'b', 'true'],
      ]);
      expect(parseSingle('["INCRBY","k",10]')).toEqual(['INCRBY', 'k', '10']);
    });

    it('keep strings that look like numbers as sent', () => {
      expect(parseBatch('[["SET","k","1.50"],["SET","j","007"]]')).toEqual([
        ['SET', 'k', '1.50'],
        ['SET', 'j', '007'],
      ]);
    });
  });
});
