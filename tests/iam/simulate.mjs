// Evaluates AWS requests against IAM policies with @cloud-copilot/iam-simulate (identity and resource policies,
// every condition operator, KMS key-policy trust). Reads a JSON array of simulations on stdin and writes, for each,
// {decision, identityAllows: [Sid...], resourceAllows: [Sid...], errors} on stdout.
import { runSimulation } from '@cloud-copilot/iam-simulate'

const chunks = []
for await (const chunk of process.stdin) chunks.push(chunk)
const simulations = JSON.parse(Buffer.concat(chunks).toString('utf8'))

const sids = (analysis) => (analysis?.allowStatements ?? []).map((s) => s.statement?.Sid ?? s.statement?.sid?.() ?? null)
const out = []
for (const sim of simulations) {
  const full = { identityPolicies: [], serviceControlPolicies: [], resourceControlPolicies: [], ...sim }
  const r = await runSimulation(full, {})
  const analysis = r.result?.analysis
  out.push({
    decision: r.overallResult ?? analysis?.result ?? null,
    identityAllows: sids(analysis?.identityAnalysis),
    resourceAllows: sids(analysis?.resourceAnalysis),
    errors: r.errors ?? r.result?.errors ?? null,
  })
}
process.stdout.write(JSON.stringify(out))
