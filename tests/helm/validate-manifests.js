#!/usr/bin/env node
// Checks the output of `helm template` against the Kubernetes, KEDA and prometheus-operator
// schemas (npm kubernetes-models), one object at a time, and reports every object that fails
// rather than the first.
//
//   node validate-manifests.js --models DIR [--expect KIND,KIND...] [--config-out FILE] RENDERED
//
// --models      folder holding node_modules with the packages of tests/helm/package-lock.json
//               (scripts/install-helm puts them in its cache folder)
// --expect      the kinds the render must hold, no more and no fewer (repeats count:
//               ScaledObject,ScaledObject means two)
// --config-out  write the ConfigMap's triggerd.yaml there, for `triggerd validate`
//
// Written for Node 18 and later, CommonJS, no dependencies beyond the pinned ones.
'use strict';

const fs = require('fs');
const path = require('path');
const { createRequire } = require('module');

function usage(message) {
  process.stderr.write(`validate-manifests: ${message}\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const args = { models: '', expect: null, configOut: '', file: '' };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) usage(`${arg} needs a value`);
      return argv[++i];
    };
    if (arg === '--models') args.models = value();
    else if (arg === '--expect') args.expect = value().split(',').filter((k) => k !== '');
    else if (arg === '--config-out') args.configOut = value();
    else if (arg.startsWith('--')) usage(`unknown option ${arg}`);
    else if (args.file) usage('one rendered file only');
    else args.file = arg;
  }
  if (!args.models) usage('--models DIR is required');
  if (!args.file) usage('the rendered file is required');
  return args;
}

const args = parseArgs(process.argv.slice(2));
const load = createRequire(path.join(path.resolve(args.models), 'package.json'));
const YAML = load('yaml');

// apiVersion -> kind -> model class. A kind the chart starts to render must be added here,
// or the test fails: nothing goes out unchecked.
const models = {
  v1: pick(load('kubernetes-models/v1'), ['ConfigMap', 'Pod', 'Service', 'ServiceAccount']),
  'apps/v1': pick(load('kubernetes-models/apps/v1'), ['Deployment']),
  'policy/v1': pick(load('kubernetes-models/policy/v1'), ['PodDisruptionBudget']),
  'monitoring.coreos.com/v1': pick(
    load('@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1'),
    ['ServiceMonitor', 'PrometheusRule']),
  'keda.sh/v1alpha1': pick(load('@kubernetes-models/keda/keda.sh/v1alpha1'), ['ScaledObject']),
};

function pick(module, kinds) {
  const out = {};
  for (const kind of kinds) {
    if (typeof module[kind] !== 'function') throw new Error(`the models have no ${kind}`);
    out[kind] = module[kind];
  }
  return out;
}

const text = fs.readFileSync(args.file, 'utf8');
const failures = [];
const kinds = [];
let configText = null;

YAML.parseAllDocuments(text).forEach((doc, index) => {
  if (doc.errors.length > 0) {
    failures.push(`document ${index + 1}: not YAML: ${doc.errors[0].message}`);
    return;
  }
  const object = doc.toJS();
  if (object === null || object === undefined) return;  // an empty document between ---
  const name = `${object.kind || '?'}/${(object.metadata && object.metadata.name) || '?'}`;
  const byKind = models[object.apiVersion];
  const Model = byKind && byKind[object.kind];
  if (!Model) {
    failures.push(`${name}: no schema for ${object.apiVersion} ${object.kind}`);
    return;
  }
  kinds.push(object.kind);
  try {
    new Model(object).validate();
  } catch (error) {
    failures.push(`${name}: ${error.message}`);
    return;
  }
  if (object.kind === 'ConfigMap' && object.data && 'triggerd.yaml' in object.data) {
    configText = object.data['triggerd.yaml'];
  }
  process.stdout.write(`ok   ${object.apiVersion} ${name}\n`);
});

if (args.expect) {
  const want = args.expect.slice().sort().join(',');
  const got = kinds.slice().sort().join(',');
  if (want !== got) failures.push(`kinds rendered: ${got || 'none'}; expected: ${want}`);
}
if (args.configOut) {
  if (configText === null) failures.push('no ConfigMap with triggerd.yaml was rendered');
  else fs.writeFileSync(args.configOut, configText);
}

for (const failure of failures) process.stdout.write(`FAIL ${failure}\n`);
process.exit(failures.length === 0 ? 0 : 1);
