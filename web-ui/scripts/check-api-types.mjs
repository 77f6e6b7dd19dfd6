// Fails when src/api/schema.d.ts is not what openapi-typescript generates from the checked-in
// OpenAPI document, so the dashboard cannot silently drift from the API. Fix: `npm run gen:api`.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dir = mkdtempSync(join(tmpdir(), 'larder-api-types-'));
const fresh = join(dir, 'schema.d.ts');
try {
  execFileSync('npx', ['openapi-typescript', '../openapi/openapi.json', '-o', fresh], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const checkedIn = readFileSync('src/api/schema.d.ts', 'utf8');
  if (readFileSync(fresh, 'utf8') !== checkedIn) {
    console.error('src/api/schema.d.ts is out of date with openapi/openapi.json: run `npm run gen:api`.');
    process.exit(1);
  }
  console.log('API types match openapi/openapi.json');
} finally {
  rmSync(dir, { recursive: true, force: true });
}
