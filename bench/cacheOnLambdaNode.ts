/**
 * The cache section on the Lambda's Node: `runCacheBenchOnLambdaNode` (cacheBench.ts) starts this file
 * with the Node 24 binary and `--import tsx`; it prints its tables, then its result as the last line.
 */
import { runCacheBench } from './cacheBench.js';

const result = await runCacheBench({ scale: Number(process.argv[2] ?? 1) });
process.stdout.write(`\n${JSON.stringify(result)}\n`);
process.exit(0);
