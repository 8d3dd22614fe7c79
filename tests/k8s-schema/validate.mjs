// Checks Kubernetes objects against the schemas of kubernetes-models (the Kubernetes OpenAPI
// schema) and @kubernetes-models/prometheus-operator (the prometheus-operator CRDs' schemas).
// Input on stdin: a JSON array of {source, object}. Output: one line per problem; exit 1 if any.
import { readFileSync } from "node:fs";

const items = JSON.parse(readFileSync(0, "utf8"));
const problems = [];

function modulePath(apiVersion, kind) {
  if (apiVersion === "monitoring.coreos.com/v1" || apiVersion === "monitoring.coreos.com/v1alpha1") {
    return `@kubernetes-models/prometheus-operator/${apiVersion}/${kind}`;
  }
  // Core group objects live under v1/, the others under <group>/<version>/.
  return `kubernetes-models/${apiVersion}/${kind}`;
}

for (const { source, object } of items) {
  const where = `${source}: ${object?.kind ?? "?"} ${object?.metadata?.name ?? "?"}`;
  if (typeof object?.apiVersion !== "string" || typeof object?.kind !== "string") {
    problems.push(`${where}: apiVersion and kind are required`);
    continue;
  }

  let model;
  try {
    model = (await import(modulePath(object.apiVersion, object.kind)))[object.kind];
  } catch {
    model = undefined;
  }
  if (typeof model !== "function") {
    problems.push(`${where}: no schema for ${object.apiVersion} ${object.kind}`);
    continue;
  }

  try {
    new model(object).validate();
  } catch (e) {
    const details = (e.errors ?? []).map((x) => `${x.instancePath || "/"} ${x.message}`).join("; ");
    problems.push(`${where}: ${details || e.message}`);
  }
}

for (const p of problems) console.log(p);
console.log(`checked ${items.length} objects, ${problems.length} problems`);
process.exit(problems.length === 0 ? 0 : 1);
